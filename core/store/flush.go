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
		var err error
		if thorough {
			err = s.checkpoint()
		} else {
			err = s.lightCheckpoint()
		}
		if err != nil {
			s.log.Error("checkpoint failed", "err", err)
		}
	})
}

// checkpoint makes the dispatched entries durable and then records how far that goes. The
// marks are read before the flushes, so the checkpoint never claims more than was flushed.
func (s *Store) checkpoint() error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	return s.checkpointLocked(math.MaxInt64)
}

// checkpointLocked is checkpoint with s.ckMu held, with both marks at most limit (Truncate
// lowers them to the cut before cutting).
func (s *Store) checkpointLocked(limit int64) error {
	cp := checkpoint.Checkpoint{
		CommitLogFlushed:       min(s.cl.FlushedOffset(), limit),
		ConsumeQueueDispatched: min(s.dispatched.Load(), limit),
		IndexDispatched:        min(s.dispatched.Load(), limit),
	}
	now := s.now().UnixMilli()
	cp.CommitLogTimestamp, cp.ConsumeQueueTimestamp, cp.IndexTimestamp = now, now, now
	var errs []error
	for _, cq := range s.allQueues() {
		if err := cq.Flush(0); err != nil {
			errs = append(errs, err)
		}
	}
	if s.idx != nil {
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

// lightCheckpoint flushes the ConsumeQueues with FlushConsumeQueueLeastPages written since
// their last flush and records the CommitLog's flushed mark; the dispatch marks stay those of
// the last thorough checkpoint, since the other queues and the index were not flushed.
func (s *Store) lightCheckpoint() error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	var errs []error
	for _, cq := range s.allQueues() {
		if err := cq.Flush(s.cfg.FlushConsumeQueueLeastPages); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cp := s.lastCP
	cp.CommitLogFlushed = s.cl.FlushedOffset()
	cp.CommitLogTimestamp = s.now().UnixMilli()
	if err := checkpoint.Save(filepath.Join(s.dir, fileCheckpoint), cp); err != nil {
		return err
	}
	s.lastCP = cp
	return nil
}
