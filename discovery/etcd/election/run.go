package election

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// errLeaseLost ends a session: its lease is gone, or fenced.
var errLeaseLost = errors.New("election: lease lost")

// Backoff between sessions and between reads of a session, and the delay before a failed
// write, delete or campaign is tried again.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
	retryDelay = 250 * time.Millisecond
)

// session is one lease's worth of Run's state, owned by Run's goroutine.
type session struct {
	lease clientv3.LeaseID
	ttl   time.Duration // as granted
	view  *view
	stale bool // the leader key is a stale one of this replica's: delete it

	written   *report   // the report as last written under this lease; nil: none yet
	writtenAt time.Time // of written
	urgent    bool      // the group became leaderless: write a changed report at once

	reportRetry, deleteRetry, campaignRetry time.Time // not before, after a failure
}

// Run takes part in the election until ctx ends: it keeps a lease, writes this replica's
// reports, watches the group, campaigns when this replica is the best candidate of a
// leaderless group, and emits the events of Changes. When it cannot reach etcd it retries with
// backoff (100 ms doubling to 2 s), a new lease each time the old one is lost. When ctx ends it
// resigns: it emits EventDeposed if it held the leadership, then revokes its lease, which
// deletes its report and leader key at once (if etcd does not answer within TTL/3, they
// lapse with the lease). It closes Changes and returns nil then; it returns ErrRunning at
// once if Run was called before.
func (e *Elector) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer e.closeEvents()
	var bo backoff
	for {
		established, err := e.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if established {
			bo.reset()
		}
		e.log.Warn("election session ended; starting again", "err", err)
		if !bo.wait(ctx, nil) {
			return nil
		}
	}
}

// session runs one lease: grant, keep alive (its own goroutine), read and watch the group,
// until the lease is lost or ctx ends. It reports whether the lease was granted.
func (e *Elector) session(ctx context.Context) (bool, error) {
	sent := time.Now()
	gctx, cancel := context.WithTimeout(ctx, opTimeout(e.cfg.TTL))
	g, err := e.cli.Grant(gctx, leaseSeconds(e.cfg.TTL))
	cancel()
	if err != nil {
		return false, fmt.Errorf("grant lease: %w", err)
	}
	s := &session{lease: g.ID, ttl: time.Duration(g.TTL) * time.Second, view: newView(e.cfg.BrokerID, e.keys)}
	e.log.Debug("election session started", "lease", fmt.Sprintf("%x", int64(s.lease)), "ttl", s.ttl)

	e.renew(s.lease, sent.Add(s.ttl-fenceMargin(s.ttl)))
	kctx, stop := context.WithCancel(ctx)
	lost := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(lost)
		e.keepAlive(kctx, s.lease, s.ttl, sent)
	}()
	err = e.loop(ctx, s, lost)
	stop()
	wg.Wait()

	why := "lease lost"
	if ctx.Err() != nil {
		why = "stopped"
	}
	e.fence(s.lease, why)
	// Revoking deletes the report and any leader key of this lease at once; best effort.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout(s.ttl))
	_, rerr := e.cli.Revoke(rctx, s.lease)
	cancel()
	if rerr != nil && !errors.Is(rerr, rpctypes.ErrLeaseNotFound) {
		e.log.Info("lease not revoked; it lapses after its ttl", "err", rerr)
	}
	return true, err
}

// loop reads the group and watches it, again after each watch failure, until the lease is
// lost or ctx ends.
func (e *Elector) loop(ctx context.Context, s *session, lost <-chan struct{}) error {
	var bo backoff
	for {
		rev, err := e.resync(ctx, s)
		if err == nil {
			bo.reset()
			err = e.watch(ctx, s, rev, lost)
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errLeaseLost):
			e.fence(s.lease, "lease expired") // at once: etcd said so, or the keepalive did
			return err
		}
		e.log.Debug("election read or watch failed; reading again", "err", err)
		if !bo.wait(ctx, lost) {
			return errLeaseLost
		}
	}
}

// resync writes this replica's report if needed, then reads the whole group into the view.
func (e *Elector) resync(ctx context.Context, s *session) (int64, error) {
	if err := e.maybeReport(ctx, s, time.Now()); err != nil {
		return 0, err
	}
	octx, cancel := context.WithTimeout(ctx, opTimeout(s.ttl))
	resp, err := e.cli.Get(octx, e.keys.dir, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", e.keys.dir, err)
	}
	if s.view.load(resp.Kvs, resp.Header.Revision, time.Now()) {
		s.urgent = true
	}
	s.stale = e.observe(s.view.leader, s.lease)
	return resp.Header.Revision, nil
}

// watch follows the group from rev+1, acting on each change (step), until the watch fails,
// the lease is lost or ctx ends.
func (e *Elector) watch(ctx context.Context, s *session, rev int64, lost <-chan struct{}) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := e.cli.Watch(clientv3.WithRequireLeader(wctx), e.keys.dir, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wake, err := e.step(ctx, s)
		if err != nil {
			return err
		}
		if wake.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(time.Until(wake))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-lost:
			return errLeaseLost
		case <-e.wake:
		case <-timer.C:
		case wr, ok := <-wch:
			if !ok {
				return errors.New("watch closed")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			now := time.Now()
			for _, ev := range wr.Events {
				if s.view.apply(ev, now) {
					s.urgent = true
				}
			}
			s.stale = e.observe(s.view.leader, s.lease)
		}
	}
}

// step does what the session needs now: write the report, delete a stale leader key,
// campaign. It returns when to step again if nothing happens before (zero: only then), and
// errLeaseLost when etcd says the lease is gone.
func (e *Elector) step(ctx context.Context, s *session) (time.Time, error) {
	now := time.Now()
	var wake time.Time
	at := func(t time.Time) {
		if !t.IsZero() && (wake.IsZero() || t.Before(wake)) {
			wake = t
		}
	}
	if err := e.maybeReport(ctx, s, now); err != nil {
		if errors.Is(err, errLeaseLost) {
			return time.Time{}, err
		}
		e.log.Debug("report not written", "err", err)
		s.reportRetry = now.Add(retryDelay)
	}
	if s.written == nil || *s.written != e.wanted() {
		at(later(s.reportRetry, s.writtenAt.Add(e.cfg.ReportInterval)))
	}
	if s.stale {
		if now.Before(s.deleteRetry) {
			at(s.deleteRetry)
		} else if err := e.deleteStale(ctx, s, now); err != nil {
			e.log.Debug("stale leader key not deleted", "err", err)
			s.deleteRetry = now.Add(retryDelay)
			at(s.deleteRetry)
		}
	}
	d := s.view.decide(now, e.cfg.Settle, s.ttl)
	at(d.wake)
	if !d.campaign {
		return wake, nil
	}
	if own, ok := s.view.replicas[e.cfg.BrokerID]; !ok || s.written == nil ||
		own.MaxOffset != s.written.maxOffset || own.Epoch != s.written.epoch {
		return wake, nil // decide on the report the others see; its watch event wakes us
	}
	if now.Before(s.campaignRetry) {
		at(s.campaignRetry)
		return wake, nil
	}
	if !e.canCampaign(s.lease) {
		s.campaignRetry = now.Add(retryDelay)
		at(s.campaignRetry)
		return wake, nil
	}
	if err := e.campaign(ctx, s, now); err != nil {
		if errors.Is(err, errLeaseLost) {
			return time.Time{}, err
		}
		e.log.Info("campaign failed", "err", err)
		s.campaignRetry = now.Add(retryDelay)
		at(s.campaignRetry)
	}
	return wake, nil
}

// maybeReport writes the latest Report if it differs from the one written and it is due: the
// first under this lease, urgent (the group became leaderless), or ReportInterval after the
// last write.
func (e *Elector) maybeReport(ctx context.Context, s *session, now time.Time) error {
	w := e.wanted()
	switch {
	case s.written != nil && *s.written == w:
		s.urgent = false
		return nil
	case now.Before(s.reportRetry):
		return nil
	case s.written != nil && !s.urgent && now.Before(s.writtenAt.Add(e.cfg.ReportInterval)):
		return nil
	}
	val, err := json.Marshal(Replica{
		BrokerID: e.cfg.BrokerID, Address: e.cfg.Address, HAAddress: e.cfg.HAAddress,
		MaxOffset: w.maxOffset, Epoch: w.epoch, UpdatedMs: now.UnixMilli(),
	})
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, opTimeout(s.ttl))
	_, err = e.cli.Put(octx, e.keys.replica(e.cfg.BrokerID), string(val), clientv3.WithLease(s.lease))
	cancel()
	if err != nil {
		return leaseErr(fmt.Errorf("write report: %w", err))
	}
	s.written, s.writtenAt, s.urgent = &w, now, false
	return nil
}

// deleteStale deletes the leader key if it is still the stale one the view holds.
func (e *Elector) deleteStale(ctx context.Context, s *session, now time.Time) error {
	l := s.view.leader
	if l == nil {
		s.stale = false
		return nil
	}
	e.log.Info("deleting a stale leader key of this broker", "epoch", l.Epoch)
	octx, cancel := context.WithTimeout(ctx, opTimeout(s.ttl))
	resp, err := e.cli.Txn(octx).
		If(clientv3.Compare(clientv3.CreateRevision(e.keys.leader()), "=", l.Epoch)).
		Then(clientv3.OpDelete(e.keys.leader())).
		Commit()
	cancel()
	if err != nil {
		return fmt.Errorf("delete stale leader key: %w", err)
	}
	if resp.Succeeded && s.view.setLeader(nil, resp.Header.Revision, now) {
		s.urgent = true
	}
	s.stale = e.observe(s.view.leader, s.lease) // the watch tells the rest
	return nil
}

// campaign tries to create the leader key under the session's lease, and records the
// answer: this replica's leadership, or the leader that got there first.
func (e *Elector) campaign(ctx context.Context, s *session, now time.Time) error {
	val, err := json.Marshal(leaderRecord{BrokerID: e.cfg.BrokerID, Address: e.cfg.Address, HAAddress: e.cfg.HAAddress})
	if err != nil {
		return fmt.Errorf("encode leader: %w", err)
	}
	key := e.keys.leader()
	e.log.Info("campaigning", "lease", fmt.Sprintf("%x", int64(s.lease)))
	octx, cancel := context.WithTimeout(ctx, opTimeout(s.ttl))
	resp, err := e.cli.Txn(octx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val), clientv3.WithLease(s.lease))).
		Else(clientv3.OpGet(key)).
		Commit()
	cancel()
	if err != nil {
		return leaseErr(fmt.Errorf("campaign: %w", err))
	}
	rev := resp.Header.Revision
	var kv *mvccpb.KeyValue
	if resp.Succeeded {
		// The put is the transaction's only write: its revision is the key's CreateRevision.
		kv = &mvccpb.KeyValue{Key: []byte(key), Value: val, CreateRevision: rev, ModRevision: rev, Version: 1, Lease: int64(s.lease)}
	} else if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) == 1 {
		kv = kvs[0]
	}
	if s.view.setLeader(kv, rev, now) {
		s.urgent = true
	}
	s.stale = e.observe(s.view.leader, s.lease)
	return nil
}

// keepAlive keeps lease alive with one KeepAliveOnce every ttl/3, and fences it (see the
// package doc, Safety) when etcd says it is gone or when ttl-ttl/5 passes, by the local
// clock, from the sending of the last keepalive that succeeded (or of the grant, sent).
// It returns then, or when ctx ends.
func (e *Elector) keepAlive(ctx context.Context, lease clientv3.LeaseID, ttl time.Duration, sent time.Time) {
	margin, interval := fenceMargin(ttl), ttl/3
	deadline, next := sent.Add(ttl-margin), sent.Add(interval) // as session renewed it
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		timer.Reset(time.Until(earlier(next, deadline)))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		if !now.Before(deadline) {
			e.fence(lease, "no keepalive answered in time")
			return
		}
		kctx, cancel := context.WithDeadline(ctx, earlier(now.Add(interval), deadline))
		resp, err := e.cli.KeepAliveOnce(kctx, lease)
		cancel()
		switch {
		case err == nil:
			deadline, next = now.Add(time.Duration(resp.TTL)*time.Second-margin), now.Add(interval)
			e.renew(lease, deadline)
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			e.fence(lease, "lease expired")
			return
		case ctx.Err() != nil:
			return
		default:
			e.log.Debug("keepalive failed", "err", err)
			next = time.Now().Add(min(interval, retryDelay))
		}
	}
}

// leaseErr turns an error saying the session's lease is gone into errLeaseLost.
func leaseErr(err error) error {
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("%w: %w", errLeaseLost, err)
	}
	return err
}

// backoff is a delay doubling from minBackoff to maxBackoff.
type backoff struct{ next time.Duration }

func (b *backoff) reset() { b.next = 0 }

// wait sleeps the next delay; it returns false if ctx ends or stop closes first.
func (b *backoff) wait(ctx context.Context, stop <-chan struct{}) bool {
	b.next = min(max(2*b.next, minBackoff), maxBackoff)
	t := time.NewTimer(b.next)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
