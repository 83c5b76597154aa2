//go:build !race

package broker_test

import (
	"context"
	"strings"
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
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// More official-client transactions: check-back rollback, a broker restart with pending half
// messages, and END_TRANSACTION repeated or contradicted.

// scriptListener decides local transactions by body prefix: the executor commits "commit…",
// rolls back "rollback…" and leaves everything else unknown; a check rolls back
// "check-rollback…" and commits everything else.
type scriptListener struct {
	mu      sync.Mutex
	checked map[string]int // body → checks received
}

func newScriptListener() *scriptListener { return &scriptListener{checked: map[string]int{}} }

func (l *scriptListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	switch body := string(m.Body); {
	case strings.HasPrefix(body, "commit"):
		return primitive.CommitMessageState
	case strings.HasPrefix(body, "rollback"):
		return primitive.RollbackMessageState
	}
	return primitive.UnknowState
}

func (l *scriptListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	l.mu.Lock()
	l.checked[string(m.Body)]++
	l.mu.Unlock()
	if strings.HasPrefix(string(m.Body), "check-rollback") {
		return primitive.RollbackMessageState
	}
	return primitive.CommitMessageState
}

func (l *scriptListener) checks(body string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checked[body]
}

// txClient is an official transactional producer and the instance name it runs under: a
// consumer started under the same name shares its client, and the heartbeat the consumer's
// start sends registers the producer group too (the client's own comes only every 30 s).
type txClient struct {
	p        rocketmq.TransactionProducer
	group    string
	instance string
}

func newTxClient(t *testing.T, c *brokertest.Cluster, lis primitive.TransactionListener) *txClient {
	t.Helper()
	tc := &txClient{group: "pg-" + instance(t), instance: instance(t)}
	p, err := rocketmq.NewTransactionProducer(lis,
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NamesrvAddr})),
		producer.WithGroupName(tc.group),
		producer.WithInstanceName(tc.instance),
		producer.WithRetry(2),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown() })
	tc.p = p
	return tc
}

func (tc *txClient) send(t *testing.T, topic string, bodies ...string) map[string]*primitive.TransactionSendResult {
	t.Helper()
	out := map[string]*primitive.TransactionSendResult{}
	for _, body := range bodies {
		res, err := tc.p.SendMessageInTransaction(context.Background(), primitive.NewMessage(topic, []byte(body)).WithTag("tx"))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %q: %v %v", body, res, err)
		}
		out[body] = res
	}
	return out
}

// consume starts a push consumer of topic under the producer's instance name (which also
// heartbeats the producer group to the broker) and returns what it collects.
func (tc *txClient) consume(t *testing.T, c *brokertest.Cluster, topic string) *collector {
	t.Helper()
	col := newCollector()
	startConsumer(t, newPushConsumer(t, c, "cg-"+instance(t), consumer.WithInstance(tc.instance)), topic,
		consumer.MessageSelector{Type: consumer.TAG, Expression: "tx"},
		func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			col.add(msgs...)
			return consumer.ConsumeSuccess, nil
		})
	return col
}

// waitOps waits until the broker has written at least n op records (commits and rollbacks).
func waitOps(t *testing.T, c *brokertest.Cluster, n int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		waitDispatched(t, c)
		got := c.Broker.Store().MaxOffset(protocol.TransOpHalfTopic, 0)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d op records after %v, want %d", got, timeout, n)
		}
		time.Sleep(20 * time.Millisecond) // polling the store
	}
}

// stored returns how many messages the topic's queues hold.
func stored(t *testing.T, c *brokertest.Cluster, topic string, queues int32) int64 {
	t.Helper()
	waitDispatched(t, c)
	var n int64
	for q := range queues {
		n += c.Broker.Store().MaxOffset(topic, q) - c.Broker.Store().MinOffset(topic, q)
	}
	return n
}

// checkConsumed fails unless col saw exactly the bodies of want, each once, with no
// transaction property left.
func checkConsumed(t *testing.T, col *collector, want ...string) {
	t.Helper()
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.seen) != len(want) {
		t.Fatalf("consumed %v, want each of %v once", col.seen, want)
	}
	for _, body := range want {
		if col.seen[body] != 1 {
			t.Fatalf("consumed %v, want each of %v once", col.seen, want)
		}
	}
	for _, m := range col.msgs {
		if m.GetProperty(primitive.PropertyTransactionPrepared) != "" {
			t.Errorf("consumed %q with properties %v", m.Body, m.GetProperties())
		}
	}
}

func TestOfficialClientTransactionCheckBackRollback(t *testing.T) {
	t.Parallel()
	c := brokertest.Start(t, func(cfg *broker.Config) {
		cfg.TransactionCheckInterval = config.Millis(200 * time.Millisecond)
		cfg.TransactionTimeOut = config.Millis(500 * time.Millisecond)
		cfg.TransactionCheckMax = 1000
	})
	const topic = "TxCheckBack"
	createTopic(t, c, topic, 4)
	lis := newScriptListener()
	tc := newTxClient(t, c, lis)
	tc.send(t, topic, "check-commit", "check-rollback")
	col := tc.consume(t, c, topic)
	col.wait(t, 1, 60*time.Second)
	waitOps(t, c, 2, 60*time.Second) // both resolved by their checks
	if lis.checks("check-commit") == 0 || lis.checks("check-rollback") == 0 {
		t.Fatalf("checks: commit %d, rollback %d", lis.checks("check-commit"), lis.checks("check-rollback"))
	}
	if n := stored(t, c, topic, 4); n != 1 {
		t.Fatalf("%d messages stored in %s, want 1", n, topic)
	}
	checkConsumed(t, col, "check-commit")
}

func TestOfficialClientTransactionRestartThenCheck(t *testing.T) {
	t.Parallel()
	c := brokertest.Start(t, func(cfg *broker.Config) {
		cfg.TransactionCheckInterval = config.Millis(time.Hour) // no check before the restart
		cfg.TransactionTimeOut = config.Millis(time.Hour)
		cfg.TransactionCheckMax = 1000
	})
	const topic = "TxRestart"
	createTopic(t, c, topic, 4)
	lis := newScriptListener()
	tc := newTxClient(t, c, lis)
	pending := []string{"pending-commit-1", "pending-commit-2", "check-rollback-1", "check-rollback-2"}
	tc.send(t, topic, append([]string{"commit-before", "rollback-before"}, pending...)...)
	waitOps(t, c, 2, 10*time.Second) // the executor's commit and rollback (oneway) have landed

	c.Config.TransactionCheckInterval = config.Millis(200 * time.Millisecond)
	c.Config.TransactionTimeOut = config.Millis(500 * time.Millisecond)
	c.RestartBroker(t)
	tc.send(t, topic, "commit-after") // the client's connection is back
	col := tc.consume(t, c, topic)
	want := []string{"commit-before", "pending-commit-1", "pending-commit-2", "commit-after"}
	col.wait(t, len(want), 60*time.Second)
	waitOps(t, c, 7, 60*time.Second) // every transaction ended
	for _, body := range pending {
		if lis.checks(body) == 0 {
			t.Errorf("%s resolved without a check", body)
		}
	}
	for _, body := range []string{"commit-before", "rollback-before", "commit-after"} {
		if n := lis.checks(body); n != 0 {
			t.Errorf("%s, ended by its executor, checked %d times", body, n)
		}
	}
	if n := stored(t, c, topic, 4); n != int64(len(want)) {
		t.Fatalf("%d messages stored in %s, want %d", n, topic, len(want))
	}
	checkConsumed(t, col, want...)
}

func TestOfficialClientDuplicateEndTransaction(t *testing.T) {
	t.Parallel()
	c := brokertest.Start(t, func(cfg *broker.Config) {
		cfg.TransactionCheckInterval = config.Millis(time.Hour) // only the test ends them
		cfg.TransactionTimeOut = config.Millis(time.Hour)
	})
	const topic = "TxDuplicateEnd"
	createTopic(t, c, topic, 4)
	tc := newTxClient(t, c, newScriptListener())
	halves := tc.send(t, topic, "dup-commit", "dup-rollback") // left unknown by the executor
	cl := remoting.NewClient(remoting.ClientOptions{})
	defer cl.Close()
	end := func(body string, how int32, fromCheck bool) remoting.Code {
		t.Helper()
		res := halves[body]
		_, phy, err := message.ParseOffsetMsgID(res.OffsetMsgID)
		if err != nil {
			t.Fatal(err)
		}
		h := protocol.EndTransactionHeader{ProducerGroup: tc.group, TranStateTableOffset: res.QueueOffset, CommitLogOffset: phy,
			CommitOrRollback: how, FromTransactionCheck: fromCheck, MsgID: res.MsgID, TransactionID: res.TransactionID}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := cl.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(remoting.EndTransaction, h.Encode(), nil))
		if err != nil {
			t.Fatalf("end %s: %v", body, err)
		}
		return remoting.Code(resp.Code)
	}
	for _, step := range []struct {
		name string
		body string
		how  int32
		from bool
		want remoting.Code
	}{
		{"commit", "dup-commit", protocol.TransactionCommit, false, remoting.Success},
		{"commit again", "dup-commit", protocol.TransactionCommit, false, remoting.Success},
		{"commit again from a check", "dup-commit", protocol.TransactionCommit, true, remoting.Success},
		{"roll back the committed", "dup-commit", protocol.TransactionRollback, false, remoting.TransactionShouldCommit},
		{"roll back", "dup-rollback", protocol.TransactionRollback, false, remoting.Success},
		{"roll back again", "dup-rollback", protocol.TransactionRollback, false, remoting.Success},
		{"commit the rolled back", "dup-rollback", protocol.TransactionCommit, false, remoting.TransactionShouldRollback},
		{"commit the rolled back from a check", "dup-rollback", protocol.TransactionCommit, true, remoting.TransactionShouldRollback},
	} {
		if code := end(step.body, step.how, step.from); code != step.want {
			t.Errorf("%s: %v, want %v", step.name, code, step.want)
		}
	}
	col := tc.consume(t, c, topic)
	col.wait(t, 1, 60*time.Second)
	if n := stored(t, c, topic, 4); n != 1 {
		t.Fatalf("%d messages stored in %s, want 1", n, topic)
	}
	checkConsumed(t, col, "dup-commit")
}
