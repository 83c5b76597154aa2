package broker_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/ternmq/tern/core/broker/brokertest"
)

// Helpers for the tests that drive Tern with the official RocketMQ Go client v2.1.2, unmodified.
// Those tests (compat_test.go, compat2_test.go) build only without -race: the client has data
// races of its own (consumer/pull_consumer.go, internal.SubscriptionData.Clone), which the race
// detector reports in whichever test runs it. .ci/run runs them in a separate step.

func TestMain(m *testing.M) {
	rlog.SetLogLevel("error")
	os.Exit(m.Run())
}

var instances atomic.Int64

// instance returns a unique client instance name: the official client shares one client per
// instance name within a process.
func instance(t *testing.T) string {
	return fmt.Sprintf("%s-%d", t.Name(), instances.Add(1))
}

func newProducer(t *testing.T, c *brokertest.Cluster, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	opts = append([]producer.Option{
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NamesrvAddr})),
		producer.WithGroupName("pg-" + instance(t)),
		producer.WithInstanceName(instance(t)),
		producer.WithRetry(2),
	}, opts...)
	p, err := rocketmq.NewProducer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown() })
	return p
}

func newPushConsumer(t *testing.T, c *brokertest.Cluster, group string, opts ...consumer.Option) rocketmq.PushConsumer {
	t.Helper()
	opts = append([]consumer.Option{
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NamesrvAddr})),
		consumer.WithGroupName(group),
		consumer.WithInstance(instance(t)),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	}, opts...)
	pc, err := rocketmq.NewPushConsumer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// createTopic creates a topic on the broker with n queues, through the broker's admin code.
func createTopic(t *testing.T, c *brokertest.Cluster, topic string, n int) {
	t.Helper()
	if err := c.CreateTopic(topic, n); err != nil {
		t.Fatal(err)
	}
}

// collector gathers consumed messages by body.
type collector struct {
	mu   sync.Mutex
	seen map[string]int
	msgs []*primitive.MessageExt
	ch   chan struct{}
}

func newCollector() *collector { return &collector{seen: map[string]int{}, ch: make(chan struct{}, 1)} }

func (c *collector) add(msgs ...*primitive.MessageExt) {
	c.mu.Lock()
	for _, m := range msgs {
		c.seen[string(m.Body)]++
		c.msgs = append(c.msgs, m)
	}
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

// wait waits until n distinct bodies were consumed, or fails after timeout.
func (c *collector) wait(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		got := len(c.seen)
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("consumed %d distinct messages of %d in %v", got, n, timeout)
		}
	}
}

func (c *collector) duplicates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := 0
	for _, n := range c.seen {
		d += n - 1
	}
	return d
}

// waitDispatched waits until everything the broker stored is visible in its queues (the
// dispatcher runs behind the append).
func waitDispatched(t *testing.T, c *brokertest.Cluster) {
	t.Helper()
	st := c.Broker.Store()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.WaitDispatched(ctx, st.CommitLogMaxOffset()); err != nil {
		t.Fatalf("dispatch: %v", err)
	}
}
