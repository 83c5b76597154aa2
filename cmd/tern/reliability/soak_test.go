//go:build soak

package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/sdk/client"
)

// soakConfig is read from the environment (.ci/soak.sh sets it):
//
//	TERN_SOAK_DURATION   production time of each flush mode (default 5m: 10 minutes in all)
//	TERN_SOAK_KILL_MIN   shortest time between two kills (default 20s)
//	TERN_SOAK_KILL_MAX   longest time between two kills (default 60s)
//	TERN_SOAK_MIN_KILLS  kills each flush mode gets at least, production lasting longer if need be (default 3)
//	TERN_SOAK_PRODUCERS  producer goroutines, each sending synchronously (default 4)
//	TERN_SOAK_RATE       messages per second over all producers (default 1000)
//	TERN_SOAK_SIZE       body size in bytes (default 512)
//	TERN_SOAK_BATCH      messages per batch of the last producer, when there are several (default 64)
//	TERN_SOAK_DRAIN      how long consumers get to drain once production stops (default 3m)
type soakConfig struct {
	duration, killMin, killMax, drain time.Duration
	minKills, producers, rate, size   int
	batch                             int
}

func soakConfigFromEnv(t *testing.T) soakConfig {
	t.Helper()
	c := soakConfig{duration: 5 * time.Minute, killMin: 20 * time.Second, killMax: 60 * time.Second, drain: 3 * time.Minute,
		minKills: 3, producers: 4, rate: 1000, size: 512, batch: 64}
	for k, p := range map[string]*time.Duration{"TERN_SOAK_DURATION": &c.duration, "TERN_SOAK_KILL_MIN": &c.killMin,
		"TERN_SOAK_KILL_MAX": &c.killMax, "TERN_SOAK_DRAIN": &c.drain} {
		if v := os.Getenv(k); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				t.Fatalf("%s=%q: a positive duration please", k, v)
			}
			*p = d
		}
	}
	for k, p := range map[string]*int{"TERN_SOAK_MIN_KILLS": &c.minKills, "TERN_SOAK_PRODUCERS": &c.producers,
		"TERN_SOAK_RATE": &c.rate, "TERN_SOAK_SIZE": &c.size, "TERN_SOAK_BATCH": &c.batch} {
		if v := os.Getenv(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				t.Fatalf("%s=%q: a positive integer please", k, v)
			}
			*p = n
		}
	}
	if c.killMax < c.killMin {
		t.Fatalf("TERN_SOAK_KILL_MAX %v is below TERN_SOAK_KILL_MIN %v", c.killMax, c.killMin)
	}
	return c
}

// TestFaultSoak runs producers and push consumers against a `tern dev` process that is
// SIGKILLed and restarted at random, first with SYNC_FLUSH, then with ASYNC_FLUSH (a process
// kill loses nothing from the page cache, so both must lose nothing). Every acknowledged message
// must be consumed at least once, with the checksum it was sent with. It prints one summary
// line per mode, starting "soak:".
func TestFaultSoak(t *testing.T) {
	cfg := soakConfigFromEnv(t)
	failed := false
	for _, mode := range []string{"SYNC_FLUSH", "ASYNC_FLUSH"} {
		t.Run(mode, func(t *testing.T) {
			defer func() { failed = failed || t.Failed() }()
			soak(t, cfg, mode)
		})
	}
	if failed {
		t.Fatal("a flush mode failed")
	}
}

func soak(t *testing.T, cfg soakConfig, mode string) {
	dev := newDev(t, filepath.Join(t.TempDir(), "data"), "flushDiskType="+mode)
	dev.start()
	topic := "Soak" + map[string]string{"SYNC_FLUSH": "Sync", "ASYNC_FLUSH": "Async"}[mode]
	dev.admin("topic", "create", topic, "-q", "8")

	l := newLedger(cfg.producers)
	var consumers []*client.PushConsumer
	for i := range 2 {
		consumers = append(consumers, startPushConsumer(t, "soak-consumer", dev.clientOpts(fmt.Sprintf("soak-c%d", i)), topic, l.handler,
			client.WithConsumeFrom(client.ConsumeFromFirstOffset), client.WithRebalanceInterval(time.Second)))
	}
	defer func() {
		for _, c := range consumers {
			closeClient(t, c)
		}
	}()
	p, err := client.NewProducer("soak-producer", withClient[client.ProducerOption](dev.clientOpts("soak-p"), client.WithSendTimeout(5*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	pClosed := false
	defer func() {
		if !pClosed {
			closeClient(t, p)
		}
	}()

	// Producers: each sends synchronously at rate/producers messages a second, and goes on
	// after errors (the broker is down for a while after each kill). With more than one, the
	// last sends its messages in batches of cfg.batch, which the broker appends at once, all or
	// nothing. (core/store's TestCrashRecoveryAsyncBatches kills a store appending nothing but
	// large batches, which the CommitLog writes with pwrite.)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	period := time.Duration(int64(time.Second) * int64(cfg.producers) / int64(cfg.rate))
	for g := range cfg.producers {
		n := 1
		if g == cfg.producers-1 && g > 0 {
			n = cfg.batch
		}
		wg.Go(func() {
			tick := time.NewTicker(period * time.Duration(n))
			defer tick.Stop()
			for seq := 0; ; seq += n {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if err := l.sendBatch(ctx, p, topic, g, seq, n, cfg.size); err != nil && ctx.Err() == nil && seq%(500*n) == 0 {
					t.Logf("producer %d, message %d: %v", g, seq, err)
				}
			}
		})
	}
	defer func() { stop(); wg.Wait() }()

	// The kill schedule: SIGKILL at a random time every killMin..killMax, restart at once.
	// A restart is survived when the broker acknowledges sends again within startLimit.
	begin := time.Now()
	kills, survived := 0, 0
	for time.Since(begin) < cfg.duration || kills < cfg.minKills {
		wait := cfg.killMin + rand.N(cfg.killMax-cfg.killMin+1)
		time.Sleep(wait) // the scenario's schedule, not synchronisation
		before := l.acked()
		dev.kill()
		kills++
		restarted := time.Now()
		dev.start()
		if l.waitAcked(l.acked(), startLimit) {
			survived++
		} else {
			t.Errorf("kill %d: the restarted broker acknowledged no send within %v\n%s", kills, startLimit, dev.logTail())
		}
		t.Logf("kill %d at %v: %d acknowledged before it; sends acknowledged again %v after the restart; broker peak RSS so far %d KiB",
			kills, restarted.Sub(begin).Round(time.Second), before, time.Since(restarted).Round(time.Millisecond), dev.peakKB)
	}
	stop()
	wg.Wait()

	// Drain: every acknowledged message must be consumed.
	select {
	case <-l.drain():
	case <-time.After(cfg.drain):
		t.Errorf("consumers did not drain within %v", cfg.drain)
	}
	for _, c := range consumers {
		closeClient(t, c)
	}
	consumers = nil
	closeClient(t, p)
	pClosed = true
	if err := dev.stop(30 * time.Second); err != nil {
		t.Errorf("stop: %v", err)
	}
	s := l.tally()
	line := fmt.Sprintf("soak: %s: %v in %v; restarts survived %d of %d kills; broker peak RSS %d KiB (VmHWM)",
		mode, s, time.Since(begin).Round(time.Second), survived, kills, dev.peakKB)
	t.Log(line)
	fmt.Println(line)
	if s.Lost > 0 || s.Corrupt > 0 || s.Unknown > 0 {
		t.Errorf("lost %d acknowledged messages, %d deliveries corrupt, %d unknown", s.Lost, s.Corrupt, s.Unknown)
	}
}
