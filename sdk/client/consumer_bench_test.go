package client

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkConsume measures a push consumer draining a backlog of 1 KiB messages from a broker
// in the same process (4 queues), from Start until the last message is handled, by consume
// mode and batch size. The backlog is produced before the timer starts.
//
//	go test -run '^$' -bench BenchmarkConsume -count 10 ./sdk/client/ > new.txt && benchstat old.txt new.txt
func BenchmarkConsume(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []PushConsumerOption
	}{
		{"concurrent/batch=1", []PushConsumerOption{WithConsumeBatchSize(1)}},
		{"concurrent/batch=32", []PushConsumerOption{WithConsumeBatchSize(32)}},
		{"orderly/batch=32", []PushConsumerOption{WithOrderly(true), WithConsumeBatchSize(32)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const size, queues = 1 << 10, 4
			topic := consName("Bench")
			c := consCluster(b, topic, queues)
			s := newConsSender(b, c)
			body := make([]byte, size)
			var wg sync.WaitGroup
			for q := range queues {
				wg.Go(func() {
					for i := q; i < b.N; i += queues {
						if _, err := s.trySend(int32(q), &Message{Topic: topic, Body: body}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if b.Failed() {
				return
			}
			var consumed atomic.Int64
			done := make(chan struct{})
			n := int64(b.N)
			pc := consNew(b, c, consName("cg"), append([]PushConsumerOption{WithConsumeGoroutines(8), WithPendingLimits(4096, 64<<20)}, bc.opts...)...)
			if err := pc.Subscribe(topic, Tag("*"), func(_ context.Context, msgs []*MessageExt) (ConsumeResult, error) {
				if consumed.Add(int64(len(msgs))) == n {
					close(done)
				}
				return ConsumeSuccess, nil
			}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			if err := pc.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("consumed %d of %d", consumed.Load(), n)
			}
			b.StopTimer()
			consClose(b, pc)
		})
	}
}
