package timer

import (
	"container/heap"
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store"
	"github.com/ternmq/tern/core/store/commitlog"
)

// Bounds of the wheel loop's work per step.
const (
	maxHeap      = 100_000 // entries loaded ahead; loading pauses above it
	maxFireBatch = 1024    // entries fired per step
	maxPutBytes  = 1 << 20 // bodies per store call
)

// entryHeap orders entries by delivery time, then inbox order.
type entryHeap []entry

func (h entryHeap) Len() int { return len(h) }
func (h entryHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].phy < h[j].phy
}
func (h entryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)   { *h = append(*h, x.(entry)) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// wheelLoop owns the wheel: it adds the decided batches, loads slots, fires due entries and
// checkpoints.
func (s *Service) wheelLoop() {
	t := time.NewTimer(0)
	defer t.Stop()
	ckpt := time.NewTicker(s.opts.CheckpointInterval)
	defer ckpt.Stop()
	for {
		wait := s.step()
		t.Reset(wait)
		select {
		case <-s.stop:
			return
		case b := <-s.batches:
			if err := s.enqueue(b); err != nil {
				s.log.Error("timer: add to the wheel failed; stopping the timer", "err", err)
				<-s.stop // nothing is lost: the inbox is re-read from the last checkpoint at the next start
				return
			}
		case <-t.C:
		case <-ckpt.C:
			if err := s.checkpoint(false); err != nil {
				s.log.Error("timer: checkpoint failed", "err", err)
			}
		}
	}
}

// enqueue adds a decided batch: entries due by now fire at once, the others go to the log and
// their slot (and the heap if their slot is loaded).
func (s *Service) enqueue(b batch) error {
	now := s.opts.Now().UnixMilli()
	limit := now + s.opts.Horizon.Milliseconds()
	var due []entry
	for _, e := range b.items {
		e.at = min(max(e.at, 0), limit)
		// Due now, or before firedUpTo (possible when the clock went back across a restart):
		// its slot is already past, so it fires at once.
		if e.at < s.firedUpTo || e.at <= now {
			due = append(due, e)
			continue
		}
		pos, err := s.w.add(e)
		if err != nil {
			return err
		}
		e.pos = pos
		seg := pos - pos%s.w.log.SegmentSize()
		s.segMax[seg] = max(s.segMax[seg], e.at)
		s.scheduled.Add(1)
		if e.at < s.loadedUpTo {
			heap.Push(&s.heap, e)
		}
	}
	s.scheduled.Add(int64(len(due)))
	for len(due) > 0 {
		n, err := s.fire(due)
		due = due[n:]
		if err == nil {
			break
		}
		if errors.Is(err, store.ErrClosed) {
			return err
		}
		s.log.Warn("timer: firing failed; retrying", "err", err)
		select {
		case <-s.stop:
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.inboxNext = b.next
	return nil
}

// step loads the slots that begin within a second, fires what is due, and returns how long to
// wait before the next step.
func (s *Service) step() time.Duration {
	now := s.opts.Now().UnixMilli()
	for s.loadedUpTo <= now+precision && s.heap.Len() < maxHeap {
		es, err := s.w.load(s.loadedUpTo)
		if err != nil {
			s.log.Error("timer: load slot failed; its entries are skipped", "second", s.loadedUpTo, "err", err)
		}
		for _, e := range es {
			if e.at >= s.firedUpTo {
				heap.Push(&s.heap, e)
			}
		}
		s.loadedUpTo += precision
	}
	var due []entry
	for s.heap.Len() > 0 && s.heap[0].at <= now && len(due) < maxFireBatch {
		due = append(due, heap.Pop(&s.heap).(entry))
	}
	if len(due) > 0 {
		if n, err := s.fire(due); err != nil {
			for _, e := range due[n:] {
				heap.Push(&s.heap, e)
			}
			if !errors.Is(err, store.ErrClosed) {
				s.log.Warn("timer: firing failed; retrying", "err", err)
			}
			return 100 * time.Millisecond
		}
	}
	next := int64(math.MaxInt64)
	if s.heap.Len() > 0 {
		next = s.heap[0].at
	}
	s.firedUpTo = max(s.firedUpTo, min(next, now+1, s.loadedUpTo))
	if next <= now || s.loadedUpTo <= now+precision && s.heap.Len() < maxHeap {
		return 0
	}
	wait := min(next, s.loadedUpTo-precision) - now
	return time.Duration(min(max(wait, 0), 1000)) * time.Millisecond
}

// fire copies the due entries' inbox records into their real topics, skipping cancelled ones
// and, after an unclean stop, ones fired before it. It returns how many of due, a prefix, it
// handled: after an error the rest must be fired again.
func (s *Service) fire(due []entry) (int, error) {
	s.fireMu.Lock()
	defer s.fireMu.Unlock()
	var recs []*message.Record
	var scheduled []int64 // recs' inbox store times, for opts.Fired
	var held []store.Message
	var cancelled []int // indexes into due
	defer func() {
		for _, m := range held {
			m.Release()
		}
	}()
	handled, bytes := 0, 0
	// flush stores recs, which come from due[handled:upTo].
	flush := func(upTo int) error {
		if len(recs) > 0 {
			if _, err := s.st.PutMessages(context.Background(), recs); err != nil && !errors.Is(err, store.ErrFlushTimeout) {
				return err
			}
			s.fired.Add(int64(len(recs)))
			if f := s.opts.Fired; f != nil {
				for i, r := range recs {
					f(r, scheduled[i])
				}
			}
		}
		recs, scheduled, bytes, handled = recs[:0], scheduled[:0], 0, upTo
		return nil
	}
	defer func() { s.forgetCancelled(due, cancelled, handled) }()
	for i, e := range due {
		if s.cancelled[e.phy] {
			cancelled = append(cancelled, i)
			continue
		}
		m, err := s.st.GetMessage(e.phy)
		if err != nil {
			if errors.Is(err, commitlog.ErrOutOfRange) && e.phy >= s.st.CommitLogMinOffset() || errors.Is(err, store.ErrClosed) {
				return handled, errors.Join(err, flush(i))
			}
			s.log.Error("timer: inbox record unreadable; skipped", "phy_offset", e.phy, "err", err)
			continue
		}
		held = append(held, m)
		if e.at <= s.recoverUntil && s.firedBefore(m.View, e.phy) {
			s.fired.Add(1)
			continue
		}
		r, ok := s.realRecord(m.View, e)
		if !ok {
			continue
		}
		if bytes+len(r.Body) > maxPutBytes {
			if err := flush(i); err != nil {
				return handled, err
			}
		}
		recs = append(recs, r)
		scheduled = append(scheduled, m.View.StoreTimestamp())
		bytes += len(r.Body)
	}
	if err := flush(len(due)); err != nil {
		return handled, err
	}
	return len(due), nil
}

// forgetCancelled drops the cancellations of the handled entries, which are skipped for good.
func (s *Service) forgetCancelled(due []entry, cancelled []int, handled int) {
	n := 0
	for _, i := range cancelled {
		if i < handled {
			delete(s.cancelled, due[i].phy)
			n++
		}
	}
	if n == 0 {
		return
	}
	s.nc.Add(int64(n))
	if err := writeCancels(s.cancelPath, s.cancelled); err != nil {
		s.log.Warn("timer: persist cancellations failed", "err", err)
	}
}

// realRecord builds the fired copy of an inbox record: the request and routing properties go,
// PropertyOut and PropertySource come.
func (s *Service) realRecord(v message.View, e entry) (*message.Record, bool) {
	r, err := message.Unpark(v, firedDrop, PropertyOut, strconv.FormatInt(e.at, 10), PropertySource, strconv.FormatInt(e.phy, 10))
	if err != nil {
		s.log.Error("timer: inbox record cannot be fired; skipped", "phy_offset", e.phy, "err", err)
		return nil, false
	}
	return r, true
}
