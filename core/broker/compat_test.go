package broker_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
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

// These tests drive Tern with the official RocketMQ Go client v2.1.2, unmodified.

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

func TestOfficialClientSendModes(t *testing.T) {
	t.Parallel()
	c := brokertest.Start(t, nil)
	createTopic(t, c, "SendModes", 4)
	p := newProducer(t, c)
	ctx := context.Background()

	res, err := p.SendSync(ctx, primitive.NewMessage("SendModes", []byte("sync")))
	if err != nil || res.Status != primitive.SendOK {
		t.Fatalf("sync send: %v %v", res, err)
	}
	if len(res.OffsetMsgID) != 32 || res.MsgID == "" {
		t.Fatalf("send result ids: msgId %q offsetMsgId %q", res.MsgID, res.OffsetMsgID)
	}
	done := make(chan error, 1)
	if err := p.SendAsync(ctx, func(_ context.Context, r *primitive.SendResult, err error) {
		if err == nil && r.Status != primitive.SendOK {
			err = fmt.Errorf("status %v", r.Status)
		}
		done <- err
	}, primitive.NewMessage("SendModes", []byte("async"))); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("async send: %v", err)
	}
	if err := p.SendOneWay(ctx, primitive.NewMessage("SendModes", []byte("oneway"))); err != nil {
		t.Fatalf("oneway send: %v", err)
	}
	batch := []*primitive.Message{
		primitive.NewMessage("SendModes", []byte("batch-1")),
		primitive.NewMessage("SendModes", []byte("batch-2")),
		primitive.NewMessage("SendModes", []byte("batch-3")),
	}
	res, err = p.SendSync(ctx, batch...)
	if err != nil || res.Status != primitive.SendOK {
		t.Fatalf("batch send: %v %v", res, err)
	}

	col := newCollector()
	pc := newPushConsumer(t, c, "cg-"+instance(t))
	if err := pc.Subscribe("SendModes", consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		col.add(msgs...)
		return consumer.ConsumeSuccess, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	defer pc.Shutdown()
	col.wait(t, 6, 60*time.Second)
	for _, body := range []string{"sync", "async", "oneway", "batch-1", "batch-2", "batch-3"} {
		if col.seen[body] == 0 {
			t.Errorf("%q not consumed", body)
		}
	}
}

func TestOfficialClientClusteringSharesQueues(t *testing.T) {
	t.Parallel()
	c := brokertest.Start(t, nil)
	const topic, n = "Shared", 200
	createTopic(t, c, topic, 4)
	group := "cg-" + instance(t)
	col := newCollector()
	var byInstance [2]atomic.Int64
	for i := range 2 {
		pc := newPushConsumer(t, c, group)
		if err := pc.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			byInstance[i].Add(int64(len(msgs)))
			col.add(msgs...)
			return consumer.ConsumeSuccess, nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := pc.Start(); err != nil {
			t.Fatal(err)
		}
		defer pc.Shutdown()
	}
	p := newProducer(t, c)
	for i := range n {
		if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(strconv.Itoa(i)))); err != nil {
			t.Fatal(err)
		}
	}
	col.wait(t, n, 90*time.Second)
	if d := col.duplicates(); d != 0 {
		t.Errorf("%d duplicates in a clean run", d)
	}
	t.Logf("instance shares: %d and %d", byInstance[0].Load(), byInstance[1].Load())
	if byInstance[0].Load() == 0 || byInstance[1].Load() == 0 {
		t.Errorf("one instance consumed nothing: %d / %d", byInstance[0].Load(), byInstance[1].Load())
	}
}
