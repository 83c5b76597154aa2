package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/observability/httpserver"
	"github.com/ternmq/tern/observability/metrics"
	"github.com/ternmq/tern/sdk/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scrape is one parsed GET /metrics.
type scrape map[string]*dto.MetricFamily

// scrapeURL fetches and parses url with the Prometheus text parser.
func scrapeURL(t testing.TB, url string) scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// value returns the value of the series of name whose labels include want (counter, gauge,
// or a histogram's count), and whether there is one. Several matches add up.
func (s scrape) value(name string, want map[string]string) (float64, bool) {
	f := s[name]
	if f == nil {
		return 0, false
	}
	sum, found := 0.0, false
	for _, m := range f.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

// each calls fn with the labels and value of every series of name.
func (s scrape) each(name string, fn func(labels map[string]string, v float64)) {
	for _, m := range s[name].GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		fn(l, m.GetGauge().GetValue()+m.GetCounter().GetValue())
	}
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, p := range m.GetLabel() {
		if v, ok := want[p.GetName()]; ok && v == p.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// eventually scrapes until cond holds, failing the test after 20 s. It is a condition wait:
// the scrape is the observation.
func eventually(t *testing.T, url, what string, cond func(scrape) bool) scrape {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for {
		s := scrapeURL(t, url)
		if cond(s) {
			return s
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// startObserved starts a cluster whose broker reports to a new Provider, served on an
// ephemeral loopback port; it returns the cluster and the /metrics URL.
func startObserved(t *testing.T) (*brokertest.Cluster, *metrics.Provider, string) {
	t.Helper()
	p, err := metrics.New(metrics.Options{Logger: brokertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	c := brokertest.Start(t, func(cfg *broker.Config) {
		cfg.Metrics = p
		cfg.Store.OnFlush = p.StoreFlushed
	})
	if err := p.ObserveBroker(c.Broker); err != nil {
		t.Fatal(err)
	}
	srv, err := httpserver.Start(httpserver.Options{Addr: "127.0.0.1:0", Metrics: p.Handler(), Ready: c.Broker.Ready})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) }) // before the broker stops (LIFO)
	return c, p, "http://" + srv.Addr().String()
}

// TestScrapeDuringLoad produces and consumes through the SDK and checks what /metrics shows:
// the per-topic counters grow by exactly what was sent and consumed, and the lag of the group
// rises while its consumer is stopped and falls to 0 once it has consumed and committed.
func TestScrapeDuringLoad(t *testing.T) {
	c, _, base := startObserved(t)
	url := base + "/metrics"
	const topic, group = "MetricsLoad", "metrics-cg"
	const first, second = 40, 25
	if err := c.CreateTopic(topic, 2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	in := map[string]string{"topic": topic}
	out := map[string]string{"topic": topic, "group": group}
	before := scrapeURL(t, url)
	if v, _ := before.value("tern_messages_in_total", in); v != 0 {
		t.Fatalf("messages in before any send: %v", v)
	}
	prod, err := client.NewProducer("metrics-pg", client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close(context.Background())
	sendN := func(n, from int) {
		t.Helper()
		for i := range n {
			if _, err := prod.Send(ctx, &client.Message{Topic: topic, Body: fmt.Appendf(nil, "m%d", from+i)}); err != nil {
				t.Fatalf("send %d: %v", from+i, err)
			}
		}
	}

	// Load 1: produce, then consume everything and commit.
	sendN(first, 0)
	s := scrapeURL(t, url)
	if v, _ := s.value("tern_messages_in_total", in); v != first {
		t.Errorf("messages in after %d sends: %v", first, v)
	}
	if v, _ := s.value("tern_bytes_in_total", in); v <= first*2 {
		t.Errorf("bytes in after %d sends: %v", first, v)
	}
	if v, _ := s.value("tern_send_duration_seconds", nil); v < first {
		t.Errorf("send duration count %v, want at least %d", v, first)
	}
	if v, _ := s.value("tern_store_size_bytes", nil); v <= 0 {
		t.Errorf("store size %v", v)
	}
	cons := consume(ctx, t, c, topic, group, first)
	s = scrapeURL(t, url)
	if v, _ := s.value("tern_messages_out_total", out); v != first {
		t.Errorf("messages out after consuming %d: %v", first, v)
	}
	assertLag(t, s, topic, group, func(total float64, perQueue map[string]float64) bool { return total == 0 && len(perQueue) == 2 })
	// The consumer idles on long polls; stop it and wait for the broker to drop them, so
	// that no pull of a closed consumer reads the next messages.
	eventually(t, url, "held pulls", func(s scrape) bool { v, _ := s.value("tern_longpoll_held", nil); return v > 0 })
	if err := cons.Close(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, url, "no held pulls", func(s scrape) bool { v, _ := s.value("tern_longpoll_held", nil); return v == 0 })

	// Load 2 with the consumer stopped: the lag is what was sent.
	sendN(second, first)
	s = scrapeURL(t, url)
	if v, _ := s.value("tern_messages_in_total", in); v != first+second {
		t.Errorf("messages in after %d sends: %v", first+second, v)
	}
	// The lag is computed at scrape time from the queues, which the dispatcher fills a moment
	// after the send is acknowledged.
	eventually(t, url, fmt.Sprintf("a lag of %d on both queues", second), func(s scrape) bool {
		total, perQueue := lagOf(s, topic, group)
		return total == second && perQueue["0"] > 0 && perQueue["1"] > 0
	})

	// The group comes back, consumes from its committed offsets and commits: no lag.
	cons = consume(ctx, t, c, topic, group, second)
	defer cons.Close(context.Background())
	s = scrapeURL(t, url)
	if v, _ := s.value("tern_messages_out_total", out); v != first+second {
		t.Errorf("messages out after consuming %d: %v", first+second, v)
	}
	assertLag(t, s, topic, group, func(total float64, _ map[string]float64) bool { return total == 0 })
	if v, _ := s.value("tern_pull_duration_seconds", nil); v <= 0 {
		t.Errorf("pull duration count %v", v)
	}

	// One more while the consumer waits on long polls: a held pull wakes up and delivers it.
	eventually(t, url, "held pulls", func(s scrape) bool { v, _ := s.value("tern_longpoll_held", nil); return v > 0 })
	sendN(1, first+second)
	if msgs, err := cons.Poll(ctx); err != nil || len(msgs) != 1 {
		t.Fatalf("poll after a wake-up: %d messages, %v", len(msgs), err)
	}
	if err := cons.CommitAll(ctx); err != nil {
		t.Fatal(err)
	}
	s = scrapeURL(t, url)
	if v, _ := s.value("tern_longpoll_wakeups_total", nil); v <= 0 {
		t.Errorf("long-poll wake-ups %v after a send to a held queue", v)
	}
	if v, _ := s.value("tern_messages_out_total", out); v != first+second+1 {
		t.Errorf("messages out after consuming %d: %v", first+second+1, v)
	}
	assertLag(t, s, topic, group, func(total float64, _ map[string]float64) bool { return total == 0 })
	if _, ok := s.value("tern_delay_backlog", map[string]string{"level": "1"}); !ok {
		t.Error("no delay backlog of level 1")
	}
	for _, name := range []string{"tern_timer_waiting", "tern_transaction_half_pending"} {
		if v, ok := s.value(name, nil); !ok || v != 0 {
			t.Errorf("%s: %v %v, want 0", name, v, ok)
		}
	}
	eventually(t, url, "a CommitLog flush", func(s scrape) bool {
		v, _ := s.value("tern_store_flush_duration_seconds", nil)
		return v > 0
	})
}

// consume reads n messages of topic as group from its committed offsets (the first offset
// without one), commits them, and returns the consumer, still open.
func consume(ctx context.Context, t *testing.T, c *brokertest.Cluster, topic, group string, n int) *client.PullConsumer {
	t.Helper()
	pc, err := client.NewPullConsumer(group, client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger()),
		client.WithConsumeFrom(client.ConsumeFromFirstOffset))
	if err != nil {
		t.Fatal(err)
	}
	qs, err := pc.Queues(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Assign(qs...); err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < n {
		msgs, err := pc.Poll(ctx)
		if err != nil {
			t.Fatalf("poll: %v after %d of %d", err, got, n)
		}
		got += len(msgs)
	}
	if got != n {
		t.Fatalf("consumed %d, want %d", got, n)
	}
	if err := pc.CommitAll(ctx); err != nil {
		t.Fatal(err)
	}
	return pc
}

// assertLag checks the group's tern_consumer_lag series on topic with ok(total, by queue).
func assertLag(t *testing.T, s scrape, topic, group string, ok func(total float64, perQueue map[string]float64) bool) {
	t.Helper()
	total, perQueue := lagOf(s, topic, group)
	if !ok(total, perQueue) {
		t.Errorf("lag of %s on %s: %v in all, by queue %v", group, topic, total, perQueue)
	}
}

// lagOf returns group's lag on topic in s, in all and by queue id.
func lagOf(s scrape, topic, group string) (float64, map[string]float64) {
	total, perQueue := 0.0, map[string]float64{}
	s.each("tern_consumer_lag", func(l map[string]string, v float64) {
		if l["topic"] == topic && l["group"] == group {
			total += v
			perQueue[l["queue_id"]] = v
		}
	})
	return total, perQueue
}

// TestReadyz: /healthz answers at once; /readyz is 503 until the broker serves and has
// registered, 200 then, and 503 again once it closes.
func TestReadyz(t *testing.T) {
	c := brokertest.Start(t, nil) // for its NameServer
	cfg := c.Config
	cfg.Store.StorePathRootDir = t.TempDir()
	cfg.ConfigDir = ""
	cfg.ListenAddr, cfg.BrokerAddr, cfg.BrokerName = "127.0.0.1:0", "127.0.0.1:0", "broker-ready"
	b, err := broker.New(cfg, brokertest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	srv, err := httpserver.Start(httpserver.Options{Addr: "127.0.0.1:0", Ready: b.Ready})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	base := "http://" + srv.Addr().String()
	status := func(path string) int {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("/healthz"); got != http.StatusOK {
		t.Errorf("healthz before start: %d", got)
	}
	if got := status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("readyz before start: %d", got)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := status("/readyz"); got != http.StatusOK {
		t.Errorf("readyz after start: %d (%v)", got, b.Ready())
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("readyz after close: %d", got)
	}
}
