package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/commitlog"
)

// PutResult describes a successful append.
type PutResult struct {
	// PhysicalOffset is the CommitLog offset of the first record; the records of a batch follow
	// each other, each Record.Size() bytes long.
	PhysicalOffset int64
	// QueueOffset is the queue offset of the first record; a batch's records have consecutive
	// queue offsets. Prepared and rolled-back transaction records have no queue offset (0).
	QueueOffset int64
	// StoreTimestamp is the store time (ms) written into the records.
	StoreTimestamp int64
	// Count and Bytes are the number and total size of the records written.
	Count int
	Bytes int
}

// PutMessage stores one record. See PutMessages.
func (s *Store) PutMessage(ctx context.Context, r *message.Record) (PutResult, error) {
	return s.PutMessages(ctx, []*message.Record{r})
}

// PutMessages appends records to the CommitLog in one contiguous write (a batch is never split
// across segments) and returns once they are acknowledged: in the mapped pages for ASYNC_FLUSH,
// on the disk for SYNC_FLUSH. The caller fills topic, queue id, flag, sysflag, born time and
// host, reconsume times, prepared-transaction offset, body and properties; the store fills
// QueueOffset, PhysicalOffset, StoreTimestamp, StoreHost and BodyCRC in each record. With
// ErrFlushTimeout the records were written (the result is valid) but not flushed in time; with
// any other error nothing was written.
func (s *Store) PutMessages(ctx context.Context, recs []*message.Record) (PutResult, error) {
	res, end, err := s.append(recs)
	if err != nil {
		return res, err
	}
	if err := s.cl.WaitFlushed(ctx, end); err != nil {
		return res, err
	}
	return res, nil
}

// PutMessagesThen is PutMessages that does not wait for the acknowledgement: it calls done
// with the result once the records are acknowledged, or with the error. With SYNC_FLUSH the
// flusher calls done after the flush that covers the records (see commitlog.OnFlushed), so
// done must not block; otherwise done is called before PutMessagesThen returns. The records
// are copied into the CommitLog before it returns.
func (s *Store) PutMessagesThen(recs []*message.Record, done func(PutResult, error)) {
	res, end, err := s.append(recs)
	if err != nil {
		done(res, err)
		return
	}
	s.cl.OnFlushed(end, func(err error) { done(res, err) })
}

// append validates recs and appends them; end is the CommitLog offset after the last.
func (s *Store) append(recs []*message.Record) (PutResult, int64, error) {
	if len(recs) == 0 {
		return PutResult{}, 0, fmt.Errorf("%w: empty batch", ErrMessageIllegal)
	}
	if s.closed.Load() {
		return PutResult{}, 0, ErrClosed
	}
	if s.diskFull.Load() {
		return PutResult{}, 0, ErrDiskFull
	}
	total, bodies := 0, 0
	for i, r := range recs {
		if err := message.ValidateTopic(r.Topic); err != nil {
			return PutResult{}, 0, fmt.Errorf("%w: %w", ErrBadTopic, err)
		}
		if r.QueueID < 0 {
			return PutResult{}, 0, fmt.Errorf("%w: queue id %d", ErrMessageIllegal, r.QueueID)
		}
		if len(r.Body) > s.cfg.MaxMessageSize {
			return PutResult{}, 0, fmt.Errorf("%w: body of %d bytes, maxMessageSize is %d", ErrMessageTooLarge, len(r.Body), s.cfg.MaxMessageSize)
		}
		r.StoreHost = s.cfg.StoreHost
		if err := r.Validate(); err != nil {
			return PutResult{}, 0, fmt.Errorf("%w: record %d: %w", ErrMessageIllegal, i, err)
		}
		if strings.IndexByte(r.Properties, 0) >= 0 {
			// Recovery takes a NUL there for the zeros of a torn write.
			return PutResult{}, 0, fmt.Errorf("%w: record %d: NUL byte in the properties", ErrMessageIllegal, i)
		}
		r.BodyCRC = message.BodyCRC(r.Body)
		total += r.Size()
		bodies += len(r.Body)
	}
	if len(recs) > 1 && bodies > s.cfg.MaxMessageSize {
		return PutResult{}, 0, fmt.Errorf("%w: batch bodies total %d bytes, maxMessageSize is %d", ErrMessageTooLarge, bodies, s.cfg.MaxMessageSize)
	}
	s.prepareQueues(recs)
	var res PutResult
	phy, end, err := s.cl.Append(total, func(dst []byte, phy int64) []byte {
		now := s.now().UnixMilli()
		res.StoreTimestamp = now
		s.omu.Lock()
		for i, r := range recs {
			r.PhysicalOffset = phy
			r.StoreTimestamp = now
			r.QueueOffset = 0 // not consumable: no ConsumeQueue entry
			if message.Queued(r.SysFlag) {
				r.QueueOffset = s.nextOffset(r.Topic, r.QueueID)
			}
			if i == 0 {
				res.QueueOffset = r.QueueOffset
			}
			dst = message.AppendRecord(dst, r)
			phy += int64(r.Size())
		}
		s.omu.Unlock()
		return dst
	})
	if errors.Is(err, commitlog.ErrClosed) {
		return PutResult{}, 0, ErrClosed
	} else if err != nil {
		return PutResult{}, 0, fmt.Errorf("store: %w", err)
	}
	res.PhysicalOffset, res.Count, res.Bytes = phy, len(recs), total
	if s.cfg.FlushDiskType == AsyncFlush {
		s.wakeDispatcher() // with SYNC_FLUSH the records become readable at the flush, which wakes it
	}
	return res, end, nil
}

// nextOffset returns and advances the next queue offset of (topic, qid). s.omu is held.
func (s *Store) nextOffset(topic string, qid int32) int64 {
	offs := s.nextOffs[topic]
	if int(qid) >= len(offs) {
		grown := make([]int64, qid+1)
		copy(grown, offs)
		offs = grown
		s.nextOffs[topic] = offs
	}
	off := offs[qid]
	offs[qid] = off + 1
	return off
}
