//go:build soak

package reliability

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/sdk/client"
)

// TestOverload points fast producers (asynchronous sends, 1024 in flight each: 8,192 in all,
// twice the broker's 4,096 running requests across its connections) and many slow consumers
// (20 ms a message) at one SYNC_FLUSH `tern dev` for TERN_OVERLOAD_DURATION (default 20s). The
// broker must answer the excess with SYSTEM_BUSY "[OVERLOAD] ..." (core/remoting's in-flight
// limits) instead of queueing it, its peak RSS (VmHWM) must stay under 1 GiB, and once the
// load drops a plain synchronous send must succeed. It prints one "overload:" line with the
// figures.
func TestOverload(t *testing.T) {
	phase := 20 * time.Second
	if v := os.Getenv("TERN_OVERLOAD_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("TERN_OVERLOAD_DURATION=%q: a positive duration please", v)
		}
		phase = d
	}
	const producers, inflight, consumers, size = 8, 1024, 16, 1024
	const rssLimitKB = 1 << 20
	dev := newDev(t, filepath.Join(t.TempDir(), "data"), "flushDiskType=SYNC_FLUSH")
	dev.start()
	topic := "Overload"
	dev.admin("topic", "create", topic, "-q", "16")

	var consumed atomic.Int64
	for i := range consumers {
		slow := func(ctx context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
			select { // a slow consumer: the work takes 20 ms a message
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond * time.Duration(len(msgs))):
			}
			consumed.Add(int64(len(msgs)))
			return client.ConsumeSuccess, nil
		}
		c := startPushConsumer(t, "overload-slow", dev.clientOpts(fmt.Sprintf("slow-%d", i)), topic, slow,
			client.WithConsumeGoroutines(1), client.WithConsumeBatchSize(1))
		defer closeClient(t, c)
	}

	var acked, busy, other atomic.Int64
	var firstBusy, firstOther atomic.Value
	ctx, stop := context.WithTimeout(context.Background(), phase)
	defer stop()
	var wg sync.WaitGroup
	body := make([]byte, size)
	for g := range producers {
		p, err := client.NewProducer("overload-fast", withClient[client.ProducerOption](dev.clientOpts(fmt.Sprintf("fast-%d", g)),
			client.WithMaxAsyncInflight(inflight), client.WithSendRetries(0))...)
		if err != nil {
			t.Fatal(err)
		}
		defer closeClient(t, p)
		wg.Go(func() {
			var sends sync.WaitGroup
			defer sends.Wait()
			for ctx.Err() == nil {
				sends.Add(1)
				err := p.SendAsync(ctx, &client.Message{Topic: topic, Body: body}, func(_ *client.SendResult, err error) {
					defer sends.Done()
					switch {
					case err == nil:
						acked.Add(1)
					case errors.Is(err, client.ErrBrokerBusy):
						busy.Add(1)
						firstBusy.CompareAndSwap(nil, err.Error())
					case ctx.Err() == nil:
						other.Add(1)
						firstOther.CompareAndSwap(nil, err.Error())
					}
				})
				if err != nil {
					sends.Done()
				}
			}
		})
	}
	begin := time.Now()
	var peaks []int64
	var anon int64 // peak anonymous resident memory (heap, stacks): VmHWM also counts the mapped CommitLog pages
	sample := time.NewTicker(time.Second)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-sample.C:
			peaks = append(peaks, dev.sampleRSS())
			if kb, err := procStatus(dev.cmd.Process.Pid, "RssAnon"); err == nil {
				anon = max(anon, kb)
			}
		}
	}
	sample.Stop()
	wg.Wait()
	loaded := time.Since(begin)

	// The load is gone: a synchronous send succeeds again.
	p, err := client.NewProducer("overload-after", withClient[client.ProducerOption](dev.clientOpts("after"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer closeClient(t, p)
	recovered := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.Send(sctx, &client.Message{Topic: topic, Body: []byte("after the storm")}); err != nil {
		t.Fatalf("a send after the load dropped: %v", err)
	}
	took := time.Since(recovered)
	peak := dev.sampleRSS()
	line := fmt.Sprintf("overload: %d producers x %d in flight, %d slow consumers, %v: %d acknowledged (%.0f/s), %d SYSTEM_BUSY, %d other errors, %d consumed; "+
		"broker peak RSS %d KiB (VmHWM, per second %v; anonymous at most %d KiB, the rest is mapped CommitLog pages); a send after the load succeeded in %v; first busy: %v",
		producers, inflight, consumers, loaded.Round(time.Second), acked.Load(), float64(acked.Load())/loaded.Seconds(), busy.Load(), other.Load(),
		consumed.Load(), peak, peaks, anon, took.Round(time.Millisecond), firstBusy.Load())
	t.Log(line)
	fmt.Println(line)
	if o := firstOther.Load(); o != nil {
		t.Logf("first other error: %v", o)
	}
	if busy.Load() == 0 {
		t.Errorf("no send was answered SYSTEM_BUSY")
	} else if b, _ := firstBusy.Load().(string); !strings.Contains(b, "[OVERLOAD]") {
		t.Errorf("busy answer %q does not say [OVERLOAD]", b)
	}
	if peak > rssLimitKB {
		t.Errorf("broker peak RSS %d KiB is above %d KiB", peak, rssLimitKB)
	}
	if err := dev.stop(30 * time.Second); err != nil {
		t.Errorf("stop: %v", err)
	}
}
