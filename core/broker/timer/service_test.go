package timer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const realTopic = "Orders"

type fixture struct {
	t    testing.TB
	dir  string
	clk  *clock
	st   *store.Store
	opts Options
}

func newFixture(t testing.TB) *fixture {
	dir := t.TempDir()
	clk := &clock{t: time.UnixMilli(1_800_000_000_000)}
	cfg := store.DefaultConfig(dir)
	cfg.MappedFileSizeCommitLog = 1 << 20
	cfg.MappedFileSizeConsumeQueue = 20 * 1000
	cfg.MaxMessageSize = 64 << 10
	cfg.Now = clk.now
	cfg.DiskUsage = func(string) (float64, error) { return 0.1, nil }
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &fixture{t: t, dir: dir, clk: clk, st: st, opts: Options{
		Dir: dir, ConfigDir: dir, Horizon: time.Hour, SegmentSize: 16 * entrySize, Now: clk.now,
	}}
}

func (f *fixture) open() *Service {
	f.t.Helper()
	s, err := New(f.st, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// park puts a message into the inbox asking for delivery at at (TIMER_DELIVER_MS).
func (f *fixture) park(id string, at int64) {
	f.t.Helper()
	f.store(id, at)
	f.waitDispatched()
}

// store is park without waiting for the message to be dispatched (indexed).
func (f *fixture) store(id string, at int64) {
	f.t.Helper()
	p, _ := message.AppendProperties(nil, map[string]string{
		message.PropertyRealTopic: realTopic, message.PropertyRealQueueID: "1", message.PropertyUniqKey: id,
		message.PropertyTimerDeliverMS: strconv.FormatInt(at, 10),
	})
	r := &message.Record{Topic: Topic, Body: []byte(id), Properties: string(p), BornHost: netip.MustParseAddrPort("1.2.3.4:5")}
	if _, err := f.st.PutMessage(context.Background(), r); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) waitDispatched() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.st.WaitDispatched(ctx, f.st.CommitLogMaxOffset()); err != nil {
		f.t.Fatal(err)
	}
}

// pump hands every inbox message to the wheel, as the decide stage would.
func (f *fixture) pump(s *Service) {
	f.t.Helper()
	for {
		items, next, err := s.readInbox(s.inboxNext, 7)
		if err != nil {
			f.t.Fatal(err)
		}
		if next == s.inboxNext {
			return
		}
		if err := s.enqueue(batch{items: items, next: next}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// delivered returns the fired copies in the real topic: id → times fired, and checks that
// none fired before it was due.
func (f *fixture) delivered() map[string]int {
	f.t.Helper()
	f.waitDispatched()
	out := map[string]int{}
	for off := int64(0); off < f.st.MaxOffset(realTopic, 1); off++ {
		e, err := f.st.QueueEntry(realTopic, 1, off)
		if err != nil {
			f.t.Fatal(err)
		}
		m, err := f.st.GetMessage(e.PhysicalOffset)
		if err != nil {
			f.t.Fatal(err)
		}
		props := message.ParseProperties(m.View.Properties())
		due, _ := strconv.ParseInt(props[PropertyOut], 10, 64)
		if m.View.StoreTimestamp() < due {
			f.t.Errorf("%s fired at %d, due at %d: early", m.View.Body(), m.View.StoreTimestamp(), due)
		}
		if props[message.PropertyRealTopic] != "" || props[message.PropertyTimerDeliverMS] != "" || props[PropertySource] == "" {
			f.t.Errorf("fired copy's properties: %v", props)
		}
		out[string(m.View.Body())]++
		m.Release()
	}
	return out
}

// run steps the wheel, advancing the clock by step each time, until until.
func (f *fixture) run(s *Service, step time.Duration, until time.Time) {
	for f.clk.now().Before(until) {
		f.clk.add(step)
		for s.step() == 0 {
		}
	}
}

func TestFiresOnTimeExactlyOnce(t *testing.T) {
	f := newFixture(t)
	base := f.clk.now()
	s := f.open()
	const n = 60
	for i := range n {
		f.park(fmt.Sprint("m", i), base.Add(time.Duration(i*137-500)*time.Millisecond).UnixMilli())
	}
	f.pump(s)
	f.run(s, 50*time.Millisecond, base.Add(4*time.Second))
	got := f.delivered()
	for i := range n {
		due := base.Add(time.Duration(i*137-500) * time.Millisecond)
		want := 0
		if !due.After(f.clk.now()) {
			want = 1
		}
		if got[fmt.Sprint("m", i)] != want {
			t.Fatalf("m%d (due %v, now %v) fired %d times", i, due.Sub(base), f.clk.now().Sub(base), got[fmt.Sprint("m", i)])
		}
	}
	f.run(s, 50*time.Millisecond, base.Add(10*time.Second))
	if got := f.delivered(); len(got) != n {
		t.Fatalf("%d of %d fired", len(got), n)
	}
	if st := s.Stats(); st.Fired != n || st.Waiting != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Every log segment has fired: all but the last are gone, and nothing holds the CommitLog.
	if err := s.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	if segs := len(s.w.log.Segments()); segs != 1 {
		t.Fatalf("%d log segments left", segs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRestartLosesAndRepeatsNothing(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(map[bool]string{true: "clean", false: "crash"}[clean], func(t *testing.T) {
			f := newFixture(t)
			base := f.clk.now()
			s := f.open()
			const n = 40
			for i := range n {
				f.park(fmt.Sprint("m", i), base.Add(time.Duration(i*100)*time.Millisecond).UnixMilli())
			}
			f.pump(s)
			f.run(s, 20*time.Millisecond, base.Add(time.Second))
			if err := s.checkpoint(false); err != nil {
				t.Fatal(err)
			}
			// Fire more after the checkpoint, and park more: a crash now forgets both.
			f.run(s, 20*time.Millisecond, base.Add(2*time.Second))
			for i := n; i < n+10; i++ {
				f.park(fmt.Sprint("m", i), base.Add(time.Duration(i*100)*time.Millisecond).UnixMilli())
			}
			f.pump(s)
			before := len(f.delivered())
			if clean {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				s.w.close() // no checkpoint: as if the process died
			}
			s = f.open()
			if clean == (s.recoverUntil != 0) {
				t.Fatalf("clean %v, but recoverUntil %d", clean, s.recoverUntil)
			}
			f.pump(s)
			f.run(s, 20*time.Millisecond, base.Add(8*time.Second))
			got := f.delivered()
			for i := range n + 10 {
				if got[fmt.Sprint("m", i)] != 1 {
					t.Fatalf("m%d fired %d times (%d fired before the restart)", i, got[fmt.Sprint("m", i)], before)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t)
	base := f.clk.now()
	s := f.open()
	f.park("early", base.Add(100*time.Millisecond).UnixMilli())
	f.park("late", base.Add(2*time.Second).UnixMilli())
	f.pump(s)
	f.run(s, 50*time.Millisecond, base.Add(time.Second))
	ctx := context.Background()
	if err := s.Cancel(ctx, realTopic, "early"); !errors.Is(err, ErrDelivered) {
		t.Fatalf("cancel a fired timer: %v", err)
	}
	if err := s.Cancel(ctx, realTopic, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel an unknown id: %v", err)
	}
	if err := s.Cancel(ctx, "OtherTopic", "late"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel on another topic: %v", err)
	}
	if err := s.Cancel(ctx, realTopic, "late"); err != nil {
		t.Fatal(err)
	}
	// The cancellation survives a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = f.open()
	f.run(s, 50*time.Millisecond, base.Add(5*time.Second))
	if got := f.delivered(); got["late"] != 0 || got["early"] != 1 {
		t.Fatalf("delivered %v", got)
	}
	if st := s.Stats(); st.Cancelled != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCancelJustStored: a cancel that comes right after its message was stored finds it, though
// the message may not be indexed yet (a client cancelling as soon as its send returns).
func TestCancelJustStored(t *testing.T) {
	f := newFixture(t)
	s := f.open()
	defer s.Close()
	at := f.clk.now().Add(time.Hour).UnixMilli()
	for i := range 50 {
		id := fmt.Sprint("m", i)
		f.store(id, at)
		if err := s.Cancel(context.Background(), realTopic, id); err != nil {
			t.Fatalf("cancel %s right after storing it: %v", id, err)
		}
	}
}

func TestDecideFailureHoldsTheInbox(t *testing.T) {
	f := newFixture(t)
	fail := true
	f.opts.Decide = func(_ context.Context, msgs []Message) ([]int64, error) {
		if fail {
			return nil, errors.New("plugin down")
		}
		out := make([]int64, len(msgs))
		for i, m := range msgs {
			if m.Topic != realTopic || m.Properties[message.PropertyRealTopic] != "" {
				return nil, fmt.Errorf("decide got %+v", m)
			}
			out[i] = m.DeliverTime + 1000 // the plugin's policy: a second later
		}
		return out, nil
	}
	base := f.clk.now()
	s := f.open()
	f.park("a", base.UnixMilli())
	if _, _, err := s.readInbox(s.inboxNext, 10); err == nil {
		t.Fatal("readInbox with a failing Decide: no error")
	}
	fail = false
	f.pump(s)
	f.run(s, 50*time.Millisecond, base.Add(900*time.Millisecond))
	if got := f.delivered(); len(got) != 0 {
		t.Fatalf("fired before the plugin's time: %v", got)
	}
	f.run(s, 50*time.Millisecond, base.Add(1100*time.Millisecond))
	if got := f.delivered(); got["a"] != 1 {
		t.Fatalf("delivered %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestHorizonAndFloor(t *testing.T) {
	f := newFixture(t)
	base := f.clk.now()
	s := f.open()
	f.park("far", base.Add(48*time.Hour).UnixMilli()) // beyond the 1 h horizon: clamped to it
	f.pump(s)
	if s.RetentionFloor() < 0 {
		t.Fatal("no floor")
	}
	if err := s.checkpoint(false); err != nil {
		t.Fatal(err)
	}
	if s.RetentionFloor() != 0 { // the parked message is the CommitLog's first record
		t.Fatalf("floor %d", s.RetentionFloor())
	}
	f.run(s, time.Minute, base.Add(61*time.Minute))
	if got := f.delivered(); got["far"] != 1 {
		t.Fatalf("delivered %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLoop runs the goroutines on the real clock: a message due 200 ms ahead arrives.
func TestLoop(t *testing.T) {
	f := newFixture(t)
	f.clk = nil
	f.opts.Now = nil
	s := f.open()
	s.Start()
	f.park("x", time.Now().Add(200*time.Millisecond).UnixMilli())
	s.Wake()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Fired == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := f.delivered(); got["x"] != 1 {
		t.Fatalf("delivered %v", got)
	}
}
