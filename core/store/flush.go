package store

import (
	"errors"
	"math"
	"path/filepath"

	"github.com/ternmq/tern/core/internal/periodic"
	"github.com/ternmq/tern/core/store/checkpoint"
)

// flushLoop flushes ConsumeQueues and the index and writes the checkpoint every
// FlushIntervalConsumeQueue. (The CommitLog has its own flusher.)
func (s *Store) flushLoop() {
	defer s.wg.Done()
	// Close writes the final checkpoint.
	periodic.Run(s.stop, s.cfg.FlushIntervalConsumeQueue.D(), func() {
		if err := s.checkpoint(); err != nil {
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
		if err := cq.Flush(); err != nil {
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
	return checkpoint.Save(filepath.Join(s.dir, fileCheckpoint), cp)
}
