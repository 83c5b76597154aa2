package tracing

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/sdk/client"
)

// recorder is an in-memory span processor that keeps the ended spans and signals each end,
// so that a test waits for the spans it expects instead of sleeping.
type recorder struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
	ended chan struct{} // capacity 1: a span ended since the last look
}

var _ sdktrace.SpanProcessor = (*recorder)(nil)

func (r *recorder) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (r *recorder) Shutdown(context.Context) error                  { return nil }
func (r *recorder) ForceFlush(context.Context) error                { return nil }

func (r *recorder) OnEnd(s sdktrace.ReadOnlySpan) {
	r.mu.Lock()
	r.spans = append(r.spans, s)
	r.mu.Unlock()
	select {
	case r.ended <- struct{}{}:
	default:
	}
}

// waitFor waits up to d for ok to hold of the ended spans and returns them.
func (r *recorder) waitFor(t testing.TB, d time.Duration, what string, ok func(spans []sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		spans := append([]sdktrace.ReadOnlySpan(nil), r.spans...)
		r.mu.Unlock()
		if ok(spans) {
			return spans
		}
		select {
		case <-r.ended:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; spans: %s", what, spanNames(spans))
		}
	}
}

// newRecordingProvider returns an always-sampling provider recording into a recorder, shut
// down when the test ends.
func newRecordingProvider(t testing.TB) (*sdktrace.TracerProvider, *recorder) {
	rec := &recorder{ended: make(chan struct{}, 1)}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp, rec
}

// named returns the spans called name.
func named(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// has reports whether every name has a span.
func has(names ...string) func([]sdktrace.ReadOnlySpan) bool {
	return func(spans []sdktrace.ReadOnlySpan) bool {
		for _, n := range names {
			if len(named(spans, n)) == 0 {
				return false
			}
		}
		return true
	}
}

func spanNames(spans []sdktrace.ReadOnlySpan) string {
	out := ""
	for _, s := range spans {
		out += fmt.Sprintf("[%s %s parent=%s] ", s.Name(), s.SpanContext().SpanID(), s.Parent().SpanID())
	}
	return out
}

// one returns the only span called name.
func one(t testing.TB, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := named(spans, name)
	if len(got) != 1 {
		t.Fatalf("%d spans named %q, want 1; spans: %s", len(got), name, spanNames(spans))
	}
	return got[0]
}

// attr returns a span's attribute as a string, "" if it has none.
func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// startTraced starts a broker whose tracer is on tp (none when tp is nil), configured further
// by configure if given, and creates topic with one queue.
func startTraced(t testing.TB, tp trace.TracerProvider, topic string, configure ...func(*broker.Config)) *brokertest.Cluster {
	t.Helper()
	c := brokertest.Start(t, func(cfg *broker.Config) {
		if tp != nil {
			cfg.Tracer = NewBrokerTracer(tp)
		}
		for _, f := range configure {
			f(cfg)
		}
	})
	if err := c.CreateTopic(topic, 1); err != nil {
		t.Fatal(err)
	}
	return c
}

var names atomic.Int64

// uniqueName returns a topic or group name not used before in the process.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d_%d", prefix, time.Now().UnixNano()%1_000_000, names.Add(1))
}

// newProducer returns a producer closed with the test.
func newProducer(t testing.TB, c *brokertest.Cluster, opts ...client.ProducerOption) *client.Producer {
	t.Helper()
	opts = append([]client.ProducerOption{client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger())}, opts...)
	p, err := client.NewProducer(uniqueName("pg"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeWithin(t, p) })
	return p
}

// startConsumer starts a push consumer of topic from its first offset, closed with the test.
func startConsumer(t testing.TB, c *brokertest.Cluster, topic string, h client.ConsumeFunc, opts ...client.PushConsumerOption) *client.PushConsumer {
	t.Helper()
	opts = append([]client.PushConsumerOption{
		client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger()),
		client.WithConsumeFrom(client.ConsumeFromFirstOffset),
	}, opts...)
	pc, err := client.NewPushConsumer(uniqueName("cg"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe(topic, client.Tag("*"), h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeWithin(t, pc) })
	return pc
}

func closeWithin(t testing.TB, c interface{ Close(context.Context) error }) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// collect returns a handler passing each message on to the returned channel.
func collect() (client.ConsumeFunc, chan *client.MessageExt) {
	ch := make(chan *client.MessageExt, 1024)
	return func(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
		for _, m := range msgs {
			ch <- m
		}
		return client.ConsumeSuccess, nil
	}, ch
}

// receive waits up to d for a message on ch.
func receive(t testing.TB, ch chan *client.MessageExt, d time.Duration) *client.MessageExt {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(d):
		t.Fatal("timed out waiting for the message")
		return nil
	}
}
