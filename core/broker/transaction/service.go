package transaction

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store"
	"github.com/ternmq/tern/core/store/commitlog"
	"github.com/ternmq/tern/core/store/consumequeue"
)

// Store is what the service needs from the message store.
type Store interface {
	QueueEntry(topic string, queueID int32, off int64) (consumequeue.Entry, error)
	MinOffset(topic string, queueID int32) int64
	MaxOffset(topic string, queueID int32) int64
	GetMessage(phy int64) (store.Message, error)
	CommitLogMinOffset() int64
	PutMessages(ctx context.Context, recs []*message.Record) (store.PutResult, error)
}

// Offsets keeps the check loop's progress: the broker's consumer offsets.
type Offsets interface {
	Query(group, topic string, queueID int32) (offset int64, ok bool)
	Commit(group, topic string, queueID int32, offset int64)
}

// Checker asks whoever decides a transaction's outcome about an unresolved one. The answer
// comes later, as an END_TRANSACTION, so Check only sends; it must not block for long. The
// broker's default asks a producer of the group (CHECK_TRANSACTION_STATE).
type Checker interface {
	Check(ctx context.Context, req CheckRequest) error
}

// Options configure a Service. Timeout, CheckInterval and CheckMax are the broker's
// transactionTimeOut, transactionCheckInterval and transactionCheckMax.
type Options struct {
	Timeout       time.Duration
	CheckInterval time.Duration
	CheckMax      int
	// Host is the BORNHOST of the op records the service writes (the broker's address).
	Host netip.AddrPort
	// Rewrite, if set, may reroute a committed message before it is stored (delay levels).
	Rewrite func(*message.Record) (bool, error)
	Logger  *slog.Logger
	Now     func() time.Time
}

// Service runs transactions on a store: END_TRANSACTION (End) and the check loop.
type Service struct {
	opts    Options
	st      Store
	offs    Offsets
	checker Checker
	log     *slog.Logger
	ledger  *Ledger

	runMu sync.Mutex // serialises check runs

	mu      sync.Mutex // guards started and closed
	started bool
	closed  bool
	ctx     context.Context // ends runs and waits when the service closes
	cancel  context.CancelFunc
	stopped chan struct{}
}

// New rebuilds the transaction state from the store and the offsets (see the package doc).
// Start launches the check loop.
func New(st Store, offs Offsets, checker Checker, opts Options) (*Service, error) {
	if opts.Timeout < 0 || opts.CheckInterval <= 0 || opts.CheckMax < 1 {
		return nil, fmt.Errorf("transaction: timeout %v, check interval %v and check max %d must be positive", opts.Timeout, opts.CheckInterval, opts.CheckMax)
	}
	if !opts.Host.IsValid() {
		return nil, errors.New("transaction: no host address for the op records")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{opts: opts, st: st, offs: offs, checker: checker, log: opts.Logger, stopped: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.rebuild(); err != nil {
		s.cancel()
		return nil, err
	}
	return s, nil
}

// rebuild loads the ledger: resolved transactions from the op records from opProgress on,
// re-appended copies from progress on.
func (s *Service) rebuild() error {
	progress, _ := s.offs.Query(CheckGroup, HalfTopic, 0)
	progress = max(progress, s.st.MinOffset(HalfTopic, 0))
	opProgress, _ := s.offs.Query(CheckGroup, OpTopic, 0)
	opProgress = max(opProgress, s.st.MinOffset(OpTopic, 0))
	l := NewLedger(progress, opProgress)
	err := s.scan(OpTopic, opProgress, func(off int64, v message.View) {
		if origin, o, ok := parseOp(v); ok {
			l.Load(origin, o, off)
		}
	})
	if err == nil {
		err = s.scan(HalfTopic, progress, func(off int64, v message.View) {
			h := halfOf(off, v)
			l.LoadCopy(h.Offset, h.Origin)
		})
	}
	if err != nil {
		return fmt.Errorf("transaction: rebuild: %w", err)
	}
	l.Prune()
	s.ledger = l
	st := l.Stats()
	s.log.Info("transaction state loaded", "progress", st.Progress, "op_progress", st.OpProgress, "floor", st.Floor,
		"resolved", st.Resolved, "carried", st.Carried)
	return nil
}

// scan calls fn with every readable record of (topic, 0) from offset from to the queue's end.
func (s *Service) scan(topic string, from int64, fn func(off int64, v message.View)) error {
	for off, end := from, s.st.MaxOffset(topic, 0); off < end; off++ {
		m, ok, err := s.read(topic, off)
		if err != nil {
			return err
		}
		if ok {
			fn(off, m.View)
			m.Release()
		}
	}
	return nil
}

// read returns the record at queue offset off of (topic, 0). ok is false for a hole or a
// record that is gone or corrupt (logged); err is set if the store is closed, the queue cannot
// be read, or the record is not deleted yet not readable (read it again later).
func (s *Service) read(topic string, off int64) (m store.Message, ok bool, err error) {
	e, err := s.st.QueueEntry(topic, 0, off)
	if err != nil {
		return store.Message{}, false, fmt.Errorf("%s offset %d: %w", topic, off, err)
	}
	if e.Hole() {
		return store.Message{}, false, nil
	}
	m, err = s.st.GetMessage(e.PhysicalOffset)
	if errors.Is(err, store.ErrClosed) {
		return store.Message{}, false, err
	}
	if errors.Is(err, commitlog.ErrOutOfRange) && e.PhysicalOffset >= s.st.CommitLogMinOffset() {
		// Not deleted, so not lost: the caller stops here and reads it again later.
		return store.Message{}, false, fmt.Errorf("%s offset %d: not readable: %w", topic, off, err)
	}
	if err != nil {
		s.log.Error("transaction record unreadable; skipped", "topic", topic, "offset", off, "phy_offset", e.PhysicalOffset, "err", err)
		return store.Message{}, false, nil
	}
	return m, true, nil
}

// put appends recs. It fails only if nothing was written: records written but not flushed in
// time count as written (as RocketMQ counts FLUSH_DISK_TIMEOUT).
func (s *Service) put(ctx context.Context, recs ...*message.Record) error {
	res, err := s.st.PutMessages(ctx, recs)
	if err != nil && res.Count == 0 {
		return err
	}
	if err != nil {
		s.log.Warn("transaction records written but not flushed in time", "topic", recs[0].Topic, "err", err)
	}
	return nil
}

// EndRequest is an END_TRANSACTION commit or rollback.
type EndRequest struct {
	ProducerGroup  string
	QueueOffset    int64   // tranStateTableOffset: the named copy's half-topic queue offset
	PhysicalOffset int64   // commitLogOffset: the named copy's physical offset
	Outcome        Outcome // Committed or RolledBack
}

// End commits or rolls back the transaction of the half message the request names. It is
// idempotent (see the package doc): it returns nil if the transaction is now resolved as asked
// (a rollback also accepts a discard), a *ResolvedError if it was resolved otherwise before,
// ErrNoHalf or ErrMismatch if the request names no matching half message, or the store's error.
func (s *Service) End(ctx context.Context, req EndRequest) error {
	if req.Outcome != Committed && req.Outcome != RolledBack {
		return fmt.Errorf("transaction: end with outcome %v", req.Outcome)
	}
	m, err := s.st.GetMessage(req.PhysicalOffset)
	if err != nil {
		return fmt.Errorf("%w: offset %d: %w", ErrNoHalf, req.PhysicalOffset, err)
	}
	defer m.Release()
	v := m.View
	if string(v.Topic()) != HalfTopic || message.TxType(v.SysFlag()) != message.TxNotType {
		return fmt.Errorf("%w: the message at offset %d is in %s", ErrNoHalf, req.PhysicalOffset, v.Topic())
	}
	if pg, _ := message.Property(v.Properties(), message.PropertyProducerGroup); string(pg) != req.ProducerGroup {
		return fmt.Errorf("%w: producer group %q, the half message's is %q", ErrMismatch, req.ProducerGroup, pg)
	}
	if v.QueueOffset() != req.QueueOffset {
		return fmt.Errorf("%w: tranStateTableOffset %d, the half message's queue offset is %d", ErrMismatch, req.QueueOffset, v.QueueOffset())
	}
	h := halfOf(v.QueueOffset(), v)
	for {
		out, wait := s.ledger.Claim(h.Origin, s.st.MaxOffset(OpTopic, 0))
		if wait != nil {
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		if out != Unresolved {
			if out == req.Outcome || out == Discarded && req.Outcome == RolledBack {
				return nil
			}
			return &ResolvedError{Origin: h.Origin, Outcome: out}
		}
		break
	}
	op := opRecord(h.Origin, req.Outcome, s.opts.Now(), s.opts.Host)
	recs := []*message.Record{op}
	if req.Outcome == Committed {
		msg, err := commitRecord(v)
		if err == nil && s.opts.Rewrite != nil {
			_, err = s.opts.Rewrite(msg)
		}
		if err != nil {
			s.ledger.Release(h.Origin)
			return err
		}
		recs = []*message.Record{msg, op} // the message first: the op record must never come alone
	}
	if err := s.put(ctx, recs...); err != nil {
		s.ledger.Release(h.Origin)
		return fmt.Errorf("transaction: %v half message %d: %w", req.Outcome, h.Origin, err)
	}
	s.ledger.Settle(h.Origin, req.Outcome, op.QueueOffset)
	return nil
}

// Start launches the check loop; Close stops it.
func (s *Service) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	go s.loop()
}

func (s *Service) loop() {
	defer close(s.stopped)
	tick := time.NewTicker(s.opts.CheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
			if _, err := s.CheckOnce(s.ctx); err != nil && s.ctx.Err() == nil {
				s.log.Warn("transaction check run failed; retrying next interval", "err", err)
			}
		}
	}
}

// Close stops the check loop (if started) and waits for it. Each run commits the progress it
// reached to the offsets, so nothing is left to persist here.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	started := s.started
	s.mu.Unlock()
	s.cancel()
	if started {
		<-s.stopped
	}
	return nil
}

// Report counts what a check run did.
type Report struct {
	Examined, Skipped, Checked, Deferred, Discarded int
	Waited                                          bool // stopped at a copy to look at next time
}

// CheckOnce runs the check loop once: over the half queue from progress to its current end
// (see the package doc), then commits the progress. The loop calls it every CheckInterval;
// tests call it directly.
func (s *Service) CheckOnce(ctx context.Context) (Report, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	var rep Report
	err := s.run(ctx, &rep)
	progress, opProgress := s.ledger.Prune()
	s.offs.Commit(CheckGroup, HalfTopic, 0, progress) // progress first: see the package doc
	s.offs.Commit(CheckGroup, OpTopic, 0, opProgress)
	if rep.Checked+rep.Deferred+rep.Discarded > 0 {
		s.log.Info("transaction check run", "examined", rep.Examined, "checked", rep.Checked, "deferred", rep.Deferred,
			"discarded", rep.Discarded, "progress", progress)
	}
	return rep, err
}

func (s *Service) run(ctx context.Context, rep *Report) error {
	now := s.opts.Now()
	lim := Limits{Timeout: s.opts.Timeout, CheckMax: s.opts.CheckMax}
	if low := s.st.MinOffset(HalfTopic, 0); low > s.ledger.Progress() {
		s.log.Warn("half messages deleted before they were resolved", "from", s.ledger.Progress(), "to", low)
		s.ledger.SkipTo(low)
	}
	// Copies appended during the run (its own re-appends among them) wait for the next one.
	for off, end := s.ledger.Progress(), s.st.MaxOffset(HalfTopic, 0); off < end; off++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.ledger.Resolved(off) {
			// A first copy whose transaction is resolved (the common case): no need to read it.
			rep.Examined++
			rep.Skipped++
			s.ledger.Passed(Half{Offset: off, Origin: off}, -1)
			continue
		}
		m, ok, err := s.read(HalfTopic, off)
		if err != nil {
			return err
		}
		if !ok {
			s.ledger.Passed(Half{Offset: off, Origin: off}, -1)
			continue
		}
		act, err := s.step(ctx, halfOf(off, m.View), m.View, now, lim, rep)
		m.Release()
		if err != nil || act == Wait {
			rep.Waited = act == Wait
			return err
		}
	}
	return nil
}

// step decides about one copy and acts on it. An error, or Wait, ends the run there.
func (s *Service) step(ctx context.Context, h Half, v message.View, now time.Time, lim Limits, rep *Report) (Action, error) {
	rep.Examined++
	act := s.ledger.Decide(h, now, lim)
	switch act {
	case Skip:
		rep.Skipped++
		s.ledger.Passed(h, -1)
	case Defer, Check:
		times := h.CheckTimes
		if act == Check {
			times++
		}
		r, err := renewRecord(v, h, times)
		if err == nil {
			err = s.put(ctx, r)
		}
		if errors.Is(err, store.ErrMessageIllegal) || errors.Is(err, store.ErrMessageTooLarge) {
			// It would fail the same way every run and hold back every copy behind it.
			s.log.Error("half message cannot be re-appended; discarding it", "offset", h.Offset, "err", err)
			return s.discard(ctx, h, v, rep)
		}
		if err != nil {
			return Wait, fmt.Errorf("transaction: re-append half message %d: %w", h.Offset, err)
		}
		s.ledger.Passed(h, r.QueueOffset)
		if act == Defer {
			rep.Deferred++
			break
		}
		rep.Checked++
		req, ok := checkRequest(r)
		if !ok {
			s.log.Error("half message without a real topic cannot be checked", "offset", r.QueueOffset)
			break
		}
		if err := s.checker.Check(ctx, req); err != nil {
			s.log.Info("transaction check not sent", "producer_group", req.ProducerGroup, "offset", r.QueueOffset,
				"check_times", times, "err", err)
		}
	case Discard:
		return s.discard(ctx, h, v, rep)
	}
	return act, nil
}

// discard moves copy h to CheckMaxTopic and resolves its transaction as Discarded, unless it
// was resolved meanwhile. It returns Wait if the transaction is being resolved right now.
func (s *Service) discard(ctx context.Context, h Half, v message.View, rep *Report) (Action, error) {
	out, wait := s.ledger.Claim(h.Origin, s.st.MaxOffset(OpTopic, 0))
	if wait != nil {
		return Wait, nil
	}
	if out == Unresolved {
		op := opRecord(h.Origin, Discarded, s.opts.Now(), s.opts.Host)
		if err := s.put(ctx, discardRecord(v), op); err != nil {
			s.ledger.Release(h.Origin)
			return Wait, fmt.Errorf("transaction: discard half message %d: %w", h.Offset, err)
		}
		s.ledger.Settle(h.Origin, Discarded, op.QueueOffset)
		pg, _ := message.Property(v.Properties(), message.PropertyProducerGroup)
		s.log.Warn("transaction discarded", "producer_group", string(pg), "origin", h.Origin,
			"check_times", h.CheckTimes, "topic", CheckMaxTopic)
		rep.Discarded++
	}
	s.ledger.Passed(h, -1)
	return Discard, nil
}

// Ledger returns the service's ledger (for tests and metrics).
func (s *Service) Ledger() *Ledger { return s.ledger }
