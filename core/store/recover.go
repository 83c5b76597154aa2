package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/checkpoint"
	"github.com/ternmq/tern/core/store/commitlog"
	"github.com/ternmq/tern/core/store/consumequeue"
)

// Recovery reports what Open found and repaired.
type Recovery struct {
	// Abnormal is set when the abort marker was present: the last stop was not a clean Close.
	Abnormal bool
	// Checkpoint is the checkpoint recovery started from.
	Checkpoint checkpoint.Checkpoint
	// CommitLog is what the CommitLog scan found: where it started and ended, how many records it
	// checked, a torn tail it cut, corruption it cut (only with TruncateCorruptOnRecover).
	CommitLog commitlog.Recovery
	// QueuesCut counts ConsumeQueues that had entries past the recovered end of the CommitLog.
	QueuesCut int
}

// recover brings the ConsumeQueues and the index in line with the CommitLog:
//
//  1. ConsumeQueue entries at or past the checkpoint's dispatch mark are dropped: they may not
//     have reached the disk whole.
//  2. The CommitLog is scanned from the start of the segment holding that mark, every record's
//     CRC checked, a torn tail cut; each valid record is dispatched again (dispatch is
//     idempotent, so records that still have their entries are left as they are).
//  3. Entries that point past the recovered end (a cut tail) are dropped, queue minimums follow
//     the CommitLog's minimum, and the writer's next queue offsets come from the queues.
func (s *Store) recover() error {
	cp, _, err := checkpoint.Load(filepath.Join(s.dir, fileCheckpoint))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	_, aerr := os.Stat(filepath.Join(s.dir, fileAbort))
	s.recovery = Recovery{Abnormal: aerr == nil, Checkpoint: cp}

	safe := cp.ConsumeQueueDispatched
	if s.idx != nil {
		safe = min(safe, cp.IndexDispatched)
	}
	queues := s.allQueues()
	for _, cq := range queues {
		if err := cq.TruncatePhysical(safe); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	from := safe - safe%s.cfg.MappedFileSizeCommitLog
	d := &dispatcher{seen: make(map[*consumequeue.Queue]bool)}
	rec, err := s.cl.Recover(from, cp.CommitLogFlushed, s.cfg.TruncateCorruptOnRecover, func(v message.View) error {
		// The body CRC does not cover the topic and properties: reject what put never writes,
		// such as the zeros a write cut short by a crash leaves at the end of a record.
		if err := message.ValidateTopic(string(v.Topic())); err != nil {
			return fmt.Errorf("%w: %w", commitlog.ErrInvalidRecord, err)
		}
		if bytes.IndexByte(v.Properties(), 0) >= 0 {
			return fmt.Errorf("%w: NUL byte in the properties", commitlog.ErrInvalidRecord)
		}
		return s.dispatch(d, v)
	})
	if err == nil {
		err = d.commit()
	}
	s.recovery.CommitLog = rec
	if err != nil {
		var ce *commitlog.CorruptionError
		if errors.As(err, &ce) {
			return fmt.Errorf("store: %w (set truncateCorruptOnRecover to cut the CommitLog there and lose what follows)", err)
		}
		return fmt.Errorf("store: recovery: %w", err)
	}
	end := rec.End
	queues = s.allQueues()
	minPhy := s.cl.MinOffset()
	for _, cq := range queues {
		if cq.MaxPhysicalEnd() > end {
			s.recovery.QueuesCut++
			if err := cq.TruncatePhysical(end); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		}
		if _, err := cq.DeleteBefore(minPhy); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		s.setNextOffset(cq)
	}
	if s.idx != nil && s.idx.EndPhyOffset() >= end {
		if err := s.idx.ResetEnd(end); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	s.dispatched.Store(end)
	if err := s.checkpoint(); err != nil {
		return fmt.Errorf("store: checkpoint after recovery: %w", err)
	}
	if s.recovery.Abnormal || rec.TornTail != nil || rec.Corruption != nil || s.recovery.QueuesCut > 0 {
		s.log.Warn("store recovered after an unclean stop", "scan_from", rec.From, "end", end,
			"records_checked", rec.Records, "torn_tail", errString(rec.TornTail),
			"segments_removed", rec.Removed, "queues_cut", s.recovery.QueuesCut)
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
