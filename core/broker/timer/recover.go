package timer

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/ternmq/tern/core/message"
)

// checkpoint syncs the log and the wheel and records the loop's progress (see the package
// doc). clean marks a stop after which nothing needs checking. Only the wheel loop (or New and
// Close, when it is not running) calls it.
func (s *Service) checkpoint(clean bool) error {
	if err := s.w.sync(s.synced); err != nil {
		return err
	}
	s.synced = s.w.end
	if n, err := s.w.removeBefore(s.segMax, s.firedUpTo); err != nil {
		s.log.Warn("timer: delete fired log segments failed", "err", err)
	} else if n > 0 {
		s.log.Debug("timer: deleted fired log segments", "count", n)
	}
	s.updateFloor()
	return writeCheckpoint(s.ckptPath, checkpoint{
		InboxOffset: s.inboxNext, LogEnd: s.w.end, FiredUpTo: s.firedUpTo,
		SegmentMax: segMaxToFile(s.segMax), Clean: clean,
	})
}

// updateFloor computes the lowest CommitLog offset still needed: the oldest live log entry's
// inbox record, or the next inbox record not yet in the log.
func (s *Service) updateFloor() {
	floor := int64(math.MaxInt64)
	if first := s.w.log.MinOffset(); first < s.w.end {
		if e, _, err := s.w.read(first); err == nil {
			floor = e.phy
		}
	}
	if s.inboxNext < s.st.MaxOffset(Topic, 0) {
		if ce, err := s.st.QueueEntry(Topic, 0, max(s.inboxNext, s.st.MinOffset(Topic, 0))); err == nil && !ce.Hole() {
			floor = min(floor, ce.PhysicalOffset)
		}
	}
	s.floor.Store(floor)
}

// firedBefore reports whether the inbox record v at phy was fired before an unclean stop (see
// firedCopy), after waiting once for the index to catch up with the CommitLog recovered at
// start.
func (s *Service) firedBefore(v message.View, phy int64) bool {
	if !s.checkedIndex {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := s.st.WaitDispatched(ctx, s.st.CommitLogMaxOffset()); err != nil {
			s.log.Warn("timer: the index has not caught up; firing without the duplicate check", "err", err)
		}
		cancel()
		s.checkedIndex = true
	}
	return s.firedCopy(v, phy)
}

// firedCopy reports whether the real topic of the inbox record v at phy holds a fired copy of
// it (its UNIQ_KEY and PropertySource = phy), as far as the index reaches.
func (s *Service) firedCopy(v message.View, phy int64) bool {
	props := v.Properties()
	key, ok := message.Property(props, message.PropertyUniqKey)
	topic, tok := message.Property(props, message.PropertyRealTopic)
	if !ok || !tok {
		return false
	}
	res, err := s.st.QueryMessage(string(topic), string(key), 32, v.StoreTimestamp(), math.MaxInt64)
	if err != nil {
		return false
	}
	defer res.Release()
	src := strconv.FormatInt(phy, 10)
	for _, m := range res.Messages {
		if p, ok := message.Property(m.Properties(), PropertySource); ok && string(p) == src {
			return true
		}
	}
	return false
}

// Cancel cancels the scheduled message of topic whose message id (UNIQ_KEY) is msgID. It
// returns ErrNotFound when there is none, and ErrDelivered when it has fired. Once Cancel has
// returned nil the message is never delivered, whatever happens to the broker.
func (s *Service) Cancel(ctx context.Context, topic, msgID string) error {
	s.fireMu.Lock()
	defer s.fireMu.Unlock()
	// Everything stored so far is indexed before the look-up: the message itself, which a
	// client may cancel as soon as its send returns (acknowledged once in the CommitLog, indexed
	// just after), and any copy fired before this cancel (firedCopy).
	if err := s.st.WaitDispatched(ctx, s.st.CommitLogMaxOffset()); err != nil {
		return fmt.Errorf("timer: cancel: %w", err)
	}
	res, err := s.st.QueryMessage(Topic, msgID, 32, 0, math.MaxInt64)
	if err != nil {
		return fmt.Errorf("timer: cancel: %w", err)
	}
	defer res.Release()
	found := false
	for _, v := range res.Messages {
		props := v.Properties()
		if t, _ := message.Property(props, message.PropertyRealTopic); string(t) != topic {
			continue
		}
		if k, _ := message.Property(props, message.PropertyUniqKey); string(k) != msgID {
			continue
		}
		found = true
		phy := v.PhysicalOffset()
		if s.cancelled[phy] {
			return nil
		}
		if s.firedCopy(v, phy) {
			continue
		}
		s.cancelled[phy] = true
		if err := writeCancels(s.cancelPath, s.cancelled); err != nil {
			delete(s.cancelled, phy)
			return err
		}
		return nil
	}
	if found {
		return ErrDelivered
	}
	return ErrNotFound
}

// Cancelled reports whether the timer of the inbox record at CommitLog offset phy was
// cancelled.
func (s *Service) Cancelled(phy int64) bool {
	s.fireMu.Lock()
	defer s.fireMu.Unlock()
	return s.cancelled[phy]
}
