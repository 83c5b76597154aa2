package timer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store"
	"github.com/ternmq/tern/core/store/commitlog"
	"github.com/ternmq/tern/core/store/consumequeue"
)

// Errors of Cancel.
var (
	ErrNotFound  = errors.New("timer: no scheduled message with this id on this topic")
	ErrDelivered = errors.New("timer: the message was already delivered")
)

// Store is what the timer needs from the message store.
type Store interface {
	QueueEntry(topic string, queueID int32, off int64) (consumequeue.Entry, error)
	MaxOffset(topic string, queueID int32) int64
	MinOffset(topic string, queueID int32) int64
	GetMessage(phy int64) (store.Message, error)
	PutMessages(ctx context.Context, recs []*message.Record) (store.PutResult, error)
	QueryMessage(topic, key string, maxNum int, begin, end int64) (store.QueryResult, error)
	CommitLogMinOffset() int64
	CommitLogMaxOffset() int64
	WaitDispatched(ctx context.Context, offset int64) error
}

// Message is what Decide sees of an inbox message.
type Message struct {
	Topic          string            // the real topic
	Properties     map[string]string // the producer's
	BornTimestamp  int64
	StoreTimestamp int64 // when it entered the inbox
	DelayLevel     int32 // the DELAY property, 0 if none
	DeliverTime    int64 // the requested time (see Requested), 0 if none
}

// DecideFunc returns one delivery time (ms since the epoch) per message. An error holds the
// inbox; the same messages are asked again later.
type DecideFunc func(ctx context.Context, msgs []Message) ([]int64, error)

// Options configure the service.
type Options struct {
	Dir                string        // holds timerlog/ and timerwheel (storePathRootDir)
	ConfigDir          string        // holds timerCheckpoint.json and timerCancel.json
	Horizon            time.Duration // latest delivery ahead of now (default 7 days)
	SegmentSize        int64         // timer log segment size (default 32 MiB)
	CheckpointInterval time.Duration // default 1 s
	Decide             DecideFunc    // nil: the requested time, else now
	// Fired, if set, is called with each fired copy once it is stored, and the time its inbox
	// record was stored (ms since the epoch). It must not block.
	Fired  func(r *message.Record, scheduledAt int64)
	Logger *slog.Logger
	Now    func() time.Time
}

// DefaultHorizon is how far ahead a timer may be by default.
const DefaultHorizon = 7 * 24 * time.Hour

func (o *Options) defaults() {
	if o.Horizon <= 0 {
		o.Horizon = DefaultHorizon
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = 32 << 20
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Decide == nil {
		o.Decide = func(_ context.Context, msgs []Message) ([]int64, error) {
			out := make([]int64, len(msgs))
			for i, m := range msgs {
				out[i] = m.DeliverTime
			}
			return out, nil
		}
	}
}

// batch is inbox messages with their delivery times, on their way to the wheel, and the inbox
// offset after them.
type batch struct {
	items []entry
	next  int64
}

// Stats are the service's counters.
type Stats struct {
	Scheduled int64 // entries written to the wheel
	Fired     int64
	Cancelled int64
	Waiting   int64 // scheduled, not yet fired or cancelled (approximate)
}

// Service is the timing wheel. See the package doc.
type Service struct {
	opts       Options
	st         Store
	log        *slog.Logger
	w          *wheel
	ckptPath   string
	cancelPath string

	// Owned by the wheel loop (by New before Start).
	inboxNext    int64 // inbox offset up to which every message is in the log or fired
	firedUpTo    int64
	loadedUpTo   int64 // slots before it are in the heap
	heap         entryHeap
	segMax       map[int64]int64
	synced       int64 // log synced up to here
	recoverUntil int64 // after an unclean stop: entries due at or before it are checked first
	checkedIndex bool  // the index has caught up with the CommitLog as it was at start

	fireMu    sync.Mutex // held while firing; guards cancelled
	cancelled map[int64]bool

	floor                atomic.Int64 // lowest CommitLog offset a timer still needs
	scheduled, fired, nc atomic.Int64

	batches chan batch
	wake    chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
	started bool
	once    sync.Once
}

// New opens the timer's files and recovers its state. Start launches it.
func New(st Store, opts Options) (*Service, error) {
	opts.defaults()
	slots := int64(2*opts.Horizon/time.Second) + 86400
	w, err := openWheel(opts.Dir, slots, opts.SegmentSize)
	if err != nil {
		return nil, err
	}
	s := &Service{
		opts: opts, st: st, log: opts.Logger, w: w,
		ckptPath: filepath.Join(opts.ConfigDir, "timerCheckpoint.json"), cancelPath: filepath.Join(opts.ConfigDir, "timerCancel.json"),
		batches: make(chan batch, 4), wake: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	if err := s.recover(); err != nil {
		w.close()
		return nil, err
	}
	return s, nil
}

func (s *Service) recover() error {
	c, found, err := readCheckpoint(s.ckptPath)
	if err != nil {
		return err
	}
	if s.cancelled, err = readCancels(s.cancelPath); err != nil {
		return err
	}
	now := s.opts.Now().UnixMilli()
	if !found {
		c = checkpoint{InboxOffset: s.st.MinOffset(Topic, 0), LogEnd: s.w.end, FiredUpTo: now, Clean: s.w.end == 0}
	}
	s.inboxNext, s.firedUpTo, s.segMax = c.InboxOffset, c.FiredUpTo, segMaxFromFile(c.SegmentMax)
	if err := s.w.truncate(c.LogEnd); err != nil {
		return err
	}
	if !c.Clean {
		if s.segMax, err = s.w.rebuild(s.firedUpTo); err != nil {
			return fmt.Errorf("timer: rebuild the wheel from the log: %w", err)
		}
		s.recoverUntil = now
		s.log.Info("timer recovered after an unclean stop", "log_end", s.w.end, "fired_up_to", s.firedUpTo, "inbox_offset", s.inboxNext)
	}
	s.loadedUpTo = s.firedUpTo - s.firedUpTo%precision
	s.synced = s.w.log.MinOffset()
	s.updateFloor()
	// From here on a crash is unclean, whatever the file said.
	return s.checkpoint(false)
}

// CheckFiredUntil makes every timer due at or before until (ms) be checked against the message
// index before it fires, as after an unclean stop. A slave that becomes the master calls it
// before Start: its wheel was rebuilt from the replicated inbox, and the old master may have
// fired any timer due before the failover (until covers the clocks' skew too).
func (s *Service) CheckFiredUntil(until int64) {
	s.recoverUntil = max(s.recoverUntil, until)
}

// Start launches the decide stage and the wheel loop; Close stops them.
func (s *Service) Start() {
	if s.started {
		return
	}
	s.started = true
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.decideLoop() }()
	go func() { defer s.wg.Done(); s.wheelLoop() }()
}

// Wake tells the service new inbox messages arrived.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// RetentionFloor returns the lowest CommitLog offset a timer still needs: the store keeps
// every segment at or above it.
func (s *Service) RetentionFloor() int64 { return s.floor.Load() }

// Horizon returns how far ahead a timer may be.
func (s *Service) Horizon() time.Duration { return s.opts.Horizon }

// Stats returns the counters.
func (s *Service) Stats() Stats {
	sc, f, c := s.scheduled.Load(), s.fired.Load(), s.nc.Load()
	return Stats{Scheduled: sc, Fired: f, Cancelled: c, Waiting: max(sc-f-c, 0)}
}

// Close stops the service and writes a clean checkpoint.
func (s *Service) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	err := s.checkpoint(true)
	s.w.close()
	return err
}

// decideLoop reads the inbox, decides delivery times and hands batches to the wheel loop.
func (s *Service) decideLoop() {
	cursor := s.inboxNext
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	var failing bool
	for {
		items, next, err := s.readInbox(cursor, 256)
		switch {
		case err != nil:
			if !failing {
				s.log.Warn("timer: deciding delivery times failed; holding the inbox and retrying", "err", err)
			}
			failing = true
		case len(items) > 0 || next > cursor:
			if failing {
				s.log.Info("timer: deciding delivery times again")
			}
			failing = false
			select {
			case s.batches <- batch{items: items, next: next}:
			case <-s.stop:
				return
			}
			cursor = next
			continue
		}
		wake := s.wake
		if failing {
			// New messages change nothing while the scheduler fails: wait for the retry alone,
			// rather than calling it again for every arrival.
			wake = nil
		}
		retry.Reset(100 * time.Millisecond)
		select {
		case <-s.stop:
			return
		case <-wake:
		case <-retry.C:
		}
	}
}

// readInbox reads up to n inbox messages from off and decides their times. It returns them and
// the offset after the last one read.
func (s *Service) readInbox(off int64, n int) ([]entry, int64, error) {
	off = max(off, s.st.MinOffset(Topic, 0))
	end := s.st.MaxOffset(Topic, 0)
	var items []entry
	var ask []Message
	var askIdx []int
	for ; off < end && len(items) < n; off++ {
		ce, err := s.st.QueueEntry(Topic, 0, off)
		if err != nil {
			return nil, 0, err
		}
		if ce.Hole() {
			continue
		}
		m, err := s.st.GetMessage(ce.PhysicalOffset)
		if err != nil {
			if errors.Is(err, commitlog.ErrOutOfRange) && ce.PhysicalOffset >= s.st.CommitLogMinOffset() {
				break // not readable yet: later
			}
			s.log.Error("timer: inbox record unreadable; skipped", "phy_offset", ce.PhysicalOffset, "err", err)
			continue
		}
		v := m.View
		it := entry{phy: ce.PhysicalOffset, size: int32(v.Size())}
		props := v.Properties()
		if at, ok := message.Property(props, PropertyAt); ok {
			it.at, _ = strconv.ParseInt(string(at), 10, 64)
		} else {
			pm := message.ParseProperties(props)
			topic := pm[message.PropertyRealTopic]
			req, _, _ := Requested(props, v.StoreTimestamp())
			level, _ := strconv.Atoi(pm[message.PropertyDelayLevel])
			delete(pm, message.PropertyRealTopic)
			delete(pm, message.PropertyRealQueueID)
			ask = append(ask, Message{Topic: topic, Properties: pm, BornTimestamp: v.BornTimestamp(), StoreTimestamp: v.StoreTimestamp(), DelayLevel: int32(level), DeliverTime: req})
			askIdx = append(askIdx, len(items))
		}
		m.Release()
		items = append(items, it)
	}
	if len(ask) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ats, err := s.opts.Decide(ctx, ask)
		cancel()
		if err == nil && len(ats) != len(ask) {
			err = fmt.Errorf("timer: %d delivery times for %d messages", len(ats), len(ask))
		}
		if err != nil {
			return nil, 0, err
		}
		for i, at := range ats {
			items[askIdx[i]].at = at
		}
	}
	return items, off, nil
}
