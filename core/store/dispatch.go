package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/consumequeue"
)

// dispatcher is the state of the dispatch goroutine: it turns CommitLog records into
// ConsumeQueue and index entries. Only that goroutine (or recovery, before it starts) uses it.
type dispatcher struct {
	queues   []*consumequeue.Queue // touched since the last publish, in order
	seen     map[*consumequeue.Queue]bool
	arrivals []Arrival // built by commit from queues
}

// commit writes the entries the queues d touched have buffered (one write per queue) and
// lists their arrivals. It tries every queue; the entries of a queue that failed are dropped,
// and dispatching those records again appends them again.
func (d *dispatcher) commit() error {
	var errs []error
	d.arrivals = d.arrivals[:0]
	for _, cq := range d.queues {
		if err := cq.Commit(); err != nil {
			errs = append(errs, err)
		}
		d.arrivals = append(d.arrivals, Arrival{Topic: cq.Topic, QueueID: cq.QueueID, MaxOffset: cq.MaxOffset()})
	}
	return errors.Join(errs...)
}

func (s *Store) dispatchLoop() {
	defer s.wg.Done()
	d := &dispatcher{seen: make(map[*consumequeue.Queue]bool)}
	var retry <-chan time.Time
	for {
		select {
		case <-s.stop:
			if err := s.dispatchAvailable(d, true); err != nil {
				s.log.Error("final dispatch failed", "err", err)
			}
			return
		case <-s.dispatchReq:
		case <-retry:
		}
		retry = nil
		if err := s.dispatchAvailable(d, true); err != nil {
			s.log.Error("dispatch failed, retrying", "offset", s.dispatched.Load(), "err", err)
			retry = time.After(time.Second)
		}
	}
}

// dispatchAvailable dispatches every record between the dispatched offset and the end of the
// CommitLog, then publishes the arrivals.
func (s *Store) dispatchAvailable(d *dispatcher, notify bool) error {
	s.dmu.Lock()
	err := s.dispatchTo(d, s.cl.MaxOffset())
	s.dmu.Unlock()
	s.publishArrivals(d, notify)
	return err
}

// dispatchTo dispatches every record between the dispatched offset and to (a record boundary at
// or below the CommitLog's end) and moves the dispatched offset. s.dmu is held.
func (s *Store) dispatchTo(d *dispatcher, to int64) error {
	from := s.dispatched.Load()
	if from >= to {
		return nil
	}
	pos, err := s.walk(from, to, func(v message.View) error { return s.dispatch(d, v) })
	if cerr := d.commit(); cerr != nil {
		// Some entries of this round are not written: it is dispatched again from its start
		// (what was written is found there and left alone).
		pos, err = from, errors.Join(err, cerr)
	}
	s.dispatched.Store(pos)
	if pos > from {
		s.dispMu.Lock()
		close(s.dispDone)
		s.dispDone = make(chan struct{})
		s.dispMu.Unlock()
	}
	return err
}

// publishArrivals reports the arrivals d gathered to OnArrival (if notify) and resets d.
func (s *Store) publishArrivals(d *dispatcher, notify bool) {
	if notify && s.cfg.OnArrival != nil && len(d.arrivals) > 0 {
		s.cfg.OnArrival(d.arrivals)
	}
	d.arrivals = d.arrivals[:0]
	clear(d.queues)
	d.queues = d.queues[:0]
	clear(d.seen)
}

// walk calls fn for every record in [from, to) of the CommitLog (to must be a record boundary
// at or below MaxOffset) and returns the offset it reached.
func (s *Store) walk(from, to int64, fn func(message.View) error) (int64, error) {
	pos := from
	for pos < to {
		seg := s.cl.Segments().Acquire(pos)
		if seg == nil {
			return pos, fmt.Errorf("store: no CommitLog segment holds offset %d", pos)
		}
		b := seg.Bytes()[pos-seg.Start : min(seg.Size(), to-seg.Start)]
		for len(b) > 0 {
			v, err := message.Parse(b)
			if errors.Is(err, message.ErrBlank) {
				pos = seg.End()
				break
			}
			if err == nil {
				err = fn(v)
			}
			if err != nil {
				seg.Release()
				return pos, fmt.Errorf("store: record at %d: %w", pos, err)
			}
			pos += int64(v.Size())
			b = b[v.Size():]
		}
		seg.Release()
	}
	return pos, nil
}

// dispatch writes the ConsumeQueue entry and index entries of one record. It is idempotent, so
// recovery can dispatch a record again.
func (s *Store) dispatch(d *dispatcher, v message.View) error {
	topic, qid, tx := v.Topic(), v.QueueID(), message.TxType(v.SysFlag())
	props := v.Properties()
	var tags, keys, uniq []byte // one pass over the properties for all three
	for k, val := range message.Pairs(props) {
		switch string(k) {
		case message.PropertyTags:
			tags = val
		case message.PropertyKeys:
			keys = val
		case message.PropertyUniqKey:
			uniq = val
		}
	}
	// Index entries first: a message visible in its queue can be found by key too.
	if s.idx != nil && tx != message.TxRollback {
		phy, ts := v.PhysicalOffset(), v.StoreTimestamp()
		var ierr error
		message.SplitKeys(keys, func(k []byte) {
			if err := s.idx.Put(topic, k, phy, ts); err != nil && ierr == nil {
				ierr = err
			}
		})
		if len(uniq) > 0 {
			if err := s.idx.Put(topic, uniq, phy, ts); err != nil && ierr == nil {
				ierr = err
			}
		}
		if ierr != nil {
			// The index is a look-up aid: a failure there must not hold messages back. The
			// error names its record, which may be an earlier one (Put writes in batches).
			s.log.Warn("index put failed", "err", ierr)
		}
	}
	if message.Queued(v.SysFlag()) {
		cq := s.queue(topic, qid)
		if cq == nil {
			var err error
			if cq, err = s.openQueue(string(topic), qid); err != nil {
				return err
			}
		}
		holes, err := cq.Append(v.QueueOffset(), consumequeue.Entry{
			PhysicalOffset: v.PhysicalOffset(),
			Size:           int32(v.Size()),
			TagsCode:       s.tagsCode(topic, props, tags, v.StoreTimestamp()),
		})
		if err != nil {
			return err
		}
		if holes > 0 {
			s.log.Error("consumequeue gap: entries missing before a dispatched record", "topic", string(topic),
				"queue_id", qid, "offset", v.QueueOffset(), "missing", holes)
		}
		if !d.seen[cq] {
			d.seen[cq] = true
			d.queues = append(d.queues, cq)
		}
	}
	return nil
}

// tagsCode is the ConsumeQueue tags code of a record whose TAGS value is tags (found by the
// dispatcher's one pass over the properties), unless the TagsCode hook claims the record.
func (s *Store) tagsCode(topic, props, tags []byte, storeTimestamp int64) int64 {
	if s.cfg.TagsCode != nil {
		if code, ok := s.cfg.TagsCode(topic, props, storeTimestamp); ok {
			return code
		}
	}
	if len(tags) == 0 {
		return 0
	}
	return message.TagsCodeBytes(tags)
}

// WaitDispatched waits until every record below offset is in its ConsumeQueue (and the index),
// ctx ends, or the store closes. Pass CommitLogMaxOffset() to wait for everything appended.
func (s *Store) WaitDispatched(ctx context.Context, offset int64) error {
	for {
		s.dispMu.Lock()
		done := s.dispDone
		s.dispMu.Unlock()
		if s.dispatched.Load() >= offset {
			return nil
		}
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stop:
			return ErrClosed
		}
	}
}
