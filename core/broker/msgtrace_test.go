package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/sdk/client"
)

// traceQuery sends TRACE_MESSAGE to the broker and returns the answer; err is the response's
// error (remoting.ErrQueryNotFound when the broker has no record).
func traceQuery(t *testing.T, c *brokertest.Cluster, h protocol.TraceMessageHeader) (protocol.MessageTrace, error) {
	t.Helper()
	cl := remoting.NewClient(remoting.ClientOptions{})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(remoting.TraceMessage, h.Encode(), nil))
	if err != nil {
		t.Fatal(err)
	}
	var tr protocol.MessageTrace
	if err := remoting.ResponseErr(resp); err != nil {
		return tr, err
	}
	if err := json.Unmarshal(resp.Body, &tr); err != nil {
		t.Fatalf("trace body: %v\n%s", err, resp.Body)
	}
	return tr, nil
}

// traceLife waits until the trace of id satisfies cond and returns it.
func traceLife(t *testing.T, c *brokertest.Cluster, id, what string, cond func(protocol.MessageLife) bool) protocol.MessageLife {
	t.Helper()
	var last protocol.MessageLife
	traceEventually(t, what, func() bool {
		tr, err := traceQuery(t, c, protocol.TraceMessageHeader{MsgID: id})
		if err != nil || len(tr.Messages) != 1 {
			return false
		}
		last = tr.Messages[0]
		return cond(last)
	}, func() string { b, _ := json.MarshalIndent(last, "", "  "); return string(b) })
	return last
}

// traceEventually polls cond every 20 ms for up to 30 s; on timeout it fails with dump().
func traceEventually(t *testing.T, what string, cond func() bool, dump func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last:\n%s", what, dump())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func traceProducer(t *testing.T, c *brokertest.Cluster, opts ...client.ProducerOption) *client.Producer {
	t.Helper()
	opts = append([]client.ProducerOption{client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger())}, opts...)
	p, err := client.NewProducer("trace-pg", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { traceClose(t, p) })
	return p
}

// traceConsumer starts a push consumer of topic from its first offset, closed with the test.
func traceConsumer(t *testing.T, c *brokertest.Cluster, group, topic string, h client.ConsumeFunc, opts ...client.PushConsumerOption) *client.PushConsumer {
	t.Helper()
	opts = append([]client.PushConsumerOption{client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger()),
		client.WithConsumeFrom(client.ConsumeFromFirstOffset), client.WithOffsetCommitInterval(50 * time.Millisecond)}, opts...)
	pc, err := client.NewPushConsumer(group, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe(topic, client.Tag("*"), h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { traceClose(t, pc) })
	return pc
}

func traceClose(t *testing.T, cl interface{ Close(context.Context) error }) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// traceGroup returns the progress of group on the life's first record of role.
func traceGroup(l protocol.MessageLife, role, group string) (protocol.TraceGroup, bool) {
	for _, r := range l.Records {
		if r.Role != role {
			continue
		}
		for _, g := range r.Groups {
			if g.Group == group {
				return g, true
			}
		}
	}
	return protocol.TraceGroup{}, false
}

func TestTraceConsumedByOneGroupPendingForAnother(t *testing.T) {
	c := brokertest.Start(t, nil)
	const topic = "TraceOrders"
	if err := c.CreateTopic(topic, 1); err != nil {
		t.Fatal(err)
	}
	p := traceProducer(t, c, client.WithPropagator(propagation.TraceContext{}))
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0xa1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx, cancel := context.WithTimeout(trace.ContextWithRemoteSpanContext(context.Background(), sc), 30*time.Second)
	defer cancel()
	res, err := p.Send(ctx, &client.Message{Topic: topic, Body: []byte("order 7"), Tag: "created", Keys: []string{"order-7"}})
	if err != nil {
		t.Fatal(err)
	}

	a := traceConsumer(t, c, "trace-A", topic, func(context.Context, []*client.MessageExt) (client.ConsumeResult, error) {
		return client.ConsumeSuccess, nil
	})
	// Group B's handler holds the message until the test ends: pulled, not consumed.
	release := make(chan struct{})
	b := traceConsumer(t, c, "trace-B", topic, func(ctx context.Context, _ []*client.MessageExt) (client.ConsumeResult, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return client.ConsumeSuccess, nil
	})
	t.Cleanup(func() { close(release) }) // runs before the consumers close

	l := traceLife(t, c, res.MsgID, "A consumed, B pulled", func(l protocol.MessageLife) bool {
		ga, _ := traceGroup(l, protocol.TraceRoleMessage, "trace-A")
		gb, _ := traceGroup(l, protocol.TraceRoleMessage, "trace-B")
		return ga.Consumed && slices.ContainsFunc(gb.Pulls, func(p protocol.TracePull) bool { return p.Delivered })
	})
	if l.MsgID != res.MsgID || l.Topic != topic || l.TraceID != sc.TraceID().String() || len(l.Records) != 1 {
		t.Fatalf("life: %+v", l)
	}
	r := l.Records[0]
	if r.Role != protocol.TraceRoleMessage || r.QueueOffset != res.QueueOffset || r.OffsetMsgID != res.OffsetMsgID ||
		r.Tags != "created" || r.Keys != "order-7" || r.StoreHost != c.BrokerAddr || r.StoreTime == 0 {
		t.Fatalf("stored record: %+v", r)
	}
	ga, _ := traceGroup(l, protocol.TraceRoleMessage, "trace-A")
	gb, _ := traceGroup(l, protocol.TraceRoleMessage, "trace-B")
	if !slices.Contains(ga.Online, a.ClientID()) || ga.Subscription != "*" || ga.CommittedOffset <= r.QueueOffset {
		t.Errorf("group A: %+v", ga)
	}
	if gb.Consumed || gb.CommittedOffset > r.QueueOffset || len(gb.Pulls) != 1 || gb.Pulls[0].ClientID != b.ClientID() || !gb.Pulls[0].PulledPast {
		t.Errorf("group B: %+v (client %s)", gb, b.ClientID())
	}

	// The offset message id and the key name the same message.
	tr, err := traceQuery(t, c, protocol.TraceMessageHeader{MsgID: res.OffsetMsgID})
	if err != nil || len(tr.Messages) != 1 || tr.Messages[0].MsgID != res.MsgID || tr.BrokerAddr != c.BrokerAddr {
		t.Fatalf("by offset id: %+v %v", tr, err)
	}
	tr, err = traceQuery(t, c, protocol.TraceMessageHeader{Key: "order-7", Topic: topic})
	if err != nil || len(tr.Messages) != 1 || tr.Messages[0].MsgID != res.MsgID {
		t.Fatalf("by key: %+v %v", tr, err)
	}
}

func TestTraceTransactionCommitted(t *testing.T) {
	c := brokertest.Start(t, nil)
	const topic = "TraceTx"
	if err := c.CreateTopic(topic, 1); err != nil {
		t.Fatal(err)
	}
	tp, err := client.NewTransactionProducer("trace-tx-pg", commitAll{}, client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { traceClose(t, tp) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := tp.SendInTransaction(ctx, &client.Message{Topic: topic, Body: []byte("paid")})
	if err != nil {
		t.Fatal(err)
	}
	l := traceLife(t, c, res.MsgID, "the committed message", func(l protocol.MessageLife) bool {
		return l.Transaction != nil && l.Transaction.State == protocol.TraceTxCommitted && len(l.Records) == 2
	})
	if tx := l.Transaction; tx.ProducerGroup != "trace-tx-pg" || tx.HalfOffset != res.QueueOffset {
		t.Errorf("transaction: %+v (half at %d)", tx, res.QueueOffset)
	}
	if l.Topic != topic || l.Records[0].Role != protocol.TraceRoleHalf || l.Records[1].Role != protocol.TraceRoleMessage || l.Records[1].Topic != topic {
		t.Errorf("records: %+v", l.Records)
	}
}

// commitAll commits every local transaction.
type commitAll struct{}

func (commitAll) ExecuteLocal(context.Context, *client.Message, *client.SendResult) client.TxState {
	return client.TxCommit
}

func (commitAll) Check(context.Context, *client.MessageExt) client.TxState { return client.TxCommit }

func TestTraceUnknownMessage(t *testing.T) {
	c := brokertest.Start(t, nil)
	if err := c.CreateTopic("TraceNone", 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		h    protocol.TraceMessageHeader
		want error
		text string
	}{
		{"client id", protocol.TraceMessageHeader{MsgID: "7F0000010000000000000000000000AA"}, remoting.ErrQueryNotFound, "not found on broker"},
		{"client id in topic", protocol.TraceMessageHeader{MsgID: "7F0000010000000000000000000000AA", Topic: "TraceNone"}, remoting.ErrQueryNotFound, "not found"},
		{"key", protocol.TraceMessageHeader{Key: "nobody", Topic: "TraceNone"}, remoting.ErrQueryNotFound, "no message of TraceNone with key nobody"},
		{"not an id", protocol.TraceMessageHeader{MsgID: "hello"}, remoting.ErrQueryNotFound, "not found"},
		{"nothing asked", protocol.TraceMessageHeader{Topic: "TraceNone"}, remoting.ErrSystemError, "msgId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := traceQuery(t, c, tc.h)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err %v, want %v with %q", err, tc.want, tc.text)
			}
		})
	}
}
