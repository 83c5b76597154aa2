package tracing

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ternmq/tern/sdk/client"
)

// discard is a span exporter that drops everything: the benchmark measures making the spans,
// not shipping them.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkTracingProduceConsume: end-to-end throughput (parallel Sends through an in-process
// broker to a push consumer) with tracing off, on at 1% and on at 100% sampling, the spans
// going through a batch span processor to a discarding exporter. Compare runs with
//
//	go test -run '^$' -bench TracingProduceConsume -benchtime 20000x -count 6 ./observability/tracing/ | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkTracingProduceConsume(b *testing.B) {
	for _, bc := range []struct {
		name  string
		ratio float64 // < 0: tracing off
	}{
		{"off", -1},
		{"on_1pct", 0.01},
		{"on_100pct", 1},
	} {
		b.Run(bc.name, func(b *testing.B) { benchProduceConsume(b, bc.ratio) })
	}
}

func benchProduceConsume(b *testing.B, ratio float64) {
	const size = 256
	var opts []client.Option
	var tp *sdktrace.TracerProvider
	if ratio >= 0 {
		tp = sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(discard{}),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		)
		defer tp.Shutdown(context.Background())
		opts = append(opts, client.WithTracerProvider(tp))
	}
	topic := uniqueName("Bench")
	var btp trace.TracerProvider // nil: the broker traces nothing
	if tp != nil {
		btp = tp
	}
	c := startTraced(b, btp, topic)
	if err := c.CreateTopic(topic, 4); err != nil {
		b.Fatal(err)
	}
	popts := make([]client.ProducerOption, len(opts))
	copts := make([]client.PushConsumerOption, len(opts))
	for i, o := range opts {
		popts[i], copts[i] = o, o
	}
	p := newProducer(b, c, popts...)
	var received atomic.Int64
	all := make(chan struct{})
	var want atomic.Int64
	want.Store(int64(b.N))
	startConsumer(b, c, topic, func(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
		if received.Add(int64(len(msgs))) == want.Load() {
			close(all)
		}
		return client.ConsumeSuccess, nil
	}, copts...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	body := make([]byte, size)
	b.SetBytes(size)
	b.ReportAllocs()
	b.SetParallelism(8) // 8 synchronous senders per CPU
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Send(ctx, &client.Message{Topic: topic, Body: body}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if b.Failed() {
		return
	}
	select {
	case <-all:
	case <-ctx.Done():
		b.Fatalf("consumed %d of %d", received.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
