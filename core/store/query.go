package store

import (
	"bytes"
	"fmt"
	"math"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/consumequeue"
	"github.com/ternmq/tern/core/store/segment"
)

// Message is one record read by physical offset. View aliases the mapped CommitLog until Release.
type Message struct {
	View message.View
	seg  *segment.Segment
}

// Release drops the reference that keeps the record mapped. It is safe to call more than once.
func (m *Message) Release() {
	if m.seg != nil {
		m.seg.Release()
		m.seg = nil
	}
}

// GetMessage returns the record stored at physical offset phy, its body CRC checked.
func (s *Store) GetMessage(phy int64) (Message, error) {
	v, seg, err := s.cl.ReadRecord(phy)
	if err != nil {
		return Message{}, fmt.Errorf("store: %w", err)
	}
	if err := v.CheckCRC(); err != nil {
		seg.Release()
		return Message{}, fmt.Errorf("store: record at %d: %w", phy, err)
	}
	return Message{View: v, seg: seg}, nil
}

// QueryResult holds the records found by QueryMessage; they alias the CommitLog until Release.
type QueryResult struct {
	Messages []message.View
	// IndexLastUpdateTimestamp and IndexLastUpdatePhyOffset describe how far the index reaches
	// (RocketMQ returns them with QUERY_MESSAGE).
	IndexLastUpdateTimestamp int64
	IndexLastUpdatePhyOffset int64
	segs                     []*segment.Segment
}

// Release drops the references that keep the records mapped.
func (r *QueryResult) Release() {
	for _, s := range r.segs {
		s.Release()
	}
	r.segs, r.Messages = nil, nil
}

// QueryMessage returns up to maxNum records of topic whose KEYS contain key or whose UNIQ_KEY is
// key, stored within [begin, end] (ms), newest first. Every index hit is checked against the
// record itself.
func (s *Store) QueryMessage(topic, key string, maxNum int, begin, end int64) (QueryResult, error) {
	return s.query(topic, key, maxNum, begin, end, false)
}

// MessageByUniqKey returns the record of topic whose UNIQ_KEY is id (the client-side message id),
// or ok=false. The caller releases the result.
func (s *Store) MessageByUniqKey(topic, id string) (QueryResult, error) {
	return s.query(topic, id, 1, 0, math.MaxInt64, true)
}

func (s *Store) query(topic, key string, maxNum int, begin, end int64, uniqOnly bool) (QueryResult, error) {
	var res QueryResult
	if s.idx == nil {
		return res, fmt.Errorf("store: the message index is disabled (messageIndexEnable=false)")
	}
	if maxNum <= 0 {
		return res, nil
	}
	// Ask for more hits than needed: hash collisions are dropped below.
	offs, err := s.idx.Query(topic, key, 2*maxNum+8, begin, end)
	if err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	res.IndexLastUpdatePhyOffset = s.idx.EndPhyOffset()
	res.IndexLastUpdateTimestamp = s.now().UnixMilli()
	clMin, clMax := s.cl.MinOffset(), s.cl.MaxOffset()
	for _, phy := range offs {
		if len(res.Messages) >= maxNum {
			break
		}
		if phy < clMin || phy >= clMax {
			continue
		}
		v, seg, err := s.cl.ReadRecord(phy)
		if err != nil {
			continue
		}
		if string(v.Topic()) != topic || v.StoreTimestamp() < begin || v.StoreTimestamp() > end || !hasKey(v.Properties(), key, uniqOnly) {
			seg.Release()
			continue
		}
		res.Messages = append(res.Messages, v)
		res.segs = append(res.segs, seg)
	}
	return res, nil
}

func hasKey(props []byte, key string, uniqOnly bool) bool {
	if u, ok := message.Property(props, message.PropertyUniqKey); ok && string(u) == key {
		return true
	}
	if uniqOnly {
		return false
	}
	found := false
	if keys, ok := message.Property(props, message.PropertyKeys); ok {
		message.SplitKeys(keys, func(k []byte) {
			if !found && bytes.Equal(k, []byte(key)) {
				found = true
			}
		})
	}
	return found
}

// MinOffset returns the first queue offset still available in (topic, queueID); 0 for an unknown
// queue.
func (s *Store) MinOffset(topic string, queueID int32) int64 {
	if cq := s.queueByName(topic, queueID); cq != nil {
		return cq.MinOffset()
	}
	return 0
}

// MaxOffset returns the number of messages ever dispatched to (topic, queueID): the offset of the
// next one. 0 for an unknown queue.
func (s *Store) MaxOffset(topic string, queueID int32) int64 {
	if cq := s.queueByName(topic, queueID); cq != nil {
		return cq.MaxOffset()
	}
	return 0
}

// CommitLogMinOffset and CommitLogMaxOffset bound the physical offsets on disk.
func (s *Store) CommitLogMinOffset() int64 { return s.cl.MinOffset() }

// CommitLogMaxOffset returns the physical offset the next record gets.
func (s *Store) CommitLogMaxOffset() int64 { return s.cl.MaxOffset() }

// DispatchedOffset returns the physical offset below which every record is in its ConsumeQueue.
func (s *Store) DispatchedOffset() int64 { return s.dispatched.Load() }

// StoreTime returns the store timestamp (ms) of the message at queue offset off.
func (s *Store) StoreTime(topic string, queueID int32, off int64) (int64, error) {
	cq := s.queueByName(topic, queueID)
	if cq == nil {
		return 0, fmt.Errorf("store: no queue %s-%d", topic, queueID)
	}
	return s.storeTimeAt(cq, off)
}

func (s *Store) storeTimeAt(cq *consumequeue.Queue, off int64) (int64, error) {
	e, err := cq.Get(off)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	if e.Hole() {
		return 0, fmt.Errorf("store: %s-%d offset %d has no message", cq.Topic, cq.QueueID, off)
	}
	b, seg, err := s.cl.Read(e.PhysicalOffset, int(e.Size))
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	defer seg.Release()
	v, err := message.Parse(b)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return v.StoreTimestamp(), nil
}

// EarliestMessageTime returns the store time of the oldest message still in (topic, queueID).
func (s *Store) EarliestMessageTime(topic string, queueID int32) (int64, error) {
	return s.StoreTime(topic, queueID, s.MinOffset(topic, queueID))
}

// OffsetByTime returns the queue offset of the message stored nearest to timestamp (ms), by
// binary search over store times: the first message stored exactly then if there is one, else
// the nearer of the two around it, clamped to the first and last message (RocketMQ's
// getOffsetInQueueByTime). It returns 0 for an empty or unknown queue.
func (s *Store) OffsetByTime(topic string, queueID int32, timestamp int64) (int64, error) {
	cq := s.queueByName(topic, queueID)
	if cq == nil {
		return 0, nil
	}
	lo, hi := cq.MinOffset(), cq.MaxOffset()
	if lo >= hi {
		return lo, nil
	}
	// First offset whose store time is >= timestamp.
	first, last := lo, hi-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		t, err := s.storeTimeAt(cq, mid)
		if err != nil {
			return 0, err
		}
		if t < timestamp {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	switch {
	case lo > last:
		return last, nil
	case lo == first:
		return first, nil
	}
	after, err := s.storeTimeAt(cq, lo)
	if err != nil {
		return 0, err
	}
	if after == timestamp {
		return lo, nil
	}
	before, err := s.storeTimeAt(cq, lo-1)
	if err != nil {
		return 0, err
	}
	if timestamp-before < after-timestamp {
		return lo - 1, nil
	}
	return lo, nil
}

// QueueInfo describes one ConsumeQueue.
type QueueInfo struct {
	Topic     string
	QueueID   int32
	MinOffset int64
	MaxOffset int64
}

// Queues lists every ConsumeQueue.
func (s *Store) Queues() []QueueInfo {
	var out []QueueInfo
	for _, cq := range s.allQueues() {
		out = append(out, QueueInfo{Topic: cq.Topic, QueueID: cq.QueueID, MinOffset: cq.MinOffset(), MaxOffset: cq.MaxOffset()})
	}
	return out
}

// DeleteTopic removes the ConsumeQueues of topic (its records stay in the CommitLog until
// retention deletes them) and forgets its queue offsets.
func (s *Store) DeleteTopic(topic string) error {
	s.omu.Lock()
	delete(s.nextOffs, topic)
	s.omu.Unlock()
	s.qmu.Lock()
	qs := s.queues[topic]
	delete(s.queues, topic)
	s.qmu.Unlock()
	var errs []error
	for _, cq := range qs {
		if err := cq.Destroy(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("store: delete topic %s: %v", topic, errs)
	}
	return nil
}

// QueueEntry returns the ConsumeQueue entry at queue offset off of (topic, queueID): the
// record's physical offset and size, and its tags code (for scheduled messages, the delivery
// time).
func (s *Store) QueueEntry(topic string, queueID int32, off int64) (consumequeue.Entry, error) {
	cq := s.queueByName(topic, queueID)
	if cq == nil {
		return consumequeue.Entry{}, fmt.Errorf("store: no queue %s-%d", topic, queueID)
	}
	e, err := cq.Get(off)
	if err != nil {
		return consumequeue.Entry{}, fmt.Errorf("store: %w", err)
	}
	return e, nil
}
