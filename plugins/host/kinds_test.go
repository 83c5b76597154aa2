package host

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/ternmq/tern/plugins/manifest"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/scheduler"
	"github.com/ternmq/tern/sdk/plugin/txchecker"
)

// fakeSched answers each message's DeliverTime + 1 and each retry's ReconsumeTimes seconds,
// records its batch sizes, and fails every call while broken.
type fakeSched struct {
	broken  bool
	batches []int
}

func (f *fakeSched) Init(context.Context, map[string]any) (scheduler.Info, error) {
	return scheduler.Info{Name: "fake", Version: "1"}, nil
}

func (f *fakeSched) Schedule(_ context.Context, ms []scheduler.Message) ([]int64, error) {
	if f.broken {
		return nil, errors.New("broken")
	}
	f.batches = append(f.batches, len(ms))
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.DeliverTime + 1
	}
	return out, nil
}

func (f *fakeSched) Backoff(_ context.Context, rs []scheduler.Retry) ([]time.Duration, error) {
	if f.broken {
		return nil, errors.New("broken")
	}
	out := make([]time.Duration, len(rs))
	for i, r := range rs {
		out[i] = time.Duration(r.ReconsumeTimes) * time.Second
	}
	return out, nil
}

type fakeChecker struct{ answer txchecker.Resolution }

func (f *fakeChecker) Init(context.Context, map[string]any) (txchecker.Info, error) {
	return txchecker.Info{Name: "fake", NeedsBody: true}, nil
}

func (f *fakeChecker) Check(_ context.Context, ms []txchecker.HalfMessage) ([]txchecker.Resolution, error) {
	out := make([]txchecker.Resolution, len(ms))
	for i := range out {
		out[i] = f.answer
	}
	return out, nil
}

func TestSchedulerAndTxCheckerKinds(t *testing.T) {
	sched, open, checker := &fakeSched{}, &fakeSched{broken: true}, &fakeChecker{answer: txchecker.Rollback}
	opts := testOptions(newRecorder())
	opts.Builtins = Builtins{
		"sched":   {Kind: plugin.KindScheduler, New: func(*slog.Logger) any { return sched }},
		"open":    {Kind: plugin.KindScheduler, New: func(*slog.Logger) any { return open }},
		"checker": {Kind: plugin.KindTxChecker, New: func(*slog.Logger) any { return checker }},
	}
	h, err := start(t, opts,
		manifest.Plugin{Name: "s", Kind: plugin.KindScheduler, Builtin: "sched", MaxBatch: 2, Topics: []string{"orders", "audit-*"}},
		manifest.Plugin{Name: "o", Kind: plugin.KindScheduler, Builtin: "open", FailurePolicy: manifest.FailOpen},
		manifest.Plugin{Name: "c", Kind: plugin.KindTxChecker, Builtin: "checker"},
	)
	if err != nil {
		t.Fatal(err)
	}
	ss := h.Schedulers()
	if len(ss) != 2 || ss[0].Name() != "s" || ss[1].Name() != "o" {
		t.Fatalf("Schedulers = %v", ss)
	}
	s := ss[0]
	for topic, want := range map[string]bool{"orders": true, "audit-x": true, "audit": false, "other": false} {
		if s.Decides(topic) != want {
			t.Errorf("Decides(%q) = %v", topic, !want)
		}
	}
	got, err := s.Schedule(ctx(t), []scheduler.Message{{DeliverTime: 10}, {DeliverTime: 20}, {DeliverTime: 30}})
	if err != nil || !slices.Equal(got, []int64{11, 21, 31}) || !slices.Equal(sched.batches, []int{2, 1}) {
		t.Fatalf("Schedule = %v, %v; batches %v", got, err, sched.batches)
	}
	if d, err := s.Backoff(ctx(t), []scheduler.Retry{{ReconsumeTimes: 3}}); err != nil || !slices.Equal(d, []time.Duration{3 * time.Second}) {
		t.Fatalf("Backoff = %v, %v", d, err)
	}
	// A failing scheduler with the open policy gives no answer and no error: the default applies.
	if got, err := ss[1].Schedule(ctx(t), []scheduler.Message{{}}); got != nil || err != nil {
		t.Fatalf("open Schedule = %v, %v", got, err)
	}
	sched.broken = true
	if _, err := s.Schedule(ctx(t), []scheduler.Message{{}}); !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("closed Schedule of a failing plugin: %v", err)
	}

	c, ok := h.TxChecker()
	if !ok || c.Name() != "c" || !c.NeedsBody() {
		t.Fatalf("TxChecker = %v, %v", c, ok)
	}
	res, err := c.Check(ctx(t), make([]txchecker.HalfMessage, 3))
	if err != nil || !slices.Equal(res, []txchecker.Resolution{txchecker.Rollback, txchecker.Rollback, txchecker.Rollback}) {
		t.Fatalf("Check = %v, %v", res, err)
	}
	checker.answer = 0 // not a resolution
	if _, err := c.Check(ctx(t), make([]txchecker.HalfMessage, 1)); !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("Check with an invalid resolution: %v", err)
	}
	if _, ok := h.Discovery(); ok {
		t.Fatal("Discovery without a discovery entry")
	}
}
