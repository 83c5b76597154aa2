package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ternmq/tern/core/ha"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/store"
)

// Broker roles (brokerRole), RocketMQ's names.
const (
	RoleAsyncMaster = "ASYNC_MASTER" // acknowledges a send once it is in the local CommitLog
	RoleSyncMaster  = "SYNC_MASTER"  // acknowledges a send once a slave has it too
	RoleSlave       = "SLAVE"        // replicates its master; takes no sends
)

// ElectionEventKind is what an Election reports.
type ElectionEventKind int

// Election events.
const (
	// Elected: this broker won; Epoch is its fencing token.
	Elected ElectionEventKind = iota + 1
	// LeaderIs: another broker leads; the event names it.
	LeaderIs
	// Deposed: this broker led and lost the leadership; it must stop taking writes at once.
	Deposed
	// NoLeader: the group has no leader at the moment.
	NoLeader
)

// ElectionEvent is a change of a broker group's leadership.
type ElectionEvent struct {
	Kind ElectionEventKind
	// The leader: its remoting and HA addresses and its epoch (Elected, LeaderIs).
	Address, HAAddress string
	Epoch              int64
}

// Election elects the master of the broker's group (Config.Election; cmd/tern adapts
// discovery/etcd/election to it). Report tells it how far this replica's CommitLog reaches, so
// that the most up-to-date replica wins.
type Election interface {
	// Run takes part in the election as the replica at these remoting and HA addresses until
	// ctx ends.
	Run(ctx context.Context, address, haAddress string) error
	Report(maxOffset, epoch int64)
	Events() <-chan ElectionEvent
}

// replica is the broker's place in its master/slave group: its role, the HA port and the
// replication service of that role. Roles change one way inside a process: a slave may become
// the master (when elected); a master that loses its election fences itself (see
// Broker.Fenced), and comes back as a slave in a broker started after it.
type replica struct {
	ln     net.Listener // the HA port
	epochs *ha.Epochs

	writable atomic.Bool  // the broker takes writes: a master that is not fenced
	master   atomic.Bool  // the broker acts as the master (registers as id 0)
	sync     bool         // SYNC_MASTER when master
	epoch    atomic.Int64 // the epoch the broker leads or follows

	mu         sync.Mutex
	haMaster   atomic.Pointer[ha.Master] // set once, when the broker becomes the master
	slave      *ha.Slave
	slaveStop  context.CancelFunc
	slaveDone  chan struct{}
	masterHA   string // the master's HA address, as the registration or the election says
	masterAddr string // the master's remoting address (metadata sync)

	fenced     chan struct{} // closed when a leader is deposed
	fenceOnce  sync.Once
	memoryCap  int64 // accessMessageInMemoryMaxRatio of the machine's memory, in bytes
	syncClient *remoting.Client
}

// clockSkew bounds how far the clocks of a group's replicas may disagree: a promoted slave checks
// the timers due up to this long after its promotion against the index before firing them.
const clockSkew = 10 * time.Second

// errNotMaster is the remark of a write sent to a slave or a fenced master.
var errNotMaster = errors.New("the broker is not its group's master: send to the master")

// notWritable is the error of a write the broker refuses: it is a slave or a fenced master.
func (b *Broker) notWritable() error {
	return fmt.Errorf("%w: %s (broker %s id %d): %w", remoting.ErrServiceNotAvailable, b.cfg.BrokerName, b.cfg.BrokerAddr, b.cfg.BrokerID, errNotMaster)
}

// openReplica listens on the HA port. It runs before the store opens.
func openReplica(cfg *Config) (*replica, error) {
	r := &replica{fenced: make(chan struct{}), sync: cfg.BrokerRole == RoleSyncMaster}
	if cfg.HAListenAddr != "off" {
		ln, err := net.Listen("tcp", cfg.HAListenAddr)
		if err != nil && cfg.haListenDerived {
			// The listen port + 1 is taken (by a client socket, say): any port will do.
			host, _, _ := net.SplitHostPort(cfg.HAListenAddr)
			ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
		}
		if err != nil {
			return nil, fmt.Errorf("broker: listen %s (haListenAddr): %w", cfg.HAListenAddr, err)
		}
		r.ln = ln
	}
	r.memoryCap = int64(float64(totalMemory()) * float64(cfg.AccessMessageInMemoryMaxRatio) / 100)
	if w := cfg.Store.CommitLogCacheWindow; w > 0 && w < r.memoryCap {
		r.memoryCap = w // older log is evicted from the page cache
	}
	if cfg.Election == nil && cfg.BrokerRole != RoleSlave {
		// A static master is one from the start (Start adds its HA port and services).
		r.master.Store(true)
		r.writable.Store(true)
	}
	return r, nil
}

// haAddr is the HA address the broker advertises: the broker address's IP and the HA port.
func (b *Broker) haAddr() string {
	if b.rep.ln == nil {
		return ""
	}
	port := b.rep.ln.Addr().(*net.TCPAddr).Port
	return netip.AddrPortFrom(b.cfg.Store.StoreHost.Addr(), uint16(port)).String()
}

// HAAddr returns the address of the broker's HA port ("" with haListenAddr off).
func (b *Broker) HAAddr() string { return b.haAddr() }

// registeredID is the broker id the broker registers under: 0 while it is the master.
func (b *Broker) registeredID() int64 {
	if b.rep.master.Load() {
		return 0
	}
	return b.cfg.BrokerID
}

// registeredEpoch is the epoch the broker registers with: an elected master's (a registry
// refuses a master whose epoch is below the one it holds), 0 otherwise.
func (b *Broker) registeredEpoch() int64 {
	if b.cfg.Election == nil || !b.rep.master.Load() {
		return 0
	}
	return b.rep.epoch.Load()
}

// IsMaster reports whether the broker currently acts as its group's master.
func (b *Broker) IsMaster() bool { return b.rep.master.Load() }

// Fenced is closed when the broker, a master, lost its election or met a newer epoch: it
// refuses writes from then on and should be closed; a broker of the same configuration started
// after it rejoins the group as a slave (cmd/tern does so in-process for an elected group).
func (b *Broker) Fenced() <-chan struct{} { return b.rep.fenced }

// startReplica starts the role's services: the HA master for a master, the HA slave and the
// metadata sync for a slave, the election for an elected group.
func (b *Broker) startReplica() {
	switch {
	case b.cfg.Election != nil:
		b.startSlave()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.electionLoop()
		}()
	case b.cfg.BrokerRole == RoleSlave:
		b.rep.mu.Lock()
		b.rep.masterHA = b.cfg.HAMasterAddress
		b.rep.mu.Unlock()
		b.startSlave()
	default:
		b.becomeMaster(b.rep.epochs.Last().Epoch)
	}
}

// startMasterServices starts what only a master runs: the delay levels, the timer and the
// transaction checks (each of them writes).
func (b *Broker) startMasterServices() {
	b.levels.Start()
	b.timer.Start()
	b.tx.Start()
}

// becomeMaster makes the broker its group's master at epoch.
func (b *Broker) becomeMaster(epoch int64) {
	r := b.rep
	r.mu.Lock()
	if r.slaveStop != nil {
		r.slaveStop()
		done := r.slaveDone
		r.mu.Unlock()
		<-done
		r.mu.Lock()
		r.slave, r.slaveStop, r.slaveDone = nil, nil, nil
	}
	if epoch > r.epochs.Last().Epoch {
		if err := r.epochs.Begin(epoch, b.store.CommitLogMaxOffset()); err != nil {
			b.log.Error("record the new epoch failed", "epoch", epoch, "err", err)
		}
	}
	r.epoch.Store(epoch)
	if r.ln != nil {
		m := ha.NewMaster(ha.MasterOptions{
			Log: b.store, Epochs: r.epochs, Listener: r.ln, BrokerName: b.cfg.BrokerName,
			MaxGapNotInSync: b.cfg.HAMaxGapNotInSync, Logger: b.log.With("component", "ha"),
			Deposed: func(e int64) {
				b.log.Error("a replica has a newer epoch: this master is deposed", "epoch", epoch, "newer", e)
				b.fence()
			},
		})
		r.haMaster.Store(m)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if err := m.Serve(); err != nil && !errors.Is(err, net.ErrClosed) {
				b.log.Error("HA port stopped", "err", err)
			}
		}()
	}
	r.masterHA, r.masterAddr = "", ""
	r.mu.Unlock()
	if b.cfg.Election != nil { // elected: it was a slave until now
		// The old master may have fired any timer due until now (give or take its clock).
		b.timer.CheckFiredUntil(b.now().Add(clockSkew).UnixMilli())
	}
	r.master.Store(true)
	r.writable.Store(true)
	b.startMasterServices()
	b.log.Info("broker is the master", "broker_name", b.cfg.BrokerName, "role", b.cfg.BrokerRole, "epoch", epoch,
		"max_offset", b.store.CommitLogMaxOffset(), "ha_addr", b.haAddr())
	b.registerSoon()
}

// fence stops the broker taking writes, for good: it lost its leadership.
func (b *Broker) fence() {
	b.rep.writable.Store(false)
	b.rep.fenceOnce.Do(func() { close(b.rep.fenced) })
}

// startSlave replicates from the master the registration or the election names.
func (b *Broker) startSlave() {
	r := b.rep
	ctx, cancel := context.WithCancel(context.Background())
	r.mu.Lock()
	r.slave = ha.NewSlave(ha.SlaveOptions{
		Log: b.store, Epochs: r.epochs, BrokerName: b.cfg.BrokerName, BrokerID: b.cfg.BrokerID,
		MasterHAAddr: func() string {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.masterHA
		},
		Logger: b.log.With("component", "ha"),
	})
	r.slaveStop, r.slaveDone = cancel, make(chan struct{})
	s, done := r.slave, r.slaveDone
	r.mu.Unlock()
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.slaveLoop(ctx)
	}()
	b.log.Info("broker is a slave", "broker_name", b.cfg.BrokerName, "broker_id", b.cfg.BrokerID, "max_offset", b.store.CommitLogMaxOffset())
}

// slaveLoop keeps a slave's copy of the master's topics, consumer offsets and delay-level
// progress (every slaveSyncInterval), and registers every second until it knows its master.
func (b *Broker) slaveLoop(ctx context.Context) {
	t := time.NewTicker(min(time.Second, b.cfg.SlaveSyncInterval.D()))
	defer t.Stop()
	var lastSync time.Time
	failing := false // a master that is down is reported once, not every tick
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.stop:
			return
		case <-t.C:
		}
		b.rep.mu.Lock()
		known, addr := b.rep.masterHA != "", b.rep.masterAddr
		b.rep.mu.Unlock()
		if !known && b.cfg.Election == nil {
			rctx, cancel := context.WithTimeout(ctx, registerTimeout)
			b.registerAll(rctx)
			cancel()
		}
		if addr != "" && time.Since(lastSync) >= b.cfg.SlaveSyncInterval.D() {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			switch err := b.syncFromMaster(sctx, addr); {
			case err != nil && !failing:
				b.log.Warn("sync metadata from the master failed; retrying quietly", "master", addr, "err", err)
				failing = true
			case err != nil:
				b.log.Debug("sync metadata from the master failed", "master", addr, "err", err)
			default:
				if failing {
					b.log.Info("sync metadata from the master works again", "master", addr)
				}
				lastSync, failing = time.Now(), false
			}
			cancel()
		}
	}
}

// learnMaster records a slave's master, as a registration answered it.
func (b *Broker) learnMaster(addr, haAddr string) {
	if b.rep.master.Load() || b.cfg.Election != nil {
		return
	}
	r := b.rep
	r.mu.Lock()
	defer r.mu.Unlock()
	if b.cfg.HAMasterAddress == "" && haAddr != "" {
		r.masterHA = haAddr
	}
	if addr != "" {
		r.masterAddr = addr
	}
}

// electionLoop follows the election: it reports the CommitLog's end every second and acts on
// the leadership's changes.
func (b *Broker) electionLoop() {
	el := b.cfg.Election
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- el.Run(ctx, b.cfg.BrokerAddr, b.haAddr()) }()
	report := func() { el.Report(b.store.CommitLogMaxOffset(), b.rep.epochs.Last().Epoch) }
	report()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			cancel()
			<-runDone
			return
		case err := <-runDone:
			if err != nil && ctx.Err() == nil {
				b.log.Error("election stopped", "err", err)
				b.fence()
			}
			return
		case <-t.C:
			report()
		case ev := <-el.Events():
			b.onElection(ev)
		}
	}
}

// onElection acts on one leadership change.
func (b *Broker) onElection(ev ElectionEvent) {
	switch ev.Kind {
	case Elected:
		if !b.rep.master.Load() {
			b.becomeMaster(ev.Epoch)
		}
	case Deposed:
		if b.rep.master.Load() {
			b.log.Error("lost the election: refusing writes", "epoch", b.rep.epoch.Load())
			b.fence()
		}
	case LeaderIs:
		if b.rep.master.Load() {
			if ev.Epoch != b.rep.epoch.Load() {
				b.log.Error("another broker leads the group: refusing writes", "leader", ev.Address, "epoch", ev.Epoch)
				b.fence()
			}
			return
		}
		b.rep.mu.Lock()
		b.rep.masterHA, b.rep.masterAddr = ev.HAAddress, ev.Address
		b.rep.mu.Unlock()
		b.rep.epoch.Store(ev.Epoch)
		b.log.Info("following the group's master", "master", ev.Address, "ha_addr", ev.HAAddress, "epoch", ev.Epoch)
	case NoLeader:
		if !b.rep.master.Load() {
			b.rep.mu.Lock()
			b.rep.masterHA, b.rep.masterAddr = "", ""
			b.rep.mu.Unlock()
		}
	}
}

// closeReplica stops the replication services and the HA port.
func (b *Broker) closeReplica() {
	r := b.rep
	r.mu.Lock()
	stop, done, m := r.slaveStop, r.slaveDone, r.haMaster.Load()
	r.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	if m != nil {
		m.Close()
	} else if r.ln != nil {
		r.ln.Close()
	}
}

// closeSyncClient closes the slave's metadata client; the broker's goroutines have ended.
func (b *Broker) closeSyncClient() {
	if c := b.rep.syncClient; c != nil {
		c.Close()
	}
}

// writer is the store as the broker's write paths see it: it refuses writes on a broker that is
// not the master, and with SYNC_MASTER acknowledges only what a slave has too. Sends, retries,
// the delay levels, the timer and transactions all write through it.
type writer struct {
	*store.Store
	b *Broker
}

// Errors of a write that reached the CommitLog but not a slave in time (SYNC_MASTER).
var (
	errFlushSlaveTimeout = fmt.Errorf("%w: no slave acknowledged the write in time", remoting.ErrFlushSlaveTimeout)
	errSlaveNotAvailable = fmt.Errorf("%w: no slave is in sync", remoting.ErrSlaveNotAvailable)
)

// PutMessage stores one record (see PutMessages).
func (w writer) PutMessage(ctx context.Context, r *message.Record) (store.PutResult, error) {
	return w.PutMessages(ctx, []*message.Record{r})
}

// PutMessages appends records when the broker is the master, then, with SYNC_MASTER, waits
// until a slave has them or syncFlushTimeout passes. The result is valid (the records are
// stored) with store.ErrFlushTimeout, errFlushSlaveTimeout and errSlaveNotAvailable.
func (w writer) PutMessages(ctx context.Context, recs []*message.Record) (store.PutResult, error) {
	r := w.b.rep
	if !r.writable.Load() {
		return store.PutResult{}, w.b.notWritable()
	}
	res, err := w.Store.PutMessages(ctx, recs)
	if (err != nil && !errors.Is(err, store.ErrFlushTimeout)) || !r.sync {
		return res, err
	}
	m := r.haMaster.Load()
	if m == nil {
		return res, errSlaveNotAvailable
	}
	end := res.PhysicalOffset + int64(res.Bytes)
	if m.ConfirmOffset() >= end {
		return res, err // a slave already has it: no timer needed
	}
	wctx, cancel := context.WithTimeout(ctx, w.b.cfg.Store.SyncFlushTimeout.D())
	defer cancel()
	switch rerr := m.WaitReplicated(wctx, end); {
	case rerr == nil:
		return res, err
	case errors.Is(rerr, ha.ErrNoReplica):
		return res, errSlaveNotAvailable
	case errors.Is(rerr, ha.ErrFenced):
		w.b.fence()
		return res, fmt.Errorf("%w: %w", remoting.ErrServiceNotAvailable, rerr)
	default:
		return res, errFlushSlaveTimeout
	}
}

// answersLater reports whether PutMessagesThen leaves its callback to the store's flusher:
// with SYNC_FLUSH, on a master that needs no slave's acknowledgement (SYNC_MASTER waits).
func (w writer) answersLater() bool {
	return w.b.cfg.Store.FlushDiskType == store.SyncFlush && !w.b.rep.sync
}

// PutMessagesThen is PutMessages that calls done with the outcome instead of returning it. On
// a master that needs no slave's acknowledgement it does not wait for a synchronous flush:
// the store's flusher calls done after the flush (store.PutMessagesThen), so done must not
// block. Otherwise done is called before PutMessagesThen returns.
func (w writer) PutMessagesThen(ctx context.Context, recs []*message.Record, done func(store.PutResult, error)) {
	r := w.b.rep
	if !r.writable.Load() {
		done(store.PutResult{}, w.b.notWritable())
		return
	}
	if r.sync {
		done(w.PutMessages(ctx, recs))
		return
	}
	w.Store.PutMessagesThen(recs, done)
}

// stored reports whether a write error still leaves the records stored (the send result then
// carries its status code, as RocketMQ's FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT and
// SLAVE_NOT_AVAILABLE do).
func storedCode(err error) (remoting.Code, bool) {
	switch {
	case errors.Is(err, store.ErrFlushTimeout):
		return remoting.FlushDiskTimeout, true
	case errors.Is(err, errFlushSlaveTimeout):
		return remoting.FlushSlaveTimeout, true
	case errors.Is(err, errSlaveNotAvailable):
		return remoting.SlaveNotAvailable, true
	}
	return 0, false
}

// suggestBroker is a pull response's suggestWhichBrokerId (RocketMQ's rule). A master
// suggests a slave (whichBrokerWhenConsumeSlowly, 1) when the consumer is further behind than
// accessMessageInMemoryMaxRatio of the machine's memory (or than commitLogCacheWindow, if less),
// so that the master's page cache keeps serving the consumers that keep up. A slave suggests
// the master unless the consumer is that far behind, or its master is gone (it then keeps
// serving the consumer itself).
func (b *Broker) suggestBroker(lastPhy int64) int64 {
	if !b.cfg.SlaveReadEnable {
		return 0
	}
	behind := b.store.CommitLogMaxOffset()-lastPhy > b.rep.memoryCap
	if b.rep.master.Load() {
		if behind && b.hasSlave() {
			return 1
		}
		return 0
	}
	if behind || !b.masterConnected() {
		return b.cfg.BrokerID
	}
	return 0
}

// hasSlave reports whether a slave is connected to this master.
func (b *Broker) hasSlave() bool {
	m := b.rep.haMaster.Load()
	return m != nil && len(m.Status().Slaves) > 0
}

// masterConnected reports whether this slave is replicating from a master now.
func (b *Broker) masterConnected() bool {
	b.rep.mu.Lock()
	s := b.rep.slave
	b.rep.mu.Unlock()
	return s != nil && s.Status().Connected
}

// HAStatus is the broker's replication state (GET_BROKER_HA_STATUS, `tern admin replicas`).
// JSON names are the wire format: keep them.
type HAStatus struct {
	BrokerName string            `json:"brokerName"`
	BrokerID   int64             `json:"brokerId"` // the configured id
	Address    string            `json:"address"`
	HAAddress  string            `json:"haAddress"`
	Role       string            `json:"role"` // ASYNC_MASTER, SYNC_MASTER, SLAVE or FENCED
	Epoch      int64             `json:"epoch"`
	Epochs     []ha.Epoch        `json:"epochs"`
	MinOffset  int64             `json:"minOffset"`
	MaxOffset  int64             `json:"maxOffset"`
	Master     *ha.MasterStatus  `json:"master,omitempty"`
	Slave      *ha.SlaveStatus   `json:"slave,omitempty"`
	Elected    bool              `json:"elected"` // the role comes from an election
	Extra      map[string]string `json:"extra,omitempty"`
}

// InSyncSlaves counts the slaves a master reports in sync (0 for a slave).
func (s HAStatus) InSyncSlaves() int {
	if s.Master == nil {
		return 0
	}
	n := 0
	for _, sl := range s.Master.Slaves {
		if sl.InSync {
			n++
		}
	}
	return n
}

// HAStatus returns the broker's replication state.
func (b *Broker) HAStatus() HAStatus {
	r := b.rep
	// The master flag first: becomeMaster sets the epoch before it, so a master's status never
	// shows the epoch it followed before.
	master, writable := r.master.Load(), r.writable.Load()
	st := HAStatus{
		BrokerName: b.cfg.BrokerName, BrokerID: b.cfg.BrokerID, Address: b.cfg.BrokerAddr, HAAddress: b.haAddr(),
		Epoch: r.epoch.Load(), Epochs: r.epochs.All(), MinOffset: b.store.CommitLogMinOffset(), MaxOffset: b.store.CommitLogMaxOffset(),
		Elected: b.cfg.Election != nil,
	}
	r.mu.Lock()
	m, s := r.haMaster.Load(), r.slave
	r.mu.Unlock()
	switch {
	case master && !writable:
		st.Role = "FENCED"
	case master:
		st.Role = b.cfg.BrokerRole
	default:
		st.Role = RoleSlave
	}
	if m != nil && master {
		ms := m.Status()
		st.Master = &ms
	}
	if s != nil && !master {
		ss := s.Status()
		st.Slave = &ss
	}
	return st
}

// parseRole checks brokerRole.
func parseRole(s string) error {
	switch s {
	case RoleAsyncMaster, RoleSyncMaster, RoleSlave:
		return nil
	}
	return fmt.Errorf("brokerRole %q: want ASYNC_MASTER, SYNC_MASTER or SLAVE", s)
}

// defaultHAListenAddr is RocketMQ's haListenPort: the listen port + 1 (port 0 stays 0).
func defaultHAListenAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	p, err := strconv.Atoi(port)
	if err != nil || p == 0 {
		return net.JoinHostPort(host, "0")
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1))
}

// totalMemory is the machine's physical memory in bytes (RocketMQ's
// TOTAL_PHYSICAL_MEMORY_SIZE), or 8 GiB when it cannot be read.
func totalMemory() int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil || si.Totalram == 0 {
		return 8 << 30
	}
	return int64(si.Totalram) * int64(si.Unit)
}
