//go:build !race

package interop

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/sdk/client"
)

// Tern's Producer → the official Go client v2.1.2's push consumer, against a Tern broker.
// These tests build without -race: the official client has data races of its own.

var prodSeq atomic.Int64

// prodName returns a group, topic or instance name unique in the test binary.
func prodName(t *testing.T, prefix string) string {
	return fmt.Sprintf("%s-%s-%d", prefix, strings.ReplaceAll(t.Name(), "/", "_"), prodSeq.Add(1))
}

// prodSetup starts a cluster with topic (n queues) and returns it with a context bounding the
// test.
func prodSetup(t *testing.T, topic string, n int, configure func(*broker.Config)) (*brokertest.Cluster, context.Context) {
	t.Helper()
	c := brokertest.Start(t, configure)
	if err := c.CreateTopic(topic, n); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return c, ctx
}

// prodClose closes a Tern producer at cleanup.
func prodClose(t *testing.T, p interface{ Close(context.Context) error }) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("close producer: %v", err)
		}
	})
}

// prodProducer returns a Tern producer on the cluster.
func prodProducer(t *testing.T, c *brokertest.Cluster, opts ...client.ProducerOption) *client.Producer {
	t.Helper()
	opts = append([]client.ProducerOption{client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger())}, opts...)
	p, err := client.NewProducer(prodName(t, "pg"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	prodClose(t, p)
	return p
}

// prodCollector gathers what an official consumer consumed, in consumption order.
type prodCollector struct {
	mu   sync.Mutex
	msgs []*primitive.MessageExt
	at   []time.Time
	ch   chan struct{}
}

func (col *prodCollector) add(msgs ...*primitive.MessageExt) {
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
}

// wait waits until n messages were consumed and returns them with their arrival times.
func (col *prodCollector) wait(ctx context.Context, t *testing.T, n int) ([]*primitive.MessageExt, []time.Time) {
	t.Helper()
	for {
		col.mu.Lock()
		msgs, at := col.msgs, col.at
		col.mu.Unlock()
		if len(msgs) >= n {
			return msgs, at
		}
		select {
		case <-col.ch:
		case <-ctx.Done():
			t.Fatalf("consumed %d messages of %d: %v", len(msgs), n, ctx.Err())
		}
	}
}

// prodConsume starts an official push consumer of topic with selector, from the first offset,
// and returns what it consumes.
func prodConsume(t *testing.T, c *brokertest.Cluster, topic string, sel consumer.MessageSelector, opts ...consumer.Option) *prodCollector {
	t.Helper()
	col := &prodCollector{ch: make(chan struct{}, 1)}
	opts = append([]consumer.Option{
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NamesrvAddr})),
		consumer.WithGroupName(prodName(t, "cg")),
		consumer.WithInstance(prodName(t, "inst")),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	}, opts...)
	pc, err := rocketmq.NewPushConsumer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	err = pc.Subscribe(topic, sel, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		col.add(msgs...)
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Shutdown() })
	return col
}

// TestOfficialClientConsumesTernMessages: tags (the consumer selects one), keys, user
// properties, message ids, compressed bodies and batches all come through.
func TestOfficialClientConsumesTernMessages(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c, ctx := prodSetup(t, topic, 4, nil)
	p := prodProducer(t, c)
	big := bytes.Repeat([]byte("compressed body "), 1000)

	want := map[string]*client.SendResult{} // body → result, TagA only
	for i := range 10 {
		tag := "TagA"
		if i%2 == 1 {
			tag = "TagB"
		}
		body := fmt.Sprintf("%s-%d", tag, i)
		msg := &client.Message{Topic: topic, Body: []byte(body), Tag: tag, Keys: []string{"key-" + strconv.Itoa(i), "other"},
			Properties: map[string]string{"n": strconv.Itoa(i)}}
		res, err := p.Send(ctx, msg)
		if err != nil {
			t.Fatal(err)
		}
		if tag == "TagA" {
			want[body] = res
		}
	}
	res, err := p.Send(ctx, &client.Message{Topic: topic, Body: big, Tag: "TagA"})
	if err != nil {
		t.Fatal(err)
	}
	want[string(big)] = res
	res, err = p.SendBatch(ctx, []*client.Message{
		{Topic: topic, Body: []byte("batch-A-1"), Tag: "TagA"},
		{Topic: topic, Body: []byte("batch-B-1"), Tag: "TagB"},
		{Topic: topic, Body: []byte("batch-A-2"), Tag: "TagA"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Split(res.MsgID, ",")
	want["batch-A-1"] = &client.SendResult{MsgID: ids[0]}
	want["batch-A-2"] = &client.SendResult{MsgID: ids[2]}

	col := prodConsume(t, c, topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "TagA"})
	msgs, _ := col.wait(ctx, t, len(want))
	seen := map[string]bool{}
	for _, m := range msgs {
		body := string(m.Body)
		r, ok := want[body]
		if !ok {
			t.Errorf("consumed %.30q, tag %s: not selected", body, m.GetTags())
			continue
		}
		seen[body] = true
		if m.GetTags() != "TagA" || m.MsgId != r.MsgID {
			t.Errorf("%.30q: tag %s, msgId %s, want %s", body, m.GetTags(), m.MsgId, r.MsgID)
		}
		if i, isPlain := strings.CutPrefix(body, "TagA-"); isPlain {
			if m.GetKeys() != "key-"+i+" other" || m.GetProperty("n") != i {
				t.Errorf("%s: keys %q, property n %q", body, m.GetKeys(), m.GetProperty("n"))
			}
		}
	}
	if len(seen) != len(want) {
		t.Errorf("consumed %d distinct of %d", len(seen), len(want))
	}
}

// TestOfficialClientOrderlySeesKeyOrder: messages sent by ShardingKey reach an orderly official
// consumer in per-key send order.
func TestOfficialClientOrderlySeesKeyOrder(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c, ctx := prodSetup(t, topic, 4, nil)
	p := prodProducer(t, c)
	keys := []string{"order-1", "order-2", "order-3", "order-4", "order-5", "order-6"}
	const perKey = 20
	for i := range perKey {
		for _, k := range keys {
			if _, err := p.Send(ctx, &client.Message{Topic: topic, Body: []byte(k + ":" + strconv.Itoa(i)), ShardingKey: k}); err != nil {
				t.Fatal(err)
			}
		}
	}
	col := prodConsume(t, c, topic, consumer.MessageSelector{}, consumer.WithConsumerOrder(true))
	msgs, _ := col.wait(ctx, t, len(keys)*perKey)
	next := map[string]int{}
	for _, m := range msgs {
		k, n, _ := strings.Cut(string(m.Body), ":")
		i, _ := strconv.Atoi(n)
		if i != next[k] {
			t.Fatalf("%s: consumed %d after %d", k, i, next[k]-1)
		}
		next[k]++
		if m.GetShardingKey() != k {
			t.Errorf("%s: sharding key %q", m.Body, m.GetShardingKey())
		}
	}
}

// txListener commits "commit…" bodies, rolls back "rollback…" ones and leaves the others
// unknown until the broker checks them, then commits.
type txListener struct{ checks atomic.Int64 }

func (*txListener) ExecuteLocal(_ context.Context, msg *client.Message, _ *client.SendResult) client.TxState {
	switch {
	case bytes.HasPrefix(msg.Body, []byte("commit")):
		return client.TxCommit
	case bytes.HasPrefix(msg.Body, []byte("rollback")):
		return client.TxRollback
	}
	return client.TxUnknown
}

func (l *txListener) Check(context.Context, *client.MessageExt) client.TxState {
	l.checks.Add(1)
	return client.TxCommit
}

// TestOfficialClientSeesCommittedTransactionsOnly: of a committed, a rolled-back and an
// unknown-then-checked transaction, the official consumer sees the first and the last.
func TestOfficialClientSeesCommittedTransactionsOnly(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "Tx")
	c, ctx := prodSetup(t, topic, 1, func(cfg *broker.Config) {
		cfg.TransactionTimeOut = config.Millis(300 * time.Millisecond)
		cfg.TransactionCheckInterval = config.Millis(300 * time.Millisecond)
	})
	l := &txListener{}
	tp, err := client.NewTransactionProducer(prodName(t, "txg"), l, client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	prodClose(t, tp)
	col := prodConsume(t, c, topic, consumer.MessageSelector{})
	for _, body := range []string{"commit-1", "rollback-1", "unknown-1", "commit-2"} {
		if _, err := tp.SendInTransaction(ctx, &client.Message{Topic: topic, Body: []byte(body)}); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	}
	// unknown-1 is committed by a check, after rollback-1 ended: had rollback-1 been
	// delivered, it would come before unknown-1 in the one queue.
	msgs, _ := col.wait(ctx, t, 3)
	got := map[string]bool{}
	for _, m := range msgs {
		got[string(m.Body)] = true
	}
	if !got["commit-1"] || !got["commit-2"] || !got["unknown-1"] || got["rollback-1"] || len(msgs) != 3 {
		t.Errorf("consumed %v", got)
	}
	if l.checks.Load() == 0 {
		t.Error("no check reached the listener")
	}
}

// TestOfficialClientReceivesDelayedMessage: a message sent with delay level 1 (1 s) reaches the
// official consumer no sooner than 1 s after it was sent; an undelayed one at once.
func TestOfficialClientReceivesDelayedMessage(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c, ctx := prodSetup(t, topic, 1, nil)
	p := prodProducer(t, c)
	col := prodConsume(t, c, topic, consumer.MessageSelector{})
	sent := time.Now()
	if _, err := p.Send(ctx, &client.Message{Topic: topic, Body: []byte("delayed"), DelayLevel: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(ctx, &client.Message{Topic: topic, Body: []byte("now")}); err != nil {
		t.Fatal(err)
	}
	msgs, at := col.wait(ctx, t, 2)
	for i, m := range msgs {
		if string(m.Body) == "delayed" {
			if d := at[i].Sub(sent); d < time.Second {
				t.Errorf("delayed message consumed %v after it was sent", d)
			}
			if m.GetProperty(primitive.PropertyDelayTimeLevel) != "" {
				t.Errorf("DELAY still set on the delivered message: %v", m.GetProperties())
			}
			return
		}
	}
	t.Fatalf("delayed message not consumed: %d others", len(msgs))
}
