//go:build !race

package interop

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/sdk/client"
)

// The official Go client v2.1.2's producers → Tern's PushConsumer, against a Tern broker.
// These tests build without -race: the official client has data races of its own.

// consOfficialProducer returns a started official producer.
func consOfficialProducer(t *testing.T, c *brokertest.Cluster, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	opts = append([]producer.Option{
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NamesrvAddr})),
		producer.WithGroupName(prodName(t, "pg")),
		producer.WithInstanceName(prodName(t, "inst")),
		producer.WithRetry(2),
	}, opts...)
	p, err := rocketmq.NewProducer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

// consCollector gathers what a Tern consumer consumed, with the time it did.
type consCollector struct {
	mu   sync.Mutex
	msgs []*client.MessageExt
	at   []time.Time
	ch   chan struct{}
}

func newConsCollector() *consCollector { return &consCollector{ch: make(chan struct{}, 1)} }

func (col *consCollector) handle(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
	col.mu.Lock()
	for _, m := range msgs {
		col.msgs = append(col.msgs, m)
		col.at = append(col.at, time.Now())
	}
	col.mu.Unlock()
	select {
	case col.ch <- struct{}{}:
	default:
	}
	return client.ConsumeSuccess, nil
}

// wait waits until n messages were consumed.
func (col *consCollector) wait(t *testing.T, n int, timeout time.Duration) []*client.MessageExt {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		col.mu.Lock()
		got := len(col.msgs)
		out := append([]*client.MessageExt(nil), col.msgs...)
		col.mu.Unlock()
		if got >= n {
			return out
		}
		select {
		case <-col.ch:
		case <-deadline.C:
			t.Fatalf("consumed %d messages, want %d", got, n)
		}
	}
}

// consStart starts a Tern push consumer of topic that closes with the test.
func consStart(t *testing.T, c *brokertest.Cluster, topic string, sel client.Selector, h client.ConsumeFunc, opts ...client.PushConsumerOption) *client.PushConsumer {
	t.Helper()
	opts = append([]client.PushConsumerOption{
		client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger()),
		client.WithConsumeFrom(client.ConsumeFromFirstOffset),
	}, opts...)
	pc, err := client.NewPushConsumer(prodName(t, "cg"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe(topic, sel, h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := pc.Close(ctx); err != nil {
			t.Errorf("close consumer: %v", err)
		}
	})
	return pc
}

// TestOfficialClientProducerToConsumer: tags (filtered), keys, user properties and the
// message id of official sends reach a Tern consumer.
func TestOfficialClientProducerToConsumer(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c, ctx := prodSetup(t, topic, 4, nil)
	p := consOfficialProducer(t, c)
	ids := map[string]string{}
	for i := range 40 {
		tag := []string{"TagA", "TagB", "TagC", "TagD"}[i%4]
		m := primitive.NewMessage(topic, []byte(strconv.Itoa(i))).WithTag(tag).WithKeys([]string{"k" + strconv.Itoa(i), "order"})
		m.WithProperty("amount", strconv.Itoa(i*10))
		res, err := p.SendSync(ctx, m)
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %d: %v %v", i, res, err)
		}
		ids[strconv.Itoa(i)] = res.MsgID
	}
	col := newConsCollector()
	consStart(t, c, topic, client.Tag("TagA || TagC"), col.handle)
	msgs := col.wait(t, 20, 60*time.Second)
	for _, m := range msgs {
		i, _ := strconv.Atoi(string(m.Body))
		if m.Tag != "TagA" && m.Tag != "TagC" {
			t.Errorf("message with tag %q delivered", m.Tag)
		}
		if strings.Join(m.Keys, " ") != "k"+strconv.Itoa(i)+" order" || m.Property("amount") != strconv.Itoa(i*10) {
			t.Errorf("message %d: keys %v amount %q", i, m.Keys, m.Property("amount"))
		}
		if m.MsgID != ids[string(m.Body)] || m.Topic != topic || m.ReconsumeTimes != 0 {
			t.Errorf("message %d: id %s (sent %s), topic %q, reconsume %d", i, m.MsgID, ids[string(m.Body)], m.Topic, m.ReconsumeTimes)
		}
	}
}

// TestOfficialClientOrderlyToOrderlyConsumer: messages the official producer sends by sharding
// key through its hash queue selector are consumed in per-key order by an orderly Tern
// consumer.
func TestOfficialClientOrderlyToOrderlyConsumer(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c, ctx := prodSetup(t, topic, 4, nil)
	p := consOfficialProducer(t, c, producer.WithQueueSelector(producer.NewHashQueueSelector()))
	const keys, perKey = 6, 25
	for i := range perKey {
		for k := range keys {
			m := primitive.NewMessage(topic, fmt.Appendf(nil, "key%d-%d", k, i)).WithShardingKey(fmt.Sprintf("key%d", k))
			if res, err := p.SendSync(ctx, m); err != nil || res.Status != primitive.SendOK {
				t.Fatalf("send: %v %v", res, err)
			}
		}
	}
	col := newConsCollector()
	consStart(t, c, topic, client.Tag("*"), col.handle, client.WithOrderly(true), client.WithConsumeBatchSize(4))
	msgs := col.wait(t, keys*perKey, 60*time.Second)
	next := map[string]int{}
	queueOf := map[string]int32{}
	for _, m := range msgs {
		var k, i int
		fmt.Sscanf(string(m.Body), "key%d-%d", &k, &i)
		key := fmt.Sprintf("key%d", k)
		if i != next[key] {
			t.Fatalf("%s: message %d after %d", key, i, next[key]-1)
		}
		next[key] = i + 1
		if q, ok := queueOf[key]; ok && q != m.QueueID {
			t.Fatalf("%s in queues %d and %d", key, q, m.QueueID)
		}
		queueOf[key] = m.QueueID
	}
}

// TestOfficialClientDelayLevel: a message sent with a delay level arrives after the delay.
func TestOfficialClientDelayLevel(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c, ctx := prodSetup(t, topic, 2, func(cfg *broker.Config) { cfg.MessageDelayLevel = "1s 2s" })
	col := newConsCollector()
	consStart(t, c, topic, client.Tag("*"), col.handle)
	p := consOfficialProducer(t, c)
	sent := time.Now()
	if res, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte("later")).WithDelayTimeLevel(2)); err != nil || res.Status != primitive.SendOK {
		t.Fatalf("send: %v %v", res, err)
	}
	msgs := col.wait(t, 1, 30*time.Second)
	col.mu.Lock()
	took := col.at[0].Sub(sent)
	col.mu.Unlock()
	if string(msgs[0].Body) != "later" || msgs[0].Topic != topic {
		t.Fatalf("consumed %q from %q", msgs[0].Body, msgs[0].Topic)
	}
	if took < 1900*time.Millisecond {
		t.Errorf("delay level 2 (2 s) message consumed after %v", took)
	}
	t.Logf("delayed message consumed after %v", took)
}

// consTxListener commits bodies starting with "commit" and rolls back the rest, at once and on
// checks.
type consTxListener struct{}

func (consTxListener) decide(body []byte) primitive.LocalTransactionState {
	if strings.HasPrefix(string(body), "commit") {
		return primitive.CommitMessageState
	}
	return primitive.RollbackMessageState
}

func (l consTxListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	return l.decide(m.Body)
}

func (l consTxListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	return l.decide(m.Body)
}

// TestOfficialClientTransactionToConsumer: transactional messages the official
// TransactionProducer commits are consumed by a Tern consumer; rolled back ones are not.
func TestOfficialClientTransactionToConsumer(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c, ctx := prodSetup(t, topic, 4, func(cfg *broker.Config) {
		cfg.TransactionCheckInterval = config.Millis(200 * time.Millisecond)
		cfg.TransactionTimeOut = config.Millis(500 * time.Millisecond)
	})
	p, err := rocketmq.NewTransactionProducer(consTxListener{},
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NamesrvAddr})),
		producer.WithGroupName(prodName(t, "pg")),
		producer.WithInstanceName(prodName(t, "inst")),
		producer.WithRetry(2),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	for i := range 6 {
		body := fmt.Sprintf("commit-%d", i)
		if i%2 == 1 {
			body = fmt.Sprintf("rollback-%d", i)
		}
		res, err := p.SendMessageInTransaction(ctx, primitive.NewMessage(topic, []byte(body)).WithTag("tx"))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %q: %v %v", body, res, err)
		}
	}
	col := newConsCollector()
	consStart(t, c, topic, client.Tag("tx"), col.handle)
	msgs := col.wait(t, 3, 60*time.Second)
	// A committed marker in every queue after the transactions: once all are consumed, a
	// rolled-back message wrongly delivered would have been consumed too.
	pm := consOfficialProducer(t, c, producer.WithQueueSelector(producer.NewManualQueueSelector()))
	for q := range 4 {
		m := primitive.NewMessage(topic, fmt.Appendf(nil, "commit-marker-%d", q)).WithTag("tx")
		m.Queue = &primitive.MessageQueue{Topic: topic, BrokerName: c.Config.BrokerName, QueueId: q}
		if _, err := pm.SendSync(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	msgs = col.wait(t, 7, 60*time.Second)
	seen := map[string]int{}
	for _, m := range msgs {
		seen[string(m.Body)]++
		if m.Property(primitive.PropertyTransactionPrepared) != "" || m.Tag != "tx" {
			t.Errorf("consumed %q with properties %v", m.Body, m.Properties)
		}
	}
	for i := 0; i < 6; i += 2 {
		if seen[fmt.Sprintf("commit-%d", i)] != 1 {
			t.Errorf("commit-%d consumed %d times", i, seen[fmt.Sprintf("commit-%d", i)])
		}
	}
	for body := range seen {
		if strings.HasPrefix(body, "rollback") {
			t.Errorf("rolled back %s consumed", body)
		}
	}
}
