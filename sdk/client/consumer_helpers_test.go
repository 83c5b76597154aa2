package client

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// Helpers of the consumer tests. Names start with cons to stay apart from the producer tests'.

var consSeq atomic.Int64

// consName returns a name unique in the test binary.
func consName(prefix string) string { return fmt.Sprintf("%s-%d", prefix, consSeq.Add(1)) }

// consFastRetry makes retries quick: every delay level is 100 ms.
func consFastRetry(c *broker.Config) {
	c.MessageDelayLevel = strings.TrimSpace(strings.Repeat("100ms ", 18))
}

// consCluster starts a broker with short delay levels and creates topic with n queues.
func consCluster(t testing.TB, topic string, n int) *brokertest.Cluster {
	t.Helper()
	c := brokertest.Start(t, consFastRetry)
	if topic != "" {
		if err := c.CreateTopic(topic, n); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// consCtx returns a ctx ending after d or with the test.
func consCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// consSender sends messages with raw SEND_MESSAGE_V2 requests to chosen queues.
type consSender struct {
	rc   *remoting.Client
	c    *brokertest.Cluster
	uniq *message.UniqIDGenerator
}

func newConsSender(t testing.TB, c *brokertest.Cluster) *consSender {
	rc := remoting.NewClient(remoting.ClientOptions{Logger: brokertest.Logger()})
	t.Cleanup(func() { rc.Close() })
	return &consSender{rc: rc, c: c, uniq: message.NewUniqIDGenerator(netip.AddrFrom4([4]byte{127, 0, 0, 1}), os.Getpid(), time.Now)}
}

// send stores m in queue qid of its topic and returns its UNIQ_KEY.
func (s *consSender) send(t testing.TB, qid int32, m *Message) string {
	t.Helper()
	id, err := s.trySend(qid, m)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// trySend is send for goroutines other than the test's.
func (s *consSender) trySend(qid int32, m *Message) (string, error) {
	id := s.uniq.Next()
	props, err := m.appendProperties(nil, message.PropertyUniqKey, id)
	if err != nil {
		return "", err
	}
	h := protocol.SendMessageHeader{
		ProducerGroup: "cons-test-pg", Topic: m.Topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: qid, BornTimestamp: time.Now().UnixMilli(), Properties: string(props),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := s.rc.Invoke(ctx, s.c.BrokerAddr, remoting.NewRequest(remoting.SendMessageV2, h.Encode(true), m.Body))
	if err == nil {
		err = remoting.ResponseErr(resp)
	}
	if err != nil {
		return "", fmt.Errorf("send to %s#%d: %w", m.Topic, qid, err)
	}
	return id, nil
}

// sendN sends n messages with bodies prefix-0 … prefix-(n-1), round robin over queues.
func (s *consSender) sendN(t testing.TB, topic string, queues, n int, prefix string) {
	t.Helper()
	for i := range n {
		s.send(t, int32(i%queues), &Message{Topic: topic, Body: fmt.Appendf(nil, "%s-%d", prefix, i)})
	}
}

// consCollector records consumed messages and lets a test wait for conditions on them.
type consCollector struct {
	mu     sync.Mutex
	msgs   []*MessageExt
	counts map[string]int // body → deliveries
	signal chan struct{}
}

func newConsCollector() *consCollector {
	return &consCollector{counts: map[string]int{}, signal: make(chan struct{}, 1)}
}

func (c *consCollector) add(msgs ...*MessageExt) {
	c.mu.Lock()
	for _, m := range msgs {
		c.msgs = append(c.msgs, m)
		c.counts[string(m.Body)]++
	}
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// handler acknowledges and records every message.
func (c *consCollector) handler(_ context.Context, msgs []*MessageExt) (ConsumeResult, error) {
	c.add(msgs...)
	return ConsumeSuccess, nil
}

// distinct returns the number of distinct bodies seen.
func (c *consCollector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.counts)
}

// duplicates returns the deliveries beyond the first of each body.
func (c *consCollector) duplicates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := 0
	for _, n := range c.counts {
		d += n - 1
	}
	return d
}

func (c *consCollector) count(body string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[body]
}

func (c *consCollector) snapshot() []*MessageExt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*MessageExt(nil), c.msgs...)
}

// waitUntil waits until cond holds, re-checking on every delivery and every 50 ms, failing
// the test after timeout.
func (c *consCollector) waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s (%d distinct messages, %d duplicates)", timeout, what, c.distinct(), c.duplicates())
		case <-c.signal:
		case <-tick.C:
		}
	}
}

// waitDistinct waits for n distinct bodies.
func (c *consCollector) waitDistinct(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	c.waitUntil(t, timeout, fmt.Sprintf("%d distinct messages", n), func() bool { return c.distinct() >= n })
}

// requireBodies fails unless exactly the bodies prefix-0 … prefix-(n-1) (plus others not
// starting with prefix) were seen.
func (c *consCollector) requireBodies(t testing.TB, prefix string, n int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range n {
		if c.counts[fmt.Sprintf("%s-%d", prefix, i)] == 0 {
			t.Errorf("%s-%d never consumed", prefix, i)
		}
	}
}

// consStart returns a started push consumer of topic that closes with the test.
func consStart(t testing.TB, c *brokertest.Cluster, group, topic string, sel Selector, h ConsumeFunc, opts ...PushConsumerOption) *PushConsumer {
	t.Helper()
	pc := consNew(t, c, group, opts...)
	if err := pc.Subscribe(topic, sel, h); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(consCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	return pc
}

// consNew returns a push consumer that closes with the test.
func consNew(t testing.TB, c *brokertest.Cluster, group string, opts ...PushConsumerOption) *PushConsumer {
	t.Helper()
	opts = append([]PushConsumerOption{WithNameServers(c.NamesrvAddr), WithLogger(brokertest.Logger()), WithConsumeFrom(ConsumeFromFirstOffset)}, opts...)
	pc, err := NewPushConsumer(group, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { consClose(t, pc) })
	return pc
}

// consClose closes a client within 20 s.
func consClose(t testing.TB, cl interface{ Close(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// consQueues returns the queues pc holds.
func consQueues(pc *PushConsumer) []MessageQueue { return pc.assigned() }

// consEventually waits until cond holds, checking every 20 ms, and fails the test after
// timeout.
func consEventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}

// consWaitQueues waits until pc holds n queues of topic.
func consWaitQueues(t testing.TB, pc *PushConsumer, topic string, n int, timeout time.Duration) {
	t.Helper()
	held := func() int {
		k := 0
		for _, mq := range consQueues(pc) {
			if mq.Topic == topic {
				k++
			}
		}
		return k
	}
	consEventually(t, timeout, fmt.Sprintf("%d queues of %s", n, topic), func() bool { return held() == n })
}

// consWaitPositions waits until pc holds n queues of topic and knows where to pull each.
func consWaitPositions(t testing.TB, pc *PushConsumer, topic string, n int) {
	t.Helper()
	consEventually(t, 30*time.Second, fmt.Sprintf("%d positioned queues of %s", n, topic), func() bool {
		pc.mu.Lock()
		defer pc.mu.Unlock()
		held, known := 0, 0
		for mq, r := range pc.queues {
			if mq.Topic != topic {
				continue
			}
			held++
			if r.pq.position() >= 0 {
				known++
			}
		}
		return held == n && known == n
	})
}

// consPending returns the messages held by pc for mq.
func consPending(pc *PushConsumer, mq MessageQueue) int {
	pc.mu.Lock()
	r := pc.queues[mq]
	pc.mu.Unlock()
	if r == nil {
		return 0
	}
	n, _ := r.pq.pending()
	return n
}
