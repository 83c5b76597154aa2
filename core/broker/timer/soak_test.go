package timer_test

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/sdk/client"
)

// TestSoakTimersAcrossACrash sends 100,000 timers due at random in the next 60 s to a real
// `tern dev` process, SIGKILLs it while they wait and starts it again on the same data. Every
// acknowledged timer must be fired exactly once (one stored copy: consumers may see a copy
// again when their offsets were lost with the process, which is not the timer's doing) and
// never before it is due. It reports the fire lateness.
func TestSoakTimersAcrossACrash(t *testing.T) {
	if testing.Short() {
		t.Skip("70 s soak")
	}
	const n = 100_000
	const spread = 60 * time.Second
	dir := t.TempDir()
	bin := filepath.Join(dir, "tern")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ternmq/tern/cmd/tern").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ns, br := freeAddr(t), freeAddr(t)
	data := filepath.Join(dir, "data")
	start := func() *exec.Cmd {
		t.Helper()
		cmd := exec.Command(bin, "dev", "--data", data, "--namesrv-addr", ns, "--broker-addr", br, "--http-addr", "off", "--log-level", "warn")
		logf, err := os.OpenFile(filepath.Join(dir, "dev.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitListening(t, br)
		brokertest.WaitRegistered(t, 60*time.Second, ns, br) // `tern admin` needs the broker in the routes
		return cmd
	}
	proc := start()
	t.Cleanup(func() { proc.Process.Kill(); proc.Wait() })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	topic := "TimerSoak"
	if out, err := exec.Command(bin, "admin", "--namesrv", ns, "topic", "create", topic, "-q", "8").CombinedOutput(); err != nil {
		t.Fatalf("create topic: %v\n%s", err, out)
	}
	p, err := client.NewProducer("soak-producer", client.WithNameServers(ns), client.WithMaxAsyncInflight(256))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())

	type sent struct{ due time.Time }
	var mu sync.Mutex
	acked := map[string]sent{}
	type copyKey struct {
		queue  int32
		offset int64
	}
	copies := map[string]map[copyKey]bool{}
	var late []time.Duration
	early := 0
	target := n // lowered to the acknowledged count once the sends are done
	done := make(chan struct{})
	c, err := client.NewPushConsumer("soak-consumer", client.WithNameServers(ns), client.WithConsumeFrom(client.ConsumeFromFirstOffset),
		client.WithConsumeGoroutines(8), client.WithConsumeBatchSize(32))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Subscribe(topic, client.Tag("*"), func(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			k := copyKey{m.QueueID, m.QueueOffset}
			if copies[m.MsgID] == nil {
				copies[m.MsgID] = map[copyKey]bool{}
			}
			if copies[m.MsgID][k] {
				continue // the same copy again: the consumer's offset was lost with the process
			}
			copies[m.MsgID][k] = true
			if len(copies[m.MsgID]) == 1 {
				due, _ := time.Parse(time.RFC3339Nano, string(m.Body))
				if m.StoreTimestamp.Before(due.Truncate(time.Millisecond)) {
					early++
				}
				late = append(late, m.StoreTimestamp.Sub(due.Truncate(time.Millisecond)))
			}
		}
		if len(copies) >= target && done != nil {
			close(done)
			done = nil
		}
		return client.ConsumeSuccess, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Produce: every acknowledged timer is recorded.
	begin := time.Now()
	var wg sync.WaitGroup
	var sendErrs int
	for i := range n {
		due := time.Now().Add(time.Duration(rand.Int64N(int64(spread)))).Truncate(time.Millisecond)
		wg.Add(1)
		err := p.SendAsync(ctx, &client.Message{Topic: topic, Body: []byte(due.Format(time.RFC3339Nano)), DeliverAt: due}, func(r *client.SendResult, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if sendErrs++; sendErrs == 1 {
					t.Logf("first send error: %v", err)
				}
				return
			}
			acked[r.MsgID] = sent{due: due}
		})
		if err != nil {
			wg.Done()
			t.Fatalf("send %d: %v", i, err)
		}
	}
	wg.Wait()
	mu.Lock()
	target = len(acked)
	mu.Unlock()
	t.Logf("sent %d timers in %v (%d send errors)", n, time.Since(begin).Round(time.Millisecond), sendErrs)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())

	// Crash the broker while most timers wait, and start it again.
	time.Sleep(time.Until(begin.Add(spread / 3)))
	proc.Process.Signal(syscall.SIGKILL)
	proc.Wait()
	mu.Lock()
	before := len(copies)
	mu.Unlock()
	proc = start()
	t.Logf("broker SIGKILLed and restarted at %v with %d timers consumed", time.Since(begin).Round(time.Millisecond), before)

	mu.Lock()
	ch := done
	mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-time.After(time.Until(begin.Add(spread + 90*time.Second))):
		}
	}
	mu.Lock()
	defer mu.Unlock()
	missing, dup := 0, 0
	for id := range acked {
		switch len(copies[id]) {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	slices.Sort(late)
	pct := func(q float64) time.Duration { return late[int(q*float64(len(late)-1))] }
	t.Logf("acknowledged %d, consumed %d, fired twice %d, missing %d, early %d; fire lateness p50 %v p99 %v max %v",
		len(acked), len(copies), dup, missing, early, pct(0.5), pct(0.99), late[len(late)-1])
	if missing > 0 || dup > 0 || early > 0 || len(acked) != n-sendErrs {
		t.Fatalf("lost %d, fired twice %d, early %d", missing, dup, early)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitListening waits until addr accepts connections (the broker has recovered and serves).
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s does not listen", addr)
}
