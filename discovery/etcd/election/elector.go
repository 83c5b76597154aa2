package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrRunning is returned by a second call of Run.
var ErrRunning = errors.New("election: Run called twice")

// Elector takes part in the election of one group's leader for one replica: see the package
// doc. Create it with New, start Run once, feed it Report, and follow Changes.
type Elector struct {
	cfg     Config
	cli     *clientv3.Client
	keys    keys
	log     *slog.Logger
	wake    chan struct{} // capacity 1: Report or Resign asks Run to look again
	running atomic.Bool

	// mu guards what callers see, and the held leadership the keepalive goroutine fences.
	// It is the only lock; no I/O happens under it.
	mu        sync.Mutex
	want      report           // the latest Report
	leader    *Leader          // as last observed; nil: none, or unknown since a Deposed
	held      *held            // this replica's leadership, nil when it holds none
	fenced    clientv3.LeaseID // the lease this Elector gave up (no leadership under it counts)
	live      clientv3.LeaseID // the session's lease, valid by the local clock until liveUntil
	liveUntil time.Time
	resigned  int64 // the epoch Resign gave up
	events    events
}

// report is what Report asked to publish.
type report struct{ maxOffset, epoch int64 }

// held is a leadership this replica holds, and the lease it holds it under.
type held struct {
	Leader
	lease clientv3.LeaseID
}

// New returns an Elector for cfg; it does no I/O.
func New(cfg Config) (*Elector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Elector{
		cfg:    cfg,
		cli:    cfg.Client,
		keys:   newKeys(cfg.Prefix, cfg.Group),
		log:    cfg.Logger.With("group", cfg.Group, "broker_id", cfg.BrokerID),
		wake:   make(chan struct{}, 1),
		events: newEvents(),
	}, nil
}

// Report sets this replica's state: the end of its log and the epoch of the last leadership
// its data comes from. It does not block; Run writes the latest value (see the package doc for
// when). Call it before Run with the store's state, so that the first report is right.
func (e *Elector) Report(maxOffset, epoch int64) {
	e.mu.Lock()
	e.want = report{maxOffset: maxOffset, epoch: epoch}
	e.mu.Unlock()
	e.poke()
}

// Leader returns the group's leader as last observed (this replica when it holds the
// leadership); ok is false when the group has none, or none known since this replica was
// deposed.
func (e *Elector) Leader() (Leader, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leader == nil {
		return Leader{}, false
	}
	return *e.leader, true
}

// Changes returns the channel of leadership events (see the package doc). It holds 16 events,
// never blocks the Elector, never loses an EventElected or EventDeposed, and is closed when
// Run returns.
func (e *Elector) Changes() <-chan Event { return e.events.ch }

// Resign gives up this replica's leadership, if it holds one: it emits EventDeposed, then
// deletes the leader key if it is still this leadership's. The group then elects again by the
// usual rule, which may elect this replica again (with a new epoch) if it is still the best
// candidate; end Run to leave the group. If the delete fails, Run retries it.
func (e *Elector) Resign(ctx context.Context) error {
	e.mu.Lock()
	h := e.held
	if h == nil {
		e.mu.Unlock()
		return nil
	}
	e.resigned = h.Epoch
	e.deposeLocked("resigned")
	e.mu.Unlock()
	defer e.poke()
	_, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(e.keys.leader()), "=", h.Epoch)).
		Then(clientv3.OpDelete(e.keys.leader())).
		Commit()
	if err != nil {
		return fmt.Errorf("election: resign %s epoch %d: %w", e.cfg.Group, h.Epoch, err)
	}
	return nil
}

// poke asks Run to look again.
func (e *Elector) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// observe turns the leader key as seen under lease (the session's) into events. It reports
// whether the key is stale: this replica's id, but not a leadership it may hold (an earlier
// lease or process, or resigned); Run deletes such a key.
func (e *Elector) observe(l *leaderKV, lease clientv3.LeaseID) (stale bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case l == nil:
		e.deposeLocked("leader key deleted")
		if e.leader != nil {
			e.emitLocked(Event{Kind: EventNoLeader, Leader: *e.leader})
			e.leader = nil
		}
		return false
	case l.BrokerID == e.cfg.BrokerID:
		if l.lease == lease && e.validLocked(lease) && l.Epoch != e.resigned {
			if e.held != nil && e.held.Epoch == l.Epoch {
				return false
			}
			e.deposeLocked("leader key replaced")
			e.held = &held{Leader: l.Leader, lease: lease}
			leader := l.Leader
			e.leader = &leader
			e.log.Info("elected leader", "epoch", l.Epoch)
			e.emitLocked(Event{Kind: EventElected, Leader: l.Leader})
			return false
		}
		e.deposeLocked("leader key stale")
		if e.leader != nil {
			e.emitLocked(Event{Kind: EventNoLeader, Leader: *e.leader})
			e.leader = nil
		}
		return true
	}
	e.deposeLocked("leader key replaced")
	if e.leader == nil || *e.leader != l.Leader {
		leader := l.Leader
		e.leader = &leader
		e.emitLocked(Event{Kind: EventLeader, Leader: leader})
	}
	return false
}

// renew records that lease is valid by the local clock until until (the keepalive's fence
// time).
func (e *Elector) renew(lease clientv3.LeaseID, until time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.live, e.liveUntil = lease, until
}

// validLocked reports whether a leadership under lease may count now: lease is the session's,
// not fenced, and before its fence time. e.mu is held.
func (e *Elector) validLocked(lease clientv3.LeaseID) bool {
	return lease == e.live && lease != e.fenced && time.Now().Before(e.liveUntil)
}

// fence gives up lease: no leadership under it counts from now on, and a leadership held
// under it is deposed. The keepalive calls it when the lease is lost or may expire soon, and
// Run when the session ends.
func (e *Elector) fence(lease clientv3.LeaseID, why string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fenced = lease
	if e.held != nil && e.held.lease == lease {
		e.deposeLocked(why)
	}
}

// canCampaign reports whether Run may campaign under lease now: the lease is not fenced, and
// the event channel has room for what a leadership emits.
func (e *Elector) canCampaign(lease clientv3.LeaseID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.validLocked(lease) {
		return false
	}
	if e.events.free() < campaignRoom {
		e.log.Warn("not campaigning: the events are not being read")
		return false
	}
	return true
}

// deposeLocked ends the held leadership, if any, with EventDeposed. e.mu is held.
func (e *Elector) deposeLocked(why string) {
	if e.held == nil {
		return
	}
	h := e.held
	e.held, e.leader = nil, nil
	e.log.Warn("deposed", "epoch", h.Epoch, "reason", why)
	e.emitLocked(Event{Kind: EventDeposed, Leader: h.Leader})
}

func (e *Elector) emitLocked(ev Event) {
	if !e.events.emit(ev) && !e.events.closed {
		e.log.Error("event lost", "kind", ev.Kind, "epoch", ev.Leader.Epoch)
	}
}

// wanted returns the latest Report.
func (e *Elector) wanted() report {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.want
}

// closeEvents closes the Changes channel (Run's end).
func (e *Elector) closeEvents() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events.close()
}
