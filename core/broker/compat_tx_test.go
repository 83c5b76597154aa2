//go:build !race

package broker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/config"
)

// bodyListener decides a local transaction by the message body: "commit" and "rollback" say
// so at once; "unknown" is unknown until the broker checks it, then committed.
type bodyListener struct {
	mu      sync.Mutex
	checked map[string]int // body → checks received
}

func (l *bodyListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	switch string(m.Body) {
	case "commit":
		return primitive.CommitMessageState
	case "rollback":
		return primitive.RollbackMessageState
	}
	return primitive.UnknowState
}

func (l *bodyListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	l.mu.Lock()
	l.checked[string(m.Body)]++
	l.mu.Unlock()
	if string(m.Body) == "rollback" {
		return primitive.RollbackMessageState
	}
	return primitive.CommitMessageState
}

func (l *bodyListener) checks(body string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checked[body]
}

func TestOfficialClientTransactions(t *testing.T) {
	t.Parallel()
	c := brokertest.Start(t, func(cfg *broker.Config) {
		cfg.TransactionCheckInterval = config.Millis(200 * time.Millisecond)
		cfg.TransactionTimeOut = config.Millis(500 * time.Millisecond)
		cfg.TransactionCheckMax = 1000
	})
	const topic = "TxOfficial"
	createTopic(t, c, topic, 4)
	lis := &bodyListener{checked: map[string]int{}}
	group := "pg-" + instance(t)
	p, err := rocketmq.NewTransactionProducer(lis,
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NamesrvAddr})),
		producer.WithGroupName(group),
		producer.WithInstanceName(instance(t)),
		producer.WithRetry(2),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown() })
	// "unknown" first: the client then knows the broker before its first heartbeat (1 s after
	// start; the next is 30 s later), and only a heartbeat lets the broker check it.
	for _, body := range []string{"unknown", "commit", "rollback"} {
		res, err := p.SendMessageInTransaction(context.Background(), primitive.NewMessage(topic, []byte(body)).WithTag("tx"))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %q: %v %v", body, res, err)
		}
		if len(res.OffsetMsgID) != 32 || res.MsgID == "" {
			t.Fatalf("send %q result: msgId %q offsetMsgId %q", body, res.MsgID, res.OffsetMsgID)
		}
	}
	col := newCollector()
	startConsumer(t, newPushConsumer(t, c, "cg-"+instance(t)), topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "tx"},
		func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			col.add(msgs...)
			return consumer.ConsumeSuccess, nil
		})
	col.wait(t, 2, 60*time.Second)
	if col.seen["commit"] != 1 || col.seen["unknown"] != 1 {
		t.Fatalf("consumed %v, want commit and unknown", col.seen)
	}
	if lis.checks("unknown") == 0 {
		t.Fatal("unknown consumed without a check")
	}
	// Everything the broker will ever deliver is in the topic now: exactly those two, once.
	waitDispatched(t, c)
	var stored int64
	for q := range int32(4) {
		stored += c.Broker.Store().MaxOffset(topic, q)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if stored != 2 || col.seen["rollback"] != 0 {
		t.Fatalf("%d messages stored in %s, consumed %v", stored, topic, col.seen)
	}
	for _, m := range col.msgs {
		if m.GetProperty(primitive.PropertyTransactionPrepared) != "" || m.GetTags() != "tx" {
			t.Errorf("consumed %q with properties %v", m.Body, m.GetProperties())
		}
	}
}
