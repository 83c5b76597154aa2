package etcd

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ternmq/tern/sdk/plugin"
)

// resync reads the whole key space at one revision into the cache, tells every watcher to
// reset, and returns the revision.
func (b *Backend) resync(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DialTimeout)
	defer cancel()
	resp, err := b.cli.Get(ctx, b.keys.all(), clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("%w: etcd: read %s: %w", plugin.ErrUnavailable, b.keys.all(), err)
	}
	kvs := make([]KV, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		kvs[i] = KV{Key: string(kv.Key), Value: kv.Value}
	}
	rev := resp.Header.Revision
	b.tmu.Lock()
	b.table.Reset(rev, kvs)
	b.broadcastLocked()
	b.publishLocked(nil, true)
	b.tmu.Unlock()
	return rev, nil
}

// syncLoop keeps the cache at the newest revision: it watches from the revision after the
// one read, and reads everything again when the watch fails (compaction, no leader, a closed
// stream), with backoff while etcd is unreachable. Meanwhile the cache keeps answering.
func (b *Backend) syncLoop(ctx context.Context, rev int64) {
	defer b.wg.Done()
	bo := newBackoff()
	failures := 0
	for {
		if rev == 0 {
			r, err := b.resync(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				failures++
				level := slog.LevelDebug
				if failures == 1 {
					level = slog.LevelWarn
				}
				b.logger.Log(ctx, level, "etcd cache resync failed; serving the cached registry", "attempts", failures, "err", err)
				if !bo.wait(ctx, nil) {
					return
				}
				continue
			}
			rev, failures = r, 0
			bo.reset()
		}
		last, err := b.watch(ctx, rev)
		if ctx.Err() != nil {
			return
		}
		if last > rev {
			bo.reset()
		}
		b.logger.Warn("etcd watch ended; reading the registry again", "rev", last, "err", err)
		rev = 0
		if !bo.wait(ctx, nil) {
			return
		}
	}
}

// watch applies the changes after revision rev until the watch ends, and returns the last
// revision applied and why it ended.
func (b *Backend) watch(ctx context.Context, rev int64) (int64, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := b.cli.Watch(wctx, b.keys.all(), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for resp := range wch {
		if resp.CompactRevision != 0 {
			return rev, fmt.Errorf("watch from %d: compacted at %d", rev+1, resp.CompactRevision)
		}
		if err := resp.Err(); err != nil {
			return rev, fmt.Errorf("watch from %d: %w", rev+1, err)
		}
		if len(resp.Events) == 0 {
			continue
		}
		changes := make([]Change, len(resp.Events))
		for i, ev := range resp.Events {
			changes[i] = Change{KV: KV{Key: string(ev.Kv.Key), Value: ev.Kv.Value}, Delete: ev.Type == clientv3.EventTypeDelete}
			rev = max(rev, ev.Kv.ModRevision)
		}
		// A response holds whole revisions (etcd splits batches between revisions), so the
		// table goes from one revision to another.
		b.tmu.Lock()
		evs := b.table.Apply(rev, changes)
		b.broadcastLocked()
		b.publishLocked(evs, false)
		b.tmu.Unlock()
	}
	return rev, fmt.Errorf("watch from %d: channel closed", rev+1)
}

// broadcastLocked wakes whoever waits for the table to change. b.tmu is held.
func (b *Backend) broadcastLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// maxCacheWait bounds how long a write waits for the cache to show it.
const maxCacheWait = 5 * time.Second

// waitCache waits until done reports true of the cache, ctx ends, maxCacheWait passes or the
// backend closes, so that a Register or Unregister is visible to the next read of this
// backend. It returns nothing: the write happened either way.
func (b *Backend) waitCache(ctx context.Context, done func(t *Table) bool) {
	ctx, cancel := context.WithTimeout(ctx, maxCacheWait)
	defer cancel()
	for {
		b.tmu.RLock()
		ok, ch := done(b.table), b.changed
		b.tmu.RUnlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			b.logger.Debug("etcd cache did not catch up with a write", "err", ctx.Err())
			return
		case <-b.closed:
			return
		}
	}
}

// waitRev waits until the cache reflects revision rev (see waitCache).
func (b *Backend) waitRev(ctx context.Context, rev int64) {
	b.waitCache(ctx, func(t *Table) bool { return t.Rev() >= rev })
}

// backoff is a doubling wait between retries, from minBackoff to maxBackoff.
type backoff struct{ next time.Duration }

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 3 * time.Second
)

func newBackoff() *backoff { return &backoff{next: minBackoff} }

func (bo *backoff) reset() { bo.next = minBackoff }

// wait sleeps the current backoff and doubles it. It returns false when ctx ends, and early
// (true) when wake fires.
func (bo *backoff) wait(ctx context.Context, wake <-chan struct{}) bool {
	t := time.NewTimer(bo.next)
	defer t.Stop()
	bo.next = min(2*bo.next, maxBackoff)
	select {
	case <-t.C:
		return true
	case <-wake:
		return true
	case <-ctx.Done():
		return false
	}
}
