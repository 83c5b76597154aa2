package store

import (
	"fmt"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/consumequeue"
	"github.com/ternmq/tern/core/store/segment"
)

// GetStatus is the outcome of GetMessages (RocketMQ's GetMessageStatus).
type GetStatus uint8

// Statuses of GetMessages. The broker maps them to pull response codes.
const (
	// Found: at least one message is returned.
	Found GetStatus = iota
	// NoMatchedMessage: entries were scanned but the filter matched none of them.
	NoMatchedMessage
	// MessageWasRemoving: the scanned entries point at CommitLog data already deleted.
	MessageWasRemoving
	// OffsetOverflowOne: the offset is the queue's maximum (nothing new yet).
	OffsetOverflowOne
	// OffsetOverflowBadly: the offset is past the queue's maximum.
	OffsetOverflowBadly
	// OffsetTooSmall: the offset is below the queue's minimum.
	OffsetTooSmall
	// NoMessageInQueue: the queue has never held a message.
	NoMessageInQueue
	// NoMatchedLogicQueue: the store has no such queue.
	NoMatchedLogicQueue
)

var statusNames = [...]string{"FOUND", "NO_MATCHED_MESSAGE", "MESSAGE_WAS_REMOVING", "OFFSET_OVERFLOW_ONE",
	"OFFSET_OVERFLOW_BADLY", "OFFSET_TOO_SMALL", "NO_MESSAGE_IN_QUEUE", "NO_MATCHED_LOGIC_QUEUE"}

func (s GetStatus) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("GetStatus(%d)", uint8(s))
}

// Filter selects messages for GetMessages. Both methods run on the reading goroutine and must not
// block.
type Filter interface {
	// MatchTagsCode is asked first, with the ConsumeQueue entry's tags code.
	MatchTagsCode(tagsCode int64) bool
	// MatchRecord is asked next, for records whose tags code matched.
	MatchRecord(v message.View) bool
}

// GetResult holds the messages of one GetMessages call. Messages alias the mapped CommitLog and
// stay valid until Release, even if retention deletes their segment meanwhile.
type GetResult struct {
	Status GetStatus
	// NextBeginOffset is where the next read of the queue should start: past every entry scanned,
	// including those the filter skipped.
	NextBeginOffset int64
	MinOffset       int64
	MaxOffset       int64
	// Messages are whole stored records, ready to be written to a socket as they are.
	Messages [][]byte
	// QueueOffsets[i] is the queue offset of Messages[i].
	QueueOffsets []int64
	// Bytes is the total size of Messages.
	Bytes int

	segs []*segment.Segment
}

// Release drops the references that keep the messages' segments mapped. The messages must not be
// used afterwards. It is safe to call more than once.
func (r *GetResult) Release() {
	for _, s := range r.segs {
		s.Release()
	}
	r.segs = nil
	r.Messages = nil
}

// hold returns the bytes of [phy, phy+size) of the CommitLog, reusing the last segment r already
// holds when it contains them.
func (r *GetResult) hold(s *Store, phy int64, size int) ([]byte, error) {
	if n := len(r.segs); n > 0 {
		if seg := r.segs[n-1]; phy >= seg.Start && phy+int64(size) <= seg.End() {
			return seg.Bytes()[phy-seg.Start : phy-seg.Start+int64(size)], nil
		}
	}
	b, seg, err := s.cl.Read(phy, size)
	if err != nil {
		return nil, err
	}
	r.segs = append(r.segs, seg)
	return b, nil
}

// GetMessages reads up to maxMsgs messages (at most MaxTransferCountOnMessageInMemory; at least
// one) and about maxBytes bytes (at most MaxTransferBytesOnMessageInMemory; the first message is
// returned whatever its size) from (topic, queueID) starting at queue offset offset, skipping
// those the filter (nil: all) rejects. The caller must Release the result.
func (s *Store) GetMessages(topic string, queueID int32, offset int64, maxMsgs, maxBytes int, f Filter) (GetResult, error) {
	if s.closed.Load() {
		return GetResult{}, ErrClosed
	}
	var res GetResult
	cq := s.queueByName(topic, queueID)
	if cq == nil {
		res.Status = NoMatchedLogicQueue
		return res, nil
	}
	minOff, maxOff := cq.MinOffset(), cq.MaxOffset()
	res.MinOffset, res.MaxOffset = minOff, maxOff
	switch {
	case maxOff == 0:
		res.Status = NoMessageInQueue
		return res, nil
	case offset < minOff:
		res.Status, res.NextBeginOffset = OffsetTooSmall, minOff
		return res, nil
	case offset == maxOff:
		res.Status, res.NextBeginOffset = OffsetOverflowOne, offset
		return res, nil
	case offset > maxOff:
		res.Status, res.NextBeginOffset = OffsetOverflowBadly, maxOff
		return res, nil
	}
	maxMsgs = min(max(maxMsgs, 1), s.cfg.MaxTransferCountOnMessageInMemory)
	if maxBytes <= 0 {
		maxBytes = s.cfg.MaxTransferBytesOnMessageInMemory
	}
	maxBytes = min(maxBytes, s.cfg.MaxTransferBytesOnMessageInMemory)
	limit := int64(max(s.cfg.MaxScanEntries, maxMsgs))
	clMin := s.cl.MinOffset()

	next, removed := offset, 0
	full := false
	for !full && next < maxOff && next-offset < limit {
		entries, cqSeg, err := cq.Read(next, int(min(limit-(next-offset), maxOff-next)))
		if err != nil {
			res.Release()
			return GetResult{}, fmt.Errorf("store: %s-%d offset %d: %w", topic, queueID, next, err)
		}
		for ; len(entries) >= consumequeue.EntrySize; entries = entries[consumequeue.EntrySize:] {
			e := consumequeue.Decode(entries)
			if e.Hole() {
				next++
				continue
			}
			if e.PhysicalOffset < clMin {
				removed++
				next++
				continue
			}
			if f != nil && !f.MatchTagsCode(e.TagsCode) {
				next++
				continue
			}
			if len(res.Messages) > 0 && res.Bytes+int(e.Size) > maxBytes {
				full = true
				break
			}
			b, err := res.hold(s, e.PhysicalOffset, int(e.Size))
			if err != nil {
				if e.PhysicalOffset < s.cl.MinOffset() {
					// Deleted between the minimum check and now.
					removed++
					next++
					continue
				}
				// Not deleted, yet not readable: never skip it. The read stops here and the
				// next one starts at this entry.
				s.log.Warn("consumequeue entry not readable; the read stops before it", "topic", topic,
					"queue_id", queueID, "offset", next, "phy_offset", e.PhysicalOffset, "err", err)
				full = true
				break
			}
			match, err := checkRecord(b, f)
			if err != nil {
				s.log.Error("unreadable record behind a consumequeue entry", "topic", topic, "queue_id", queueID,
					"offset", next, "phy_offset", e.PhysicalOffset, "err", err)
				next++
				continue
			}
			if !match {
				next++
				continue
			}
			res.Messages = append(res.Messages, b)
			res.QueueOffsets = append(res.QueueOffsets, next)
			res.Bytes += len(b)
			next++
			if len(res.Messages) >= maxMsgs {
				full = true
				break
			}
		}
		cqSeg.Release()
	}
	res.NextBeginOffset = next
	switch {
	case len(res.Messages) > 0:
		res.Status = Found
	case removed > 0:
		res.Status = MessageWasRemoving
	default:
		res.Status = NoMatchedMessage
	}
	return res, nil
}

// checkRecord checks the record b behind a ConsumeQueue entry and reports whether f (nil: all)
// selects it. Without a filter only the header is checked (message.CheckHeader): a record is
// passed on as it is stored, and reading its fields through the whole record was the largest
// cost of a pull after the copy to the socket, for each 1 KiB record read from the disk.
func checkRecord(b []byte, f Filter) (bool, error) {
	if f == nil {
		return true, message.CheckHeader(b)
	}
	v, err := message.Parse(b)
	if err != nil {
		return false, err
	}
	return f.MatchRecord(v), nil
}

// queueByName returns the ConsumeQueue of (topic, queueID), or nil.
func (s *Store) queueByName(topic string, queueID int32) *consumequeue.Queue {
	s.qmu.RLock()
	defer s.qmu.RUnlock()
	return s.queues[topic][queueID]
}
