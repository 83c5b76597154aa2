package client

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
)

// prodSecondBroker starts another broker, named name, registered at c's NameServer, with
// topic's n queues. Stop it with its Close; it is closed at cleanup otherwise.
func prodSecondBroker(t *testing.T, c *brokertest.Cluster, name, topic string, n int) *broker.Broker {
	t.Helper()
	cfg := broker.DefaultConfig(t.TempDir())
	cfg.BrokerName = name
	cfg.ListenAddr, cfg.BrokerAddr, cfg.NamesrvAddr = "127.0.0.1:0", "127.0.0.1:0", c.NamesrvAddr
	cfg.Store.MappedFileSizeCommitLog = c.Config.Store.MappedFileSizeCommitLog
	cfg.Store.MappedFileSizeConsumeQueue = c.Config.Store.MappedFileSizeConsumeQueue
	cfg.Store.MaxHashSlotNum, cfg.Store.MaxIndexNum = c.Config.Store.MaxHashSlotNum, c.Config.Store.MaxIndexNum
	cfg.Store.DiskUsage = c.Config.Store.DiskUsage
	b, err := broker.New(cfg, brokertest.Logger().With("component", "broker", "broker", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Close(ctx) // no-op if the test closed it
	})
	if err := b.CreateTopic(context.Background(), topic, n, n); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProducerFailsOverToAnotherBroker: with two brokers serving a topic, sends use both; once
// one stops, every send still succeeds, on the other.
func TestProducerFailsOverToAnotherBroker(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c := prodCluster(t, topic, 2, nil)
	b := prodSecondBroker(t, c, "broker-b", topic, 2)
	p := prodNew(t, c.NamesrvAddr)
	ctx := prodCtx(t, 60*time.Second)

	perBroker := map[string]int{}
	for i := range 20 {
		res, err := p.Send(ctx, &Message{Topic: topic, Body: []byte("before-" + strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		perBroker[res.Queue.BrokerName]++
	}
	if perBroker["broker-a"] == 0 || perBroker["broker-b"] == 0 {
		t.Fatalf("sends not spread over both brokers: %v", perBroker)
	}

	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	const after = 30
	for i := range after {
		res, err := p.Send(ctx, &Message{Topic: topic, Body: []byte("after-" + strconv.Itoa(i))})
		if err != nil {
			t.Fatalf("send %d after broker-b stopped: %v", i, err)
		}
		if res.Queue.BrokerName != "broker-a" {
			t.Fatalf("send %d stored on %s, which is down", i, res.Queue.BrokerName)
		}
	}
	if p.faults.available("broker-b") {
		t.Error("broker-b failed sends but is not penalised")
	}
	n := 0
	for _, m := range prodStored(t, c, topic, 2) {
		if len(m.Body) > 6 && string(m.Body[:6]) == "after-" {
			n++
		}
	}
	if n != after {
		t.Errorf("broker-a stored %d of the %d sends after the failure", n, after)
	}
}

// TestProducerBrokerRestart: while a producer sends, its only broker restarts. Every send that
// succeeded is stored exactly as sent; the others returned errors; sending works again after.
func TestProducerBrokerRestart(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c := prodCluster(t, topic, 2, nil)
	p := prodNew(t, c.NamesrvAddr, WithSendTimeout(2*time.Second), WithCallTimeout(time.Second))
	ctx := prodCtx(t, 90*time.Second)

	var mu sync.Mutex
	sent := map[string]string{} // UNIQ_KEY → body of each successful send
	failures := 0
	successes := make(chan struct{}, 1)
	stop := make(chan struct{})
	done := make(chan struct{})
	stopSender := sync.OnceFunc(func() {
		close(stop)
		<-done
	})
	defer stopSender()
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			body := "m-" + strconv.Itoa(i)
			res, err := p.Send(ctx, &Message{Topic: topic, Body: []byte(body)})
			mu.Lock()
			if err != nil {
				failures++
			} else {
				sent[res.MsgID] = body
			}
			mu.Unlock()
			if err == nil {
				select {
				case successes <- struct{}{}:
				default:
				}
			}
		}
	}()
	waitSuccesses := func(n int) {
		t.Helper()
		for {
			mu.Lock()
			got := len(sent)
			mu.Unlock()
			if got >= n {
				return
			}
			select {
			case <-successes:
			case <-ctx.Done():
				t.Fatalf("only %d successful sends", got)
			}
		}
	}
	waitSuccesses(50)
	c.RestartBroker(t)
	mu.Lock()
	atRestart := len(sent)
	mu.Unlock()
	waitSuccesses(atRestart + 50)
	stopSender()

	stored := map[string]string{}
	for _, m := range prodStored(t, c, topic, 2) {
		stored[m.MsgID] = string(m.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, body := range sent {
		if got, ok := stored[id]; !ok || got != body {
			t.Errorf("send %s (%s) succeeded but stored %q, %v", id, body, got, ok)
		}
	}
	t.Logf("%d sends succeeded, %d failed, %d stored", len(sent), failures, len(stored))
}
