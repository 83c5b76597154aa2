package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/commitlog"
	"github.com/ternmq/tern/core/store/consumequeue"
)

// The replication API: a master's HA service ships its CommitLog to slaves with ReadCommitLog and
// WaitCommitLog; a slave writes what it receives with AppendReplicated and, when its tail
// diverged from a new master's, cuts it with Truncate. A slave's CommitLog is a byte-for-byte
// copy of the master's (same offsets, same segment files), and its ConsumeQueues hold the
// master's queue offsets, so consumers may switch between them.

var (
	// ErrOffsetMismatch: AppendReplicated's offset is not the CommitLog's end.
	ErrOffsetMismatch = errors.New("store: replicated data does not start at the CommitLog's end")
	// ErrOffsetGone: the offset is below the CommitLog's minimum (retention deleted it).
	ErrOffsetGone = errors.New("store: offset no longer in the CommitLog")
)

// Limits on what AppendReplicated accepts from the records' own fields (a master never writes
// more: its queue ids are small and its queue offsets are counters).
const (
	maxReplicaQueueID     = 1<<16 - 1
	maxReplicaQueueOffset = 1 << 58 // queue offset × 20 stays far from overflowing
)

func noop() {}

// CommitLogSegmentSize returns the size of a CommitLog segment (mappedFileSizeCommitLog), on
// which a master and its slaves must agree.
func (s *Store) CommitLogSegmentSize() int64 { return s.cfg.MappedFileSizeCommitLog }

// ReadCommitLog returns CommitLog bytes starting at from: at most max bytes (but always at least
// one whole record if one starts there, even when larger than max), never crossing a segment's
// end, ending on a record boundary at or below CommitLogMaxOffset(). When from holds a segment's
// end-of-segment blank marker, data is the bytes from there to the segment's end (so the next
// read starts at the next segment's start); a blank marker that follows the records read and
// fits in max is included the same way. The slice points into the mapping; release must be
// called when done with it (it releases the segment reference). from == CommitLogMaxOffset()
// returns (nil, func(){}, nil). from < CommitLogMinOffset() returns ErrOffsetGone. from must be a
// record boundary (0 or a segment start, or the end of an earlier read).
func (s *Store) ReadCommitLog(from int64, max int) (data []byte, release func(), err error) {
	if s.closed.Load() {
		return nil, nil, ErrClosed
	}
	end := s.cl.MaxOffset()
	switch {
	case from == end:
		return nil, noop, nil
	case from < s.cl.MinOffset():
		return nil, nil, fmt.Errorf("%w: %d, the CommitLog starts at %d", ErrOffsetGone, from, s.cl.MinOffset())
	case from > end:
		return nil, nil, fmt.Errorf("store: read the CommitLog at %d: %w (it ends at %d)", from, commitlog.ErrOutOfRange, end)
	}
	seg := s.cl.Segments().Acquire(from)
	if seg == nil {
		if from < s.cl.MinOffset() || s.cl.Segments().Len() == 0 {
			return nil, nil, fmt.Errorf("%w: %d, the CommitLog starts at %d", ErrOffsetGone, from, s.cl.MinOffset())
		}
		return nil, nil, fmt.Errorf("store: read the CommitLog at %d: %w: no segment holds it", from, commitlog.ErrOutOfRange)
	}
	b := seg.Bytes()
	first := from - seg.Start
	limit := min(seg.Size(), end-seg.Start)
	pos := first
	for pos < limit {
		v, perr := message.Parse(b[pos:limit])
		if errors.Is(perr, message.ErrBlank) {
			// The records stop here; the rest of the segment is filler. The blank is only
			// there once the log went on in the next segment, so limit is the segment's end.
			if n := message.BlankSize(b[pos:limit]); int64(n) != seg.Size()-pos {
				perr = fmt.Errorf("blank marker of %d bytes with %d left in the segment", n, seg.Size()-pos)
			} else {
				if pos == first || seg.Size()-first <= int64(max) {
					pos = seg.Size()
				}
				break
			}
		}
		if perr != nil {
			if pos == first {
				seg.Release()
				return nil, nil, fmt.Errorf("store: read the CommitLog at %d: %w", seg.Start+pos, perr)
			}
			break // return the records before it; the next read reports it
		}
		if pos > first && pos-first+int64(v.Size()) > int64(max) {
			break
		}
		pos += int64(v.Size())
	}
	return b[first:pos:pos], seg.Release, nil
}

// AppendReplicated writes data, bytes a master's ReadCommitLog returned, at offset, which must
// equal CommitLogMaxOffset() (else ErrOffsetMismatch). Exception: when the CommitLog is empty (no
// segment) offset may be any multiple of the segment size at or above CommitLogMaxOffset() (0 for
// a new store), and the log then starts there (a new slave catching up from a master whose old
// segments are gone).
//
// Every record is checked as recovery checks it (structure, body CRC, its physical offset field,
// topic, no NUL in the properties, room for a blank marker after it) and its queue id and offset
// must be what a master writes: the queue's next offset on this store, or anything for a queue
// this store has never held. Any bad record, or data ending in the middle of a record, refuses
// the whole call with an error wrapping ErrMessageIllegal, and nothing is written. A blank marker
// at the end means the segment is full: the log goes on at the next segment's start. data must
// not cross a segment's end. Empty data is a no-op.
//
// The records become readable as a Put's do (the dispatcher makes their ConsumeQueue and index
// entries, OnArrival reports them), keeping the master's queue offsets; the store's next queue
// offsets move past them, so the store can take puts if it becomes a master. AppendReplicated
// returns once the bytes are in the mapping; with SYNC_FLUSH once they are on the disk (or with
// ErrFlushTimeout: written, not yet flushed; the next append goes where this one ended even
// though CommitLogMaxOffset() lags until the flush). It refuses with ErrDiskFull as puts do.
//
// Safe to call concurrently with readers; the caller must not call PutMessages, Truncate or
// another AppendReplicated concurrently.
func (s *Store) AppendReplicated(offset int64, data []byte) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if len(data) == 0 {
		return nil
	}
	if s.diskFull.Load() {
		return ErrDiskFull
	}
	// The offset first: data for another offset fails the checks below for that reason only.
	if end := s.cl.End(); offset != end && (offset < end || offset%s.cfg.MappedFileSizeCommitLog != 0 || s.cl.Segments().Len() > 0) {
		return fmt.Errorf("%w: at %d, the CommitLog ends at %d", ErrOffsetMismatch, offset, end)
	}
	fill, err := s.checkReplicated(offset, data)
	if err != nil {
		return err
	}
	empty := s.cl.Segments().Len() == 0
	if empty {
		// The log may start elsewhere: the dispatcher must not look at it before the dispatched
		// offset moves there too.
		s.dmu.Lock()
	}
	end, err := s.cl.AppendAt(offset, data, fill, func(restart bool) error {
		if err := s.takeQueueOffsets(data); err != nil {
			return err
		}
		if restart {
			s.dispatched.Store(offset)
		}
		return nil
	})
	if empty {
		s.dmu.Unlock()
	}
	switch {
	case err == nil:
	case errors.Is(err, commitlog.ErrNotAtEnd):
		return fmt.Errorf("%w: %v", ErrOffsetMismatch, err)
	case errors.Is(err, commitlog.ErrClosed):
		return ErrClosed
	case errors.Is(err, ErrMessageIllegal):
		return err
	default:
		return fmt.Errorf("store: %w", err)
	}
	if s.cfg.FlushDiskType == AsyncFlush {
		s.wakeDispatcher() // with SYNC_FLUSH the flush that publishes the bytes wakes it
	}
	return s.cl.WaitFlushed(context.Background(), end)
}

// checkReplicated checks every record of data as if it were written at offset, and reports
// whether data ends with a blank marker (the segment is full).
func (s *Store) checkReplicated(offset int64, data []byte) (fill bool, err error) {
	size := s.cfg.MappedFileSizeCommitLog
	segEnd := offset - offset%size + size
	if int64(len(data)) > segEnd-offset {
		return false, fmt.Errorf("%w: %d bytes at %d cross the segment end %d", ErrMessageIllegal, len(data), offset, segEnd)
	}
	for pos := 0; pos < len(data); {
		b, phy := data[pos:], offset+int64(pos)
		left := segEnd - phy
		v, err := message.Parse(b)
		if errors.Is(err, message.ErrBlank) {
			// len(b) <= left (checked above): the blank is the last thing in data.
			if n := message.BlankSize(b); int64(n) != left {
				return false, fmt.Errorf("%w: blank marker at %d of %d bytes, %d left in the segment", ErrMessageIllegal, phy, n, left)
			}
			return true, nil
		}
		if err == nil {
			err = v.CheckCRC()
		}
		if err == nil {
			err = checkReplicatedRecord(v, phy, left)
		}
		if err != nil {
			return false, fmt.Errorf("%w: record at %d: %w", ErrMessageIllegal, phy, err)
		}
		pos += v.Size()
	}
	return false, nil
}

// checkReplicatedRecord checks what the CRC does not cover, as recovery does, and the fields
// the dispatcher relies on.
func checkReplicatedRecord(v message.View, phy, left int64) error {
	switch {
	case v.PhysicalOffset() != phy:
		return fmt.Errorf("record says physical offset %d", v.PhysicalOffset())
	case int64(v.Size())+message.BlankHeaderSize > left:
		return fmt.Errorf("%d bytes leave no room for a blank marker in the %d left", v.Size(), left)
	case v.QueueID() < 0 || v.QueueID() > maxReplicaQueueID:
		return fmt.Errorf("queue id %d", v.QueueID())
	case v.QueueOffset() < 0 || v.QueueOffset() >= maxReplicaQueueOffset:
		return fmt.Errorf("queue offset %d", v.QueueOffset())
	case bytes.IndexByte(v.Properties(), 0) >= 0:
		return errors.New("NUL byte in the properties")
	}
	for _, c := range v.Topic() {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '%' || c == '|' || c == '_' || c == '-') {
			return message.ValidateTopic(string(v.Topic()))
		}
	}
	// Parse bounds the topic length to 1..127, which is message.MaxTopicLen.
	return nil
}

// queueOffsetUndo restores s.nextOffs when AppendReplicated refuses a batch: either one queue's
// offset (old) or, with grown, the topic's slice before it grew (nil: the topic was new).
type queueOffsetUndo struct {
	topic []byte
	qid   int32
	old   int64
	grown bool
	prev  []int64
}

// takeQueueOffsets moves the next queue offsets past data's records (checked by checkReplicated),
// each of which must take its queue's next offset, unless this store never held the queue. On
// error nothing changes. It runs under the CommitLog writer lock, as put's offset assignment.
func (s *Store) takeQueueOffsets(data []byte) error {
	s.omu.Lock()
	defer s.omu.Unlock()
	undo := s.replUndo[:0]
	var err error
	for pos := 0; pos < len(data); {
		v, perr := message.Parse(data[pos:])
		if perr != nil {
			break // the trailing blank marker
		}
		pos += v.Size()
		if !message.Queued(v.SysFlag()) {
			continue
		}
		topic, qid, qoff := v.Topic(), v.QueueID(), v.QueueOffset()
		offs := s.nextOffs[string(topic)]
		if int(qid) >= len(offs) {
			undo = append(undo, queueOffsetUndo{topic: topic, grown: true, prev: offs})
			grown := make([]int64, qid+1)
			copy(grown, offs)
			offs = grown
			s.nextOffs[string(topic)] = offs
		}
		if next := offs[qid]; qoff != next {
			fresh := false
			if next == 0 {
				cq := s.queue(topic, qid)
				fresh = cq == nil || cq.Empty()
			}
			if !fresh {
				err = fmt.Errorf("%w: record at %d: %s-%d queue offset %d, the queue's next is %d", ErrMessageIllegal,
					v.PhysicalOffset(), topic, qid, qoff, next)
				break
			}
		}
		undo = append(undo, queueOffsetUndo{topic: topic, qid: qid, old: offs[qid]})
		offs[qid] = qoff + 1
	}
	if err != nil {
		for i := len(undo) - 1; i >= 0; i-- {
			u := undo[i]
			switch {
			case !u.grown:
				s.nextOffs[string(u.topic)][u.qid] = u.old
			case u.prev == nil:
				delete(s.nextOffs, string(u.topic))
			default:
				s.nextOffs[string(u.topic)] = u.prev
			}
		}
	}
	clear(undo) // keep no reference to data
	s.replUndo = undo[:0]
	return err
}

// setNextOffset makes the queue's maximum offset the writer's next offset for it. s.omu is held
// (or recovery runs alone).
func (s *Store) setNextOffset(cq *consumequeue.Queue) {
	offs := s.nextOffs[cq.Topic]
	if int(cq.QueueID) >= len(offs) {
		grown := make([]int64, cq.QueueID+1)
		copy(grown, offs)
		offs = grown
		s.nextOffs[cq.Topic] = offs
	}
	offs[cq.QueueID] = cq.MaxOffset()
}

// Truncate drops everything in the CommitLog at and after offset (a record boundary or a segment
// start, >= CommitLogMinOffset()), together with the ConsumeQueue entries and index entries that
// point there, and resets the writer's next queue offsets from the ConsumeQueues: the log ends at
// offset and the next AppendReplicated or Put continues there. A slave uses it when its tail
// diverged from a new master's. Offsets at or above the end are a no-op; an offset that is not a
// record boundary is refused.
//
// Records below offset that the dispatcher had not reached yet are dispatched first. The cut is
// durable when Truncate returns (the checkpoint is lowered before anything is cut and written
// again after): a crash does not bring the cut records back. Readers may run concurrently: a pull
// finds the cut queue offsets gone (OFFSET_OVERFLOW_*); one that was reading the cut range at that
// moment may get zeroed bytes (which fail to parse) but never crashes. The caller must not call
// PutMessages or AppendReplicated concurrently.
func (s *Store) Truncate(offset int64) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.maint.Lock()
	defer s.maint.Unlock()
	// With SYNC_FLUSH appended data may wait in the CommitLog's buffer: make it readable, so
	// that the end and the records below the cut are all there.
	if _, err := s.cl.Flush(); err != nil {
		return fmt.Errorf("store: truncate: %w", err)
	}
	if offset >= s.cl.MaxOffset() {
		return nil
	}
	if offset < s.cl.MinOffset() {
		return fmt.Errorf("%w: truncate at %d, the CommitLog starts at %d", ErrOffsetGone, offset, s.cl.MinOffset())
	}
	if err := s.checkBoundary(offset); err != nil {
		return err
	}
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	s.dmu.Lock() // the dispatcher stops between batches
	defer s.dmu.Unlock()
	d := &dispatcher{seen: make(map[*consumequeue.Queue]bool)}
	err := s.dispatchTo(d, offset)
	s.publishArrivals(d, true)
	if err != nil {
		return fmt.Errorf("store: truncate at %d: dispatch the records before it: %w", offset, err)
	}
	// From here on a crash must find no mark above the cut: recovery trusts the data below them.
	if err := s.checkpointLocked(offset); err != nil {
		return fmt.Errorf("store: truncate at %d: %w", offset, err)
	}
	queues := s.allQueues()
	for _, cq := range queues {
		if err := cq.TruncatePhysical(offset); err != nil {
			return fmt.Errorf("store: truncate at %d: %w", offset, err)
		}
	}
	if s.idx != nil && s.idx.EndPhyOffset() >= offset {
		if err := s.idx.ResetEnd(offset); err != nil {
			return fmt.Errorf("store: truncate at %d: %w", offset, err)
		}
	}
	if err := s.cl.Truncate(offset); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.omu.Lock()
	clear(s.nextOffs)
	for _, cq := range queues {
		s.setNextOffset(cq)
	}
	s.omu.Unlock()
	s.dispatched.Store(offset)
	if err := s.checkpointLocked(math.MaxInt64); err != nil {
		return fmt.Errorf("store: truncate at %d: %w", offset, err)
	}
	s.log.Warn("commitlog truncated", "offset", offset, "max_offset", s.cl.MaxOffset())
	return nil
}

// checkBoundary checks that offset (below the CommitLog's end) is where a record or a blank
// marker starts, walking its segment from the start.
func (s *Store) checkBoundary(offset int64) error {
	seg := s.cl.Segments().Acquire(offset)
	if seg == nil {
		return fmt.Errorf("%w: truncate at %d, the CommitLog starts at %d", ErrOffsetGone, offset, s.cl.MinOffset())
	}
	defer seg.Release()
	b := seg.Bytes()
	target, limit := offset-seg.Start, min(seg.Size(), s.cl.MaxOffset()-seg.Start)
	pos := int64(0)
	for pos < target {
		v, err := message.Parse(b[pos:limit])
		if err != nil {
			break
		}
		pos += int64(v.Size())
	}
	if pos != target {
		return fmt.Errorf("store: truncate at %d: not a record boundary", offset)
	}
	return nil
}

// WaitCommitLog blocks until CommitLogMaxOffset() > offset, ctx ends (ctx.Err()) or the store
// closes (ErrClosed). A master's transfer loop waits with it for new data instead of polling.
// Appends pay for it only while someone waits.
func (s *Store) WaitCommitLog(ctx context.Context, offset int64) error {
	if s.cl.MaxOffset() > offset {
		return nil
	}
	s.growWaiters.Add(1)
	defer s.growWaiters.Add(-1)
	for {
		// Counted as a waiter before loading the channel and then the end: an append that
		// publishes a new end after the load below sees the count and closes this channel.
		s.growMu.Lock()
		grown := s.grown
		s.growMu.Unlock()
		if s.cl.MaxOffset() > offset {
			return nil
		}
		if s.closed.Load() {
			return ErrClosed
		}
		select {
		case <-grown:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stop:
			if s.cl.MaxOffset() > offset {
				return nil
			}
			return ErrClosed
		}
	}
}
