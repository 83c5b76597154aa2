package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// MasterOptions configures a Master. Zero values of the tunables take their defaults.
type MasterOptions struct {
	// Log is the master's CommitLog (required).
	Log Log
	// Epochs is the master's epoch history (required); the master's epoch is its last entry's.
	Epochs *Epochs
	// Listener is the HA port, already listening (required). Close closes it.
	Listener net.Listener
	// BrokerName is the broker's name; slaves of another name are refused.
	BrokerName string
	// MaxTransfer bounds the body of one data frame (default 1 MiB, at most MaxFrameBody).
	MaxTransfer int
	// MaxGapNotInSync (RocketMQ haMaxGapNotInSync, default 256 MiB): a slave whose last ack is
	// this far or further below the master's log end is not in sync.
	MaxGapNotInSync int64
	// HeartbeatInterval is how long the master stays silent before sending an empty frame
	// (default 1 s; RocketMQ's haSendHeartbeatInterval is 5 s).
	HeartbeatInterval time.Duration
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Deposed is called once, on a connection goroutine with no lock held, when a slave shows a
	// higher epoch than the master's: the master is fenced. It must not block nor call Close.
	Deposed func(epoch int64)
}

// Default master tunables.
const (
	DefaultMaxTransfer       = 1 << 20
	DefaultMaxGapNotInSync   = 256 << 20
	DefaultHeartbeatInterval = time.Second
)

// Validate reports missing dependencies and out-of-range tunables.
func (o MasterOptions) Validate() error {
	var errs []error
	if o.Log == nil {
		errs = append(errs, errors.New("ha: MasterOptions.Log is nil"))
	}
	if o.Epochs == nil {
		errs = append(errs, errors.New("ha: MasterOptions.Epochs is nil"))
	}
	if o.Listener == nil {
		errs = append(errs, errors.New("ha: MasterOptions.Listener is nil"))
	}
	if o.BrokerName == "" || len(o.BrokerName) > maxBrokerName {
		errs = append(errs, errors.New("ha: MasterOptions.BrokerName must have 1 to 255 bytes"))
	}
	if o.MaxTransfer < 0 || o.MaxTransfer > MaxFrameBody {
		errs = append(errs, fmt.Errorf("ha: MaxTransfer %d outside [0,%d]", o.MaxTransfer, MaxFrameBody))
	}
	if o.MaxGapNotInSync < 0 || o.HeartbeatInterval < 0 {
		errs = append(errs, errors.New("ha: negative MaxGapNotInSync or HeartbeatInterval"))
	}
	return errors.Join(errs...)
}

func (o *MasterOptions) fillDefaults() {
	if o.MaxTransfer == 0 {
		o.MaxTransfer = DefaultMaxTransfer
	}
	if o.MaxGapNotInSync == 0 {
		o.MaxGapNotInSync = DefaultMaxGapNotInSync
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
}

// Master serves the HA port: it streams its CommitLog to every slave that connects and tracks
// their acks for WaitReplicated. All methods are safe for concurrent use.
type Master struct {
	opts MasterOptions
	log  *slog.Logger

	ctx    context.Context // cancelled by Close; parent of every connection's
	cancel context.CancelFunc

	confirm  atomic.Int64  // highest offset any slave acked (monotonic)
	advances atomic.Uint64 // times confirm moved
	waiting  atomic.Int64  // WaitReplicated calls on the slow path
	fenced   atomic.Bool
	fencedBy atomic.Int64

	mu     sync.Mutex              // guards the fields below
	slaves map[*slaveConn]struct{} // open connections, handshaken or not
	ackCh  chan struct{}           // closed and replaced when confirm moves, on fencing and on Close
	closed bool

	wg        sync.WaitGroup // connection goroutines
	closeOnce sync.Once
	closeErr  error
}

// NewMaster returns a Master; Serve starts it. It panics if opts.Validate fails: the options are
// the program's, not its input.
func NewMaster(opts MasterOptions) *Master {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	opts.fillDefaults()
	m := &Master{
		opts:   opts,
		log:    opts.Logger,
		slaves: make(map[*slaveConn]struct{}),
		ackCh:  make(chan struct{}),
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.log = m.log.With("component", "ha_master")
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m
}

// Serve accepts slaves until Close and then returns nil. Other accept errors (out of file
// descriptors, say) are logged and retried after a pause of 5 ms doubling to 1 s, as net/http
// does; Serve returns an error only if the listener closes without Close.
func (m *Master) Serve() error {
	m.log.Info("ha master serving", "addr", m.opts.Listener.Addr().String(), "epoch", m.epoch())
	var pause time.Duration
	for {
		c, err := m.opts.Listener.Accept()
		if err != nil {
			if m.ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("ha: accept: %w", err)
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			m.log.Warn("ha accept failed", "err", err, "retry_in", pause)
			t := time.NewTimer(pause)
			select {
			case <-m.ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		pause = 0
		sc := newSlaveConn(m, c)
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			c.Close()
			return nil
		}
		m.slaves[sc] = struct{}{}
		m.wg.Add(1)
		m.mu.Unlock()
		go sc.run()
	}
}

// epoch is the master's current epoch.
func (m *Master) epoch() int64 { return m.opts.Epochs.Last().Epoch }

// WaitReplicated blocks until a slave acknowledged the CommitLog up to end. It returns
// ErrNoReplica at once when no slave is in sync, ErrReplicaTimeout when ctx ends first, ErrFenced
// once the master is deposed and ErrClosed after Close. When end is already acknowledged it costs
// one atomic load.
func (m *Master) WaitReplicated(ctx context.Context, end int64) error {
	if m.confirm.Load() >= end {
		return nil
	}
	return m.waitSlow(ctx, end)
}

func (m *Master) waitSlow(ctx context.Context, end int64) error {
	if err := m.state(); err != nil {
		return err
	}
	if !m.anyInSync() {
		return ErrNoReplica
	}
	m.waiting.Add(1)
	defer m.waiting.Add(-1)
	for {
		m.mu.Lock()
		ch := m.ackCh
		m.mu.Unlock()
		if m.confirm.Load() >= end {
			return nil
		}
		if err := m.state(); err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: acked %d of %d: %w", ErrReplicaTimeout, m.confirm.Load(), end, context.Cause(ctx))
		}
	}
}

// state returns ErrFenced or ErrClosed when the master can no longer replicate.
func (m *Master) state() error {
	if m.fenced.Load() {
		return ErrFenced
	}
	if m.ctx.Err() != nil {
		return ErrClosed
	}
	return nil
}

// anyInSync reports whether a handshaken slave acked within MaxGapNotInSync of the log end.
func (m *Master) anyInSync() bool {
	end := m.opts.Log.CommitLogMaxOffset()
	m.mu.Lock()
	defer m.mu.Unlock()
	for sc := range m.slaves {
		if sc.inSync(end) {
			return true
		}
	}
	return false
}

// advance records that a slave acked off and wakes the waiters if the confirm offset moved.
func (m *Master) advance(off int64) {
	for {
		cur := m.confirm.Load()
		if off <= cur {
			return
		}
		if m.confirm.CompareAndSwap(cur, off) {
			break
		}
	}
	m.advances.Add(1)
	// A waiter increments waiting before it loads the confirm offset, so when waiting reads 0
	// here every later waiter sees the new offset: no channel to replace.
	if m.waiting.Load() > 0 {
		m.broadcast()
	}
}

// broadcast wakes every WaitReplicated.
func (m *Master) broadcast() {
	m.mu.Lock()
	close(m.ackCh)
	m.ackCh = make(chan struct{})
	m.mu.Unlock()
}

// depose fences the master after a replica showed epoch: Deposed is called once, every slave
// connection closes and the waiters fail with ErrFenced.
func (m *Master) depose(epoch int64) {
	if !m.fenced.CompareAndSwap(false, true) {
		return
	}
	m.fencedBy.Store(epoch)
	m.log.Warn("ha master deposed: a replica has a higher epoch", "epoch", m.epoch(), "replica_epoch", epoch)
	m.mu.Lock()
	for sc := range m.slaves {
		sc.cancel()
	}
	m.mu.Unlock()
	m.broadcast()
	if m.opts.Deposed != nil {
		m.opts.Deposed(epoch)
	}
}

// ConfirmOffset is the highest CommitLog offset a slave has acknowledged since the Master
// started (RocketMQ's push2SlaveMaxOffset: the maximum over the slaves, not the minimum). It
// never decreases.
func (m *Master) ConfirmOffset() int64 { return m.confirm.Load() }

// MasterStatus describes a Master.
type MasterStatus struct {
	Epoch int64 `json:"epoch"`
	// Fenced is set once the master is deposed; FencedBy is the epoch that deposed it.
	Fenced   bool  `json:"fenced"`
	FencedBy int64 `json:"fencedBy"`
	// MaxOffset is the log end, ConfirmOffset the highest offset a slave acked.
	MaxOffset     int64 `json:"maxOffset"`
	ConfirmOffset int64 `json:"confirmOffset"`
	// AckAdvances counts the times ConfirmOffset moved: with group commit, far fewer than the
	// writes waiting on it.
	AckAdvances uint64      `json:"ackAdvances"`
	Slaves      []SlaveInfo `json:"slaves"`
}

// SlaveInfo describes one slave connection.
type SlaveInfo struct {
	Addr     string `json:"addr"`
	BrokerID int64  `json:"brokerId"`
	// Ready is set once the handshake is over and the transfer runs.
	Ready bool `json:"ready"`
	// AckedOffset is the slave's last reported log end; Lag is MaxOffset - AckedOffset.
	AckedOffset int64 `json:"ackedOffset"`
	Lag         int64 `json:"lag"`
	// SentOffset is where the master's next frame to it starts.
	SentOffset     int64     `json:"sentOffset"`
	InSync         bool      `json:"inSync"`
	ConnectedSince time.Time `json:"connectedSince"`
	LastAck        time.Time `json:"lastAck"`
}

// Status returns a snapshot of the master and its slaves.
func (m *Master) Status() MasterStatus {
	end := m.opts.Log.CommitLogMaxOffset()
	st := MasterStatus{
		Epoch: m.epoch(), Fenced: m.fenced.Load(), FencedBy: m.fencedBy.Load(),
		MaxOffset: end, ConfirmOffset: m.confirm.Load(), AckAdvances: m.advances.Load(),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for sc := range m.slaves {
		st.Slaves = append(st.Slaves, sc.info(end))
	}
	return st
}

// Close stops accepting, closes every slave connection and waits for their goroutines; pending
// WaitReplicated calls return ErrClosed. It closes the listener and is idempotent.
func (m *Master) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.cancel()
		if err := m.opts.Listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			m.closeErr = fmt.Errorf("ha: close listener: %w", err)
		}
		m.broadcast()
		m.wg.Wait()
		m.log.Info("ha master closed", "confirm_offset", m.confirm.Load())
	})
	return m.closeErr
}
