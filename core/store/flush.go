package store

import (
	"errors"
	"math"
	"path/filepath"
	"time"

	"github.com/ternmq/tern/core/internal/periodic"
	"github.com/ternmq/tern/core/store/checkpoint"
)

// flushLoop writes the checkpoint every FlushIntervalConsumeQueue: a thorough one (every
// ConsumeQueue and the index flushed, the dispatch mark advanced) every
// FlushConsumeQueueThoroughInterval, and in between a light one that flushes only the queues
// with FlushConsumeQueueLeastPages written and advances only the CommitLog's mark. (The CommitLog
// has its own flusher.)
func (s *Store) flushLoop() {
	defer s.wg.Done()
	last := time.Now() // the schedule runs on the machine's clock, not cfg.Now
	// Close writes the final checkpoint.
	periodic.Run(s.stop, s.cfg.FlushIntervalConsumeQueue.D(), func() {
		thorough := time.Since(last) >= s.cfg.FlushConsumeQueueThoroughInterval.D()
		if thorough {
			last = time.Now()
		}
		s.ckMu.Lock()
		err := s.writeCheckpoint(math.MaxInt64, thorough)
		s.ckMu.Unlock()
		if err != nil {
			s.log.Error("checkpoint failed", "err", err)
		}
	})
}

// checkpoint writes a thorough checkpoint: it makes the dispatched entries durable and then
// records how far that goes.
func (s *Store) checkpoint() error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	return s.checkpointLocked(math.MaxInt64)
}

// checkpointLocked is checkpoint with s.ckMu held, with every mark at most limit (Truncate
// lowers them to the cut before cutting).
func (s *Store) checkpointLocked(limit int64) error { return s.writeCheckpoint(limit, true) }

// writeCheckpoint flushes and saves the checkpoint; s.ckMu is held. A thorough one flushes every
// ConsumeQueue and the index and moves the dispatch marks; a light one flushes only the queues
// with FlushConsumeQueueLeastPages written and keeps the dispatch marks of the last thorough
// one. The CommitLog's mark moves in both. The marks are read before the flushes, so the
// checkpoint never claims more than was flushed.
func (s *Store) writeCheckpoint(limit int64, thorough bool) error {
	now := s.now().UnixMilli()
	cp := s.lastCP
	cp.CommitLogFlushed, cp.CommitLogTimestamp = min(s.cl.FlushedOffset(), limit), now
	least := s.cfg.FlushConsumeQueueLeastPages
	if thorough {
		d := min(s.dispatched.Load(), limit)
		cp.ConsumeQueueDispatched, cp.IndexDispatched = d, d
		cp.ConsumeQueueTimestamp, cp.IndexTimestamp = now, now
		least = 0
	}
	var errs []error
	for _, cq := range s.allQueues() {
		if err := cq.Flush(least); err != nil {
			errs = append(errs, err)
		}
	}
	if thorough && s.idx != nil {
		if err := s.idx.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := checkpoint.Save(filepath.Join(s.dir, fileCheckpoint), cp); err != nil {
		return err
	}
	s.lastCP = cp
	return nil
}
