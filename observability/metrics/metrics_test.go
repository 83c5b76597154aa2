package metrics_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/observability/metrics"
	"github.com/ternmq/tern/plugins/host"
	"github.com/ternmq/tern/sdk/plugin"
)

// fakeBroker is a BrokerSource with fixed levels and lags.
type fakeBroker struct {
	g    broker.Gauges
	lags []broker.Lag
}

func (f *fakeBroker) Gauges() broker.Gauges { return f.g }

func (f *fakeBroker) Lags(dst []broker.Lag, limit int) ([]broker.Lag, int) {
	n := min(limit, len(f.lags))
	return append(dst, f.lags[:n]...), len(f.lags) - n
}

// fakePlugins is a PluginSource with fixed stats.
type fakePlugins []host.PluginStats

func (f fakePlugins) Stats() []host.PluginStats { return f }

// newProvider returns a Provider on a bare registry and a function that scrapes it.
func newProvider(t *testing.T, opts metrics.Options) (*metrics.Provider, func() scrape) {
	t.Helper()
	opts.Registry = prometheus.NewRegistry()
	p, err := metrics.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	return p, func() scrape { return scrapeURL(t, srv.URL) }
}

// TestObservedInstruments: every observable instrument reports what its source says, under
// its documented Prometheus name and labels, and lag series are capped.
func TestObservedInstruments(t *testing.T) {
	p, get := newProvider(t, metrics.Options{MaxLagSeries: 2})
	b := &fakeBroker{
		g: broker.Gauges{StoreBytes: 4096, HeldPulls: 3, TimersWaiting: 7, DelayBacklog: []int64{0, 5}, HalfPending: 2},
		lags: []broker.Lag{{Group: "g", Topic: "T", QueueID: 0, Lag: 10}, {Group: "g", Topic: "T", QueueID: 1, Lag: 0},
			{Group: "h", Topic: "T", QueueID: 0, Lag: 99}},
	}
	if err := p.ObserveBroker(b); err != nil {
		t.Fatal(err)
	}
	pl := fakePlugins{
		{Name: "cel", Kind: plugin.KindFilter, State: host.StateUp, Calls: 12, Errors: 2, Timeouts: 1, Restarts: 0},
		{Name: "ext", Kind: plugin.KindFilter, State: host.StateDown, Calls: 4, Errors: 4, Restarts: 3},
	}
	if err := p.ObservePlugins(pl); err != nil {
		t.Fatal(err)
	}
	p.PluginCalled("cel", 2*time.Millisecond)
	p.PluginCalled("cel", 3*time.Millisecond)
	p.StoreFlushed(time.Millisecond)
	s := get()
	cel := map[string]string{"plugin": "cel", "kind": string(plugin.KindFilter)}
	ext := map[string]string{"plugin": "ext"}
	cases := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tern_store_size_bytes", nil, 4096},
		{"tern_longpoll_held", nil, 3},
		{"tern_timer_waiting", nil, 7},
		{"tern_delay_backlog", map[string]string{"level": "1"}, 0},
		{"tern_delay_backlog", map[string]string{"level": "2"}, 5},
		{"tern_transaction_half_pending", nil, 2},
		{"tern_consumer_lag", map[string]string{"group": "g", "topic": "T", "queue_id": "0"}, 10},
		{"tern_consumer_lag", map[string]string{"group": "g", "topic": "T", "queue_id": "1"}, 0},
		{"tern_plugin_calls_total", cel, 12},
		{"tern_plugin_errors_total", cel, 2},
		{"tern_plugin_timeouts_total", cel, 1},
		{"tern_plugin_restarts_total", ext, 3},
		{"tern_plugin_up", cel, 1},
		{"tern_plugin_up", ext, 0},
		{"tern_plugin_call_duration_seconds", map[string]string{"plugin": "cel"}, 2}, // count
		{"tern_store_flush_duration_seconds", nil, 1},                                // count
	}
	for _, c := range cases {
		if v, ok := s.value(c.name, c.labels); !ok || v != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if _, ok := s.value("tern_consumer_lag", map[string]string{"group": "h"}); ok {
		t.Error("a lag series past MaxLagSeries is reported")
	}
	// The sources are read at each scrape.
	b.g.HeldPulls = 0
	if v, _ := get().value("tern_longpoll_held", nil); v != 0 {
		t.Errorf("held pulls after a change: %v", v)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := get().value("tern_longpoll_held", nil); ok {
		t.Error("gauges still reported after Close")
	}
}

// TestRecordingAllocs: recording a send or a pull on a known topic and group allocates
// nothing (the attribute sets are cached).
func TestRecordingAllocs(t *testing.T) {
	p, _ := newProvider(t, metrics.Options{})
	ctx := context.Background()
	p.Sent(ctx, "T", 1, 100, time.Millisecond)
	p.Pulled(ctx, "T", "g", 1, 100, time.Millisecond)
	if n := testing.AllocsPerRun(100, func() { p.Sent(ctx, "T", 1, 100, time.Millisecond) }); n != 0 {
		t.Errorf("Sent allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { p.Pulled(ctx, "T", "g", 1, 100, time.Millisecond) }); n != 0 {
		t.Errorf("Pulled allocates %v times", n)
	}
}

// BenchmarkSent measures recording a send (benchstat: go test -run XXX -bench Sent -count 10).
func BenchmarkSent(b *testing.B) {
	p, err := metrics.New(metrics.Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Sent(ctx, "T", 1, 100, time.Millisecond)
		}
	})
}
