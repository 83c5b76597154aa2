package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/protocol"
)

// TestPushConsumeAll: a concurrent consumer gets every message of several queues, with
// batches, and commits its offsets at Close.
func TestPushConsumeAll(t *testing.T) {
	t.Parallel()
	topic := consName("ConsumeAll")
	c := consCluster(t, topic, 4)
	s := newConsSender(t, c)
	const n = 200
	s.sendN(t, topic, 4, n, "m")
	col := newConsCollector()
	var maxBatch atomic.Int64
	group := consName("cg")
	pc := consStart(t, c, group, topic, Tag("*"), func(ctx context.Context, msgs []*MessageExt) (ConsumeResult, error) {
		for b := maxBatch.Load(); int64(len(msgs)) > b && !maxBatch.CompareAndSwap(b, int64(len(msgs))); b = maxBatch.Load() {
		}
		for _, m := range msgs[1:] {
			if m.QueueID != msgs[0].QueueID || m.QueueOffset <= msgs[0].QueueOffset {
				t.Errorf("batch mixes queues or is out of order: %d@%d after %d@%d", m.QueueID, m.QueueOffset, msgs[0].QueueID, msgs[0].QueueOffset)
			}
		}
		return col.handler(ctx, msgs)
	}, WithConsumeGoroutines(4), WithConsumeBatchSize(5), WithPullBatchSize(16))
	col.waitDistinct(t, n, 30*time.Second)
	col.requireBodies(t, "m", n)
	if d := col.duplicates(); d != 0 {
		t.Errorf("%d duplicates in a clean run", d)
	}
	if b := maxBatch.Load(); b < 2 || b > 5 {
		t.Errorf("largest batch %d, want 2..5", b)
	}
	for _, m := range col.snapshot()[:1] {
		if m.Topic != topic || m.MsgID == "" || m.OffsetMsgID == "" || m.BrokerName == "" || m.StoreTimestamp.IsZero() {
			t.Errorf("message fields not filled: %+v", m)
		}
	}
	consClose(t, pc)
	total := int64(0)
	for q := range 4 {
		off, err := committedOf(t, c, group, MessageQueue{Topic: topic, BrokerName: c.Config.BrokerName, QueueID: int32(q)})
		if err != nil {
			t.Fatal(err)
		}
		total += off
	}
	if total != n {
		t.Errorf("committed offsets add up to %d, want %d", total, n)
	}
}

// committedOf reads a group's committed offset through a pull consumer.
func committedOf(t testing.TB, c *brokertest.Cluster, group string, mq MessageQueue) (int64, error) {
	t.Helper()
	pl, err := NewPullConsumer(group, WithNameServers(c.NamesrvAddr), WithLogger(brokertest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer consClose(t, pl)
	return pl.Committed(consCtx(t, 10*time.Second), mq)
}

// TestPushTagSelector: the broker and the client filter by tag; keys and user properties
// arrive intact.
func TestPushTagSelector(t *testing.T) {
	t.Parallel()
	topic := consName("Tagged")
	c := consCluster(t, topic, 4)
	s := newConsSender(t, c)
	tags := []string{"TagA", "TagB", "TagC", "TagD"}
	for i := range 40 {
		m := &Message{Topic: topic, Body: fmt.Appendf(nil, "%d", i), Tag: tags[i%4], Keys: []string{fmt.Sprintf("k%d", i), "order"}}
		m.SetProperty("amount", fmt.Sprint(i*10))
		s.send(t, int32(i%4), m)
	}
	col := newConsCollector()
	consStart(t, c, consName("cg"), topic, Tag("TagA || TagC"), col.handler)
	col.waitDistinct(t, 20, 30*time.Second)
	for _, m := range col.snapshot() {
		var i int
		fmt.Sscan(string(m.Body), &i)
		if m.Tag != "TagA" && m.Tag != "TagC" {
			t.Errorf("message with tag %q delivered", m.Tag)
		}
		if strings.Join(m.Keys, " ") != fmt.Sprintf("k%d order", i) || m.Property("amount") != fmt.Sprint(i*10) {
			t.Errorf("message %d: keys %v amount %q", i, m.Keys, m.Property("amount"))
		}
	}
	if n := col.distinct(); n != 20 {
		t.Errorf("%d messages, want the 20 tagged TagA or TagC", n)
	}
}

// TestPushFilterSelectors: SQL92 and CEL subscriptions reach the broker (in the pull header and
// the heartbeat) and only matching messages arrive; a bad expression is refused with the
// compiler's message.
func TestPushFilterSelectors(t *testing.T) {
	t.Parallel()
	topic := consName("SQL")
	c := consCluster(t, topic, 2)
	s := newConsSender(t, c)
	for i := range 40 {
		m := &Message{Topic: topic, Body: fmt.Appendf(nil, "%d", i), Tag: "T"}
		m.SetProperty("a", fmt.Sprint(i))
		s.send(t, int32(i%2), m)
	}
	for _, sel := range []Selector{SQL92("a >= 10 AND a < 20"), CEL("int(props.a) >= 10 && int(props.a) < 20")} {
		t.Run(sel.Type(), func(t *testing.T) {
			col := newConsCollector()
			consStart(t, c, consName("cg"), topic, sel, col.handler)
			col.waitDistinct(t, 10, 30*time.Second)
			for _, m := range col.snapshot() {
				var a int
				fmt.Sscan(m.Property("a"), &a)
				if a < 10 || a >= 20 {
					t.Errorf("%s: message with a=%d delivered", sel, a)
				}
			}
		})
	}
	err := brokerFilters(t, c, topic, SQL92("a >="))
	if !errors.Is(err, ErrSubscriptionParse) || !strings.Contains(err.Error(), "column 5") {
		t.Fatalf("bad SQL92: %v, want SUBSCRIPTION_PARSE_FAILED with the parser's position", err)
	}
}

// brokerFilters pulls topic's queue 0 once with sel and returns the broker's refusal, if any.
func brokerFilters(t testing.TB, c *brokertest.Cluster, topic string, sel Selector) error {
	t.Helper()
	pl, err := NewPullConsumer(consName("probe"), WithNameServers(c.NamesrvAddr), WithLogger(brokertest.Logger()), WithLongPollTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer consClose(t, pl)
	mq := MessageQueue{Topic: topic, BrokerName: c.Config.BrokerName, QueueID: 0}
	_, err = pl.core.pull(consCtx(t, 10*time.Second), pullRequest{mq: mq, sub: newSubscription(topic, sel, nil)})
	return err
}

// TestPushRetry: a message whose first delivery fails comes back through %RETRY%<group>
// with ReconsumeTimes 1, its original topic, id, body and properties.
func TestPushRetry(t *testing.T) {
	t.Parallel()
	topic := consName("Retry")
	c := consCluster(t, topic, 2)
	s := newConsSender(t, c)
	const n = 10
	for i := range n {
		m := &Message{Topic: topic, Body: fmt.Appendf(nil, "r-%d", i), Tag: "T"}
		m.SetProperty("p", "v")
		s.send(t, int32(i%2), m)
	}
	col := newConsCollector()
	var mu sync.Mutex
	failed := map[string]bool{}
	consStart(t, c, consName("cg"), topic, Tag("T"), func(ctx context.Context, msgs []*MessageExt) (ConsumeResult, error) {
		col.add(msgs...)
		mu.Lock()
		defer mu.Unlock()
		m := msgs[0]
		if !failed[m.MsgID] {
			failed[m.MsgID] = true
			if m.ReconsumeTimes != 0 {
				t.Errorf("first delivery of %s has ReconsumeTimes %d", m.Body, m.ReconsumeTimes)
			}
			if len(msgs)%2 == 0 {
				return ConsumeRetryLater, nil
			}
			return ConsumeSuccess, errors.New("handler failed") // an error wins over the result
		}
		return ConsumeSuccess, nil
	})
	col.waitUntil(t, 30*time.Second, "every message twice", func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		for i := range n {
			if col.counts[fmt.Sprintf("r-%d", i)] < 2 {
				return false
			}
		}
		return true
	})
	firsts := map[string]*MessageExt{}
	for _, m := range col.snapshot() {
		f, ok := firsts[string(m.Body)]
		if !ok {
			firsts[string(m.Body)] = m
			continue
		}
		if m.ReconsumeTimes != 1 || m.Topic != topic || m.MsgID != f.MsgID || m.Property("p") != "v" || m.Tag != "T" {
			t.Errorf("redelivery of %s: reconsume %d topic %q id %s (first %s) p=%q tag %q",
				m.Body, m.ReconsumeTimes, m.Topic, m.MsgID, f.MsgID, m.Property("p"), m.Tag)
		}
	}
}

// TestPushMaxReconsumeToDLQ: a message failing more than WithMaxReconsumeTimes times goes to
// %DLQ%<group>; the others are consumed normally.
func TestPushMaxReconsumeToDLQ(t *testing.T) {
	t.Parallel()
	topic := consName("Dead")
	c := consCluster(t, topic, 1)
	s := newConsSender(t, c)
	s.send(t, 0, &Message{Topic: topic, Body: []byte("dead")})
	s.send(t, 0, &Message{Topic: topic, Body: []byte("alive")})
	group := consName("cg")
	var deliveries atomic.Int32
	col := newConsCollector()
	consStart(t, c, group, topic, Tag("*"), func(ctx context.Context, msgs []*MessageExt) (ConsumeResult, error) {
		col.add(msgs...)
		if string(msgs[0].Body) == "dead" {
			deliveries.Add(1)
			return ConsumeRetryLater, nil
		}
		return ConsumeSuccess, nil
	}, WithMaxReconsumeTimes(2))
	consEventually(t, 60*time.Second, "3 deliveries of the dead message", func() bool { return deliveries.Load() >= 3 })
	dlq := dlqMessages(t, c, group, topic, 1)
	if string(dlq[0].Body) != "dead" || dlq[0].ReconsumeTimes != 3 {
		t.Errorf("DLQ holds %q with ReconsumeTimes %d, want dead with 3", dlq[0].Body, dlq[0].ReconsumeTimes)
	}
	if d := deliveries.Load(); d != 3 {
		t.Errorf("dead message delivered %d times, want 3 (first + 2 retries)", d)
	}
	if col.count("alive") != 1 {
		t.Errorf("alive delivered %d times", col.count("alive"))
	}
}

// dlqMessages waits for n messages in group's dead-letter topic and returns them. The pull
// consumer learns the broker from topic's route (the DLQ topic may not be routed yet).
func dlqMessages(t testing.TB, c *brokertest.Cluster, group, topic string, n int) []*MessageExt {
	t.Helper()
	pl, err := NewPullConsumer(consName("dlq-reader"), WithNameServers(c.NamesrvAddr), WithLogger(brokertest.Logger()), WithConsumeFrom(ConsumeFromFirstOffset))
	if err != nil {
		t.Fatal(err)
	}
	defer consClose(t, pl)
	ctx := consCtx(t, 60*time.Second)
	if _, err := pl.Queues(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if err := pl.Assign(MessageQueue{Topic: protocol.DLQTopic(group), BrokerName: c.Config.BrokerName, QueueID: 0}); err != nil {
		t.Fatal(err)
	}
	var out []*MessageExt
	for len(out) < n {
		msgs, err := pl.Poll(ctx)
		if err != nil {
			t.Fatalf("poll DLQ: %v (got %d of %d)", err, len(out), n)
		}
		out = append(out, msgs...)
	}
	return out
}

// TestPushBroadcasting: two consumers of one group both get every message; offsets go to the
// local file at Close, and a consumer restarted on its file resumes after them.
func TestPushBroadcasting(t *testing.T) {
	t.Parallel()
	topic := consName("Broadcast")
	c := consCluster(t, topic, 4)
	s := newConsSender(t, c)
	group := consName("cg")
	dirs := []string{t.TempDir(), t.TempDir()}
	var cols [2]*consCollector
	var pcs [2]*PushConsumer
	for i := range pcs {
		cols[i] = newConsCollector()
		pcs[i] = consStart(t, c, group, topic, Tag("*"), cols[i].handler, WithBroadcasting(), WithOffsetStoreDir(dirs[i]))
	}
	s.sendN(t, topic, 4, 40, "old")
	for i := range cols {
		cols[i].waitDistinct(t, 40, 30*time.Second)
		cols[i].requireBodies(t, "old", 40)
		consClose(t, pcs[i])
	}
	if _, err := os.Stat(filepath.Join(dirs[0], group+".json")); err != nil {
		t.Fatalf("offset file: %v", err)
	}
	s.sendN(t, topic, 4, 20, "new")
	col := newConsCollector()
	consStart(t, c, group, topic, Tag("*"), col.handler, WithBroadcasting(), WithOffsetStoreDir(dirs[0]))
	col.waitDistinct(t, 20, 30*time.Second)
	col.requireBodies(t, "new", 20)
	for _, m := range col.snapshot() {
		if strings.HasPrefix(string(m.Body), "old") {
			t.Fatalf("restarted broadcasting consumer got %s again", m.Body)
		}
	}
}

// TestPushOffsetsResume: a clustering consumer commits its offsets to the broker at Close; a
// new consumer of the group resumes after them: nothing committed is redelivered, nothing is
// lost.
func TestPushOffsetsResume(t *testing.T) {
	t.Parallel()
	topic := consName("Resume")
	c := consCluster(t, topic, 4)
	s := newConsSender(t, c)
	group := consName("cg")
	s.sendN(t, topic, 4, 60, "old")
	col := newConsCollector()
	pc := consStart(t, c, group, topic, Tag("*"), col.handler, WithOffsetCommitInterval(time.Hour))
	col.waitDistinct(t, 60, 30*time.Second)
	consClose(t, pc)

	s.sendN(t, topic, 4, 40, "new")
	col2 := newConsCollector()
	consStart(t, c, group, topic, Tag("*"), col2.handler)
	col2.waitDistinct(t, 40, 30*time.Second)
	col2.requireBodies(t, "new", 40)
	for _, m := range col2.snapshot() {
		if strings.HasPrefix(string(m.Body), "old") {
			t.Fatalf("committed message %s redelivered", m.Body)
		}
	}
}

// TestPushConsumeFrom: where a group without committed offsets starts.
func TestPushConsumeFrom(t *testing.T) {
	t.Parallel()
	topic := consName("From")
	c := consCluster(t, topic, 2)
	s := newConsSender(t, c)
	s.sendN(t, topic, 2, 10, "old")
	time.Sleep(100 * time.Millisecond) // store timestamps: the old messages well before mid
	mid := time.Now()
	s.sendN(t, topic, 2, 10, "new")
	cases := []struct {
		name string
		from ConsumeFrom
		want []string // prefixes
	}{
		{"first", ConsumeFromFirstOffset, []string{"old", "new", "late"}},
		{"last", ConsumeFromLastOffset, []string{"late"}},
		{"timestamp", ConsumeFromTimestamp(mid), []string{"new", "late"}},
	}
	cols := make([]*consCollector, len(cases))
	for i, tc := range cases {
		cols[i] = newConsCollector()
		pc := consStart(t, c, consName("cg-"+tc.name), topic, Tag("*"), cols[i].handler, WithConsumeFrom(tc.from))
		consWaitPositions(t, pc, topic, 2)
	}
	s.sendN(t, topic, 2, 10, "late")
	for i, tc := range cases {
		cols[i].waitDistinct(t, 10*len(tc.want), 30*time.Second)
		for _, p := range tc.want {
			cols[i].requireBodies(t, p, 10)
		}
		for _, m := range cols[i].snapshot() {
			if !slices.Contains(tc.want, strings.Split(string(m.Body), "-")[0]) {
				t.Errorf("%s: got %s", tc.name, m.Body)
			}
		}
	}
}

// TestPushFlowControl: with a slow handler, the messages held for a queue stay within the
// pending limit plus one pull batch.
func TestPushFlowControl(t *testing.T) {
	t.Parallel()
	topic := consName("Flow")
	c := consCluster(t, topic, 1)
	s := newConsSender(t, c)
	const n, limit, batch = 150, 20, 8
	s.sendN(t, topic, 1, n, "f")
	mq := MessageQueue{Topic: topic, BrokerName: c.Config.BrokerName, QueueID: 0}
	col := newConsCollector()
	var maxSeen atomic.Int64
	var pcp atomic.Pointer[PushConsumer]
	pc := consNew(t, c, consName("cg"), WithPendingLimits(limit, 1<<20), WithPullBatchSize(batch), WithConsumeGoroutines(32))
	pcp.Store(pc)
	if err := pc.Subscribe(topic, Tag("*"), func(ctx context.Context, msgs []*MessageExt) (ConsumeResult, error) {
		p := int64(consPending(pcp.Load(), mq))
		for m := maxSeen.Load(); p > m && !maxSeen.CompareAndSwap(m, p); m = maxSeen.Load() {
		}
		time.Sleep(5 * time.Millisecond) // a slow handler
		return col.handler(ctx, msgs)
	}); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(consCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	col.waitDistinct(t, n, 60*time.Second)
	got := maxSeen.Load()
	t.Logf("most messages held: %d (limit %d, pull batch %d)", got, limit, batch)
	if got > limit+batch {
		t.Errorf("%d messages held, more than limit %d + pull batch %d", got, limit, batch)
	}
	if got < limit/2 {
		t.Errorf("only %d messages held: the limit was never reached, the test proves nothing", got)
	}
}

// TestPushTraceContext: the handler's ctx carries the trace context of the (first) message.
func TestPushTraceContext(t *testing.T) {
	t.Parallel()
	topic := consName("Trace")
	c := consCluster(t, topic, 1)
	s := newConsSender(t, c)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	m := &Message{Topic: topic, Body: []byte("traced")}
	m.SetProperty("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	s.send(t, 0, m)
	got := make(chan string, 1)
	consStart(t, c, consName("cg"), topic, Tag("*"), func(ctx context.Context, msgs []*MessageExt) (ConsumeResult, error) {
		select {
		case got <- trace.SpanContextFromContext(ctx).TraceID().String():
		default:
		}
		return ConsumeSuccess, nil
	}, WithPropagator(propagation.TraceContext{}))
	select {
	case id := <-got:
		if id != traceID {
			t.Errorf("handler ctx trace id %s, want %s", id, traceID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("message not consumed")
	}
}

// TestPushConsumerErrors: invalid options, misuse and unknown topics are typed errors.
func TestPushConsumerErrors(t *testing.T) {
	t.Parallel()
	for _, opts := range [][]PushConsumerOption{
		{WithConsumeGoroutines(0)},
		{WithConsumeBatchSize(-1)},
		{WithPullBatchSize(0)},
		{WithPendingLimits(0, 1)},
		{WithMaxReconsumeTimes(-1)},
		{WithAllocateStrategy(nil)},
		{WithRebalanceInterval(0)},
		{WithLongPollTimeout(time.Minute)},
		{WithMessageModel(MessageModel(7))},
	} {
		if _, err := NewPushConsumer("g", append(opts, WithNameServers("127.0.0.1:1"))...); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("options %v: %v, want ErrInvalidOption", opts, err)
		}
	}
	if _, err := NewPushConsumer("bad group!", WithNameServers("127.0.0.1:1")); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("bad group name: %v", err)
	}
	if _, err := NewPushConsumer("g"); !errors.Is(err, ErrNoNameServer) {
		t.Errorf("no name server: %v", err)
	}

	c := consCluster(t, "", 0)
	pc := consNew(t, c, consName("cg"))
	if err := pc.Start(context.Background()); !errors.Is(err, ErrNoSubscription) {
		t.Errorf("start without subscription: %v", err)
	}
	if err := pc.Subscribe("NoSuchTopic", Tag("*"), newConsCollector().handler); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(consCtx(t, 10*time.Second)); !errors.Is(err, ErrNoRoute) || !errors.Is(err, ErrTopicNotExist) {
		t.Errorf("start on an unknown topic: %v", err)
	}
	if err := pc.Subscribe("Other", Tag("*"), newConsCollector().handler); !errors.Is(err, ErrStarted) {
		t.Errorf("subscribe after start: %v", err)
	}
	consClose(t, pc)
	if err := pc.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("start after close: %v", err)
	}
}

// TestPushCloseWithHeldPulls: Close returns promptly while long polls are held by the broker,
// and leaves no goroutine behind (TestMain checks).
func TestPushCloseWithHeldPulls(t *testing.T) {
	t.Parallel()
	topic := consName("Idle")
	c := consCluster(t, topic, 4)
	pc := consStart(t, c, consName("cg"), topic, Tag("*"), newConsCollector().handler, WithOrderly(true))
	// 4 topic queues and the retry queue, all empty: their pulls are held by the broker
	consEventually(t, 30*time.Second, "4 pulls in flight", func() bool { return pc.pulling.Load() >= 4 })
	// The broker holds each pull up to the long-poll time (20 s): a Close that waited for them
	// would miss a deadline well below that.
	ctx, cancel := context.WithTimeout(context.Background(), DefaultLongPollTimeout/2)
	defer cancel()
	if err := pc.Close(ctx); err != nil {
		t.Fatalf("Close with held pulls: %v", err)
	}
}
