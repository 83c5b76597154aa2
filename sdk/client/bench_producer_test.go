package client

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkSend measures synchronous sends to a broker in the same process, by body size.
// Bodies are random, so the 16 KiB ones pay for a compression attempt that does not pay off.
//
//	go test -run '^$' -bench BenchmarkSend -count 10 ./sdk/client/ > new.txt && benchstat old.txt new.txt
func BenchmarkSend(b *testing.B) {
	topic := prodName(b, "Bench")
	c := prodCluster(b, topic, 4, nil)
	p := prodNew(b, c.NamesrvAddr)
	ctx := context.Background()
	for _, size := range []int{128, 1 << 10, 16 << 10} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			body := make([]byte, size)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range body {
				body[i] = byte(rng.Uint32())
			}
			msg := &Message{Topic: topic, Body: body, Tag: "bench"}
			if _, err := p.Send(ctx, msg); err != nil { // route and connection outside the timing
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := p.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
