package timer_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/sdk/client"
)

// BenchmarkLatenessAt10k sends timers due 500 ms after they are sent, at 10,000 a second for
// 5 s, to a broker in process, and reports how late they fired (the fired copy's store time
// minus the due time) and how late the consumer got them, at p50 and p99. One iteration is the
// whole run:
//
//	go test -run '^$' -bench LatenessAt10k -benchtime 1x ./core/broker/timer
func BenchmarkLatenessAt10k(b *testing.B) {
	const rate, seconds = 10_000, 5
	const n = rate * seconds
	for range b.N {
		c := brokertest.Start(b, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		topic := "Lateness"
		p, err := client.NewProducer("lateness-p", client.WithNameServers(c.NamesrvAddr), client.WithAutoCreateTopic(true), client.WithMaxAsyncInflight(256))
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		var fired, got []time.Duration
		done := make(chan struct{})
		cons, err := client.NewPushConsumer("lateness-c", client.WithNameServers(c.NamesrvAddr), client.WithConsumeFrom(client.ConsumeFromFirstOffset), client.WithConsumeGoroutines(4))
		if err != nil {
			b.Fatal(err)
		}
		// Warm up: the topic exists and the consumer holds its queues before the timed run.
		if _, err := p.Send(ctx, &client.Message{Topic: topic, Body: []byte("0")}); err != nil {
			b.Fatal(err)
		}
		cons.Subscribe(topic, client.Tag("*"), func(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				ms, err := strconv.ParseInt(m.Properties["TIMER_OUT_MS"], 10, 64)
				if err != nil {
					continue // the warm-up message
				}
				due := time.UnixMilli(ms)
				fired = append(fired, m.StoreTimestamp.Sub(due))
				got = append(got, now.Sub(due))
			}
			if len(fired) == n {
				close(done)
			}
			return client.ConsumeSuccess, nil
		})
		if err := cons.Start(ctx); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		tick := time.NewTicker(time.Millisecond)
		sent := 0
		for sent < n {
			<-tick.C
			for range rate / 1000 {
				due := time.Now().Add(500 * time.Millisecond)
				if err := p.SendAsync(ctx, &client.Message{Topic: topic, Body: []byte("x"), DeliverAt: due}, func(_ *client.SendResult, err error) {
					if err != nil {
						b.Error(err)
					}
				}); err != nil {
					b.Fatal(err)
				}
				sent++
			}
		}
		tick.Stop()
		select {
		case <-done:
		case <-ctx.Done():
			b.Fatalf("only %d of %d consumed", len(fired), n)
		}
		b.StopTimer()
		mu.Lock()
		slices.Sort(fired)
		slices.Sort(got)
		b.ReportMetric(float64(fired[n/2].Microseconds())/1000, "fire-p50-ms")
		b.ReportMetric(float64(fired[n*99/100].Microseconds())/1000, "fire-p99-ms")
		b.ReportMetric(float64(got[n/2].Microseconds())/1000, "consume-p50-ms")
		b.ReportMetric(float64(got[n*99/100].Microseconds())/1000, "consume-p99-ms")
		mu.Unlock()
		cons.Close(context.Background())
		p.Close(context.Background())
		cancel()
	}
}
