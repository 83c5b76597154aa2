package ha

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// SlaveOptions configures a Slave. Zero values of the tunables take their defaults.
type SlaveOptions struct {
	// Log is the slave's CommitLog (required).
	Log Log
	// Epochs is the slave's epoch history (required).
	Epochs *Epochs
	// BrokerName and BrokerID identify the slave to the master.
	BrokerName string
	BrokerID   int64
	// MasterHAAddr returns the master's HA address (required). It is called before each
	// connection attempt; "" means no master is known yet: wait and ask again.
	MasterHAAddr func() string
	// ReportInterval is how often the slave acks when nothing arrives (default 1 s).
	ReportInterval time.Duration
	// DialTimeout bounds a connection attempt (default 3 s).
	DialTimeout time.Duration
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// Default slave tunables.
const (
	DefaultReportInterval = time.Second
	DefaultDialTimeout    = 3 * time.Second

	minBackoff = 100 * time.Millisecond
	maxBackoff = 3 * time.Second
	// ackEvery bounds the bytes applied without an ack while frames keep arriving back to back.
	ackEvery = 256 << 10
)

// Validate reports missing dependencies and out-of-range tunables.
func (o SlaveOptions) Validate() error {
	var errs []error
	if o.Log == nil {
		errs = append(errs, errors.New("ha: SlaveOptions.Log is nil"))
	}
	if o.Epochs == nil {
		errs = append(errs, errors.New("ha: SlaveOptions.Epochs is nil"))
	}
	if o.MasterHAAddr == nil {
		errs = append(errs, errors.New("ha: SlaveOptions.MasterHAAddr is nil"))
	}
	if o.BrokerName == "" || len(o.BrokerName) > maxBrokerName {
		errs = append(errs, errors.New("ha: SlaveOptions.BrokerName must have 1 to 255 bytes"))
	}
	if o.BrokerID < 0 || o.ReportInterval < 0 || o.DialTimeout < 0 {
		errs = append(errs, errors.New("ha: negative BrokerID, ReportInterval or DialTimeout"))
	}
	return errors.Join(errs...)
}

// Slave follows a master: it connects to the master's HA port, truncates its log where it
// diverged, appends what the master streams and acks it.
type Slave struct {
	opts SlaveOptions
	log  *slog.Logger

	emptiedAt int64 // the log end left by the last emptying (Run's goroutine only)

	masterMax atomic.Int64 // from the last frame
	lastFrame atomic.Int64 // unix nanoseconds

	mu         sync.Mutex // guards the fields below
	masterAddr string
	connected  bool
	epoch      int64 // the master's, from its welcome
	lastErr    string
}

// NewSlave returns a Slave; Run runs it. It panics if opts.Validate fails: the options are the
// program's, not its input.
func NewSlave(opts SlaveOptions) *Slave {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	if opts.ReportInterval == 0 {
		opts.ReportInterval = DefaultReportInterval
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	s := &Slave{opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "ha_slave")
	return s
}

// Run follows the master until ctx ends: it connects, handshakes, truncates if diverged, applies
// frames and acks them, and after any failure reconnects with a backoff of 100 ms doubling to
// 3 s (back to 100 ms after a connection that got data). Every goroutine it starts has stopped
// when it returns.
func (s *Slave) Run(ctx context.Context) {
	backoff := minBackoff
	for ctx.Err() == nil {
		addr := s.opts.MasterHAAddr()
		if addr != "" {
			progressed, err := s.session(ctx, addr)
			s.mu.Lock()
			s.connected = false
			if err != nil && ctx.Err() == nil {
				s.lastErr = err.Error()
			}
			s.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("ha connection to master ended", "master", addr, "offset", s.opts.Log.CommitLogMaxOffset(), "err", err)
			if progressed {
				backoff = minBackoff
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// SlaveStatus describes a Slave.
type SlaveStatus struct {
	// MasterAddr is the master last dialled; Connected is set while a handshaken connection
	// runs.
	MasterAddr string `json:"masterAddr"`
	Connected  bool   `json:"connected"`
	// Epoch is the master's epoch from its last welcome.
	Epoch int64 `json:"epoch"`
	// MaxOffset is the slave's log end, MasterMaxOffset the master's as of LastFrame, Lag the
	// difference (never negative).
	MaxOffset       int64     `json:"maxOffset"`
	MasterMaxOffset int64     `json:"masterMaxOffset"`
	Lag             int64     `json:"lag"`
	LastFrame       time.Time `json:"lastFrame"`
	// LastError is why the last connection ended, or was refused.
	LastError string `json:"lastError,omitempty"`
}

// Status returns a snapshot of the slave.
func (s *Slave) Status() SlaveStatus {
	s.mu.Lock()
	st := SlaveStatus{MasterAddr: s.masterAddr, Connected: s.connected, Epoch: s.epoch, LastError: s.lastErr}
	s.mu.Unlock()
	st.MaxOffset = s.opts.Log.CommitLogMaxOffset()
	st.MasterMaxOffset = s.masterMax.Load()
	st.Lag = max(0, st.MasterMaxOffset-st.MaxOffset)
	if ns := s.lastFrame.Load(); ns != 0 {
		st.LastFrame = time.Unix(0, ns)
	}
	return st
}
