package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

func TestProducerSendRoundTrip(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c := prodCluster(t, topic, 4, nil)
	p := prodNew(t, c.NamesrvAddr)
	ctx := prodCtx(t, 30*time.Second)

	msg := &Message{
		Topic: topic, Body: []byte("hello"), Tag: "TagA", Keys: []string{"k1", "k2"},
		Properties: map[string]string{"color": "blue"}, Flag: 7,
	}
	res, err := p.Send(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != SendOK || len(res.MsgID) != 32 || len(res.OffsetMsgID) != 32 || res.RegionID != protocol.DefaultRegion {
		t.Fatalf("result %+v", res)
	}
	if res.Queue.Topic != topic || res.Queue.BrokerName != c.Config.BrokerName || res.Queue.QueueID < 0 || res.Queue.QueueID >= 4 {
		t.Fatalf("queue %v", res.Queue)
	}
	if msg.Properties[message.PropertyUniqKey] != "" || len(msg.Properties) != 1 {
		t.Fatalf("Send changed the message's properties: %v", msg.Properties)
	}
	stored := prodStored(t, c, topic, 4)
	if len(stored) != 1 {
		t.Fatalf("%d messages stored", len(stored))
	}
	m := stored[0]
	switch {
	case string(m.Body) != "hello", m.Tag != "TagA", !slices.Equal(m.Keys, []string{"k1", "k2"}), m.Property("color") != "blue", m.Flag != 7:
		t.Errorf("stored %+v", m)
	case m.MsgID != res.MsgID, m.OffsetMsgID != res.OffsetMsgID, m.QueueID != res.Queue.QueueID, m.QueueOffset != res.QueueOffset:
		t.Errorf("stored ids %s/%s q%d@%d, result %+v", m.MsgID, m.OffsetMsgID, m.QueueID, m.QueueOffset, res)
	case m.Properties[message.PropertyCluster] != c.Config.BrokerClusterName:
		t.Errorf("CLUSTER %q", m.Properties[message.PropertyCluster])
	}
}

func TestProducerSendAsync(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c := prodCluster(t, topic, 4, nil)
	p := prodNew(t, c.NamesrvAddr, WithMaxAsyncInflight(3))
	ctx := prodCtx(t, 30*time.Second)

	const n = 40
	var mu sync.Mutex
	ids := map[string]string{} // UNIQ_KEY → body
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		body := "async-" + strconv.Itoa(i)
		err := p.SendAsync(ctx, &Message{Topic: topic, Body: []byte(body)}, func(res *SendResult, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("async send %s: %v", body, err)
				return
			}
			mu.Lock()
			ids[res.MsgID] = body
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	stored := prodStored(t, c, topic, 4)
	if len(stored) != n || len(ids) != n {
		t.Fatalf("%d stored, %d results, want %d", len(stored), len(ids), n)
	}
	for _, m := range stored {
		if ids[m.MsgID] != string(m.Body) {
			t.Errorf("stored %s %q, sent %q", m.MsgID, m.Body, ids[m.MsgID])
		}
	}
}

func TestProducerSendAsyncBlocksWhenFull(t *testing.T) {
	t.Parallel()
	// A NameServer that never answers: the first send waits for it, so the one slot stays
	// taken while the second SendAsync waits for it.
	p, err := NewProducer("pg", WithNameServers(prodSilentServer(t)), WithMaxAsyncInflight(1),
		WithSendTimeout(time.Minute), WithCallTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer prodClose(t, p)
	sendCtx, cancelSend := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if err := p.SendAsync(sendCtx, &Message{Topic: "T", Body: []byte("x")}, func(_ *SendResult, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = p.SendAsync(waitCtx, &Message{Topic: "T", Body: []byte("y")}, func(*SendResult, error) { t.Error("callback of a refused send") })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second SendAsync with the slot taken: %v", err)
	}
	cancelSend()
	if err := <-done; err == nil {
		t.Fatal("cancelled send succeeded")
	}
}

func TestProducerSendOneway(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c := prodCluster(t, topic, 1, nil)
	p := prodNew(t, c.NamesrvAddr)
	ctx := prodCtx(t, 30*time.Second)
	if err := p.SendOneway(ctx, &Message{Topic: topic, Body: []byte("oneway"), Tag: "ow"}); err != nil {
		t.Fatal(err)
	}
	got, err := newProdPuller(t, c.BrokerAddr).until(ctx, topic, 0, func(m []*MessageExt) bool { return len(m) > 0 })
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0].Body) != "oneway" || got[0].Tag != "ow" || len(got[0].MsgID) != 32 {
		t.Fatalf("got %+v", got[0])
	}
}

func TestProducerSendBatch(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c := prodCluster(t, topic, 4, nil)
	p := prodNew(t, c.NamesrvAddr)
	ctx := prodCtx(t, 30*time.Second)

	var msgs []*Message
	for i := range 3 {
		msgs = append(msgs, &Message{Topic: topic, Body: []byte("batch-" + strconv.Itoa(i)), Tag: "b", Keys: []string{"key" + strconv.Itoa(i)}})
	}
	res, err := p.SendBatch(ctx, msgs)
	if err != nil {
		t.Fatal(err)
	}
	ids, offIDs := strings.Split(res.MsgID, ","), strings.Split(res.OffsetMsgID, ",")
	if len(ids) != 3 || len(offIDs) != 3 || res.Status != SendOK {
		t.Fatalf("result %+v", res)
	}
	stored := prodStored(t, c, topic, 4)
	if len(stored) != 3 {
		t.Fatalf("%d stored", len(stored))
	}
	for i, m := range stored {
		if string(m.Body) != "batch-"+strconv.Itoa(i) || m.MsgID != ids[i] || m.OffsetMsgID != offIDs[i] || m.Keys[0] != "key"+strconv.Itoa(i) ||
			m.QueueID != res.Queue.QueueID || m.QueueOffset != res.QueueOffset+int64(i) || m.SysFlag&message.SysFlagCompressed != 0 {
			t.Errorf("stored %d: %+v", i, m)
		}
	}
}

// TestProducerRefusesWithoutNetwork: invalid messages fail with ErrInvalidMessage or
// ErrMessageTooLarge before any network call (the NameServer address is unreachable, so a
// call would fail otherwise).
func TestProducerRefusesWithoutNetwork(t *testing.T) {
	t.Parallel()
	p, err := NewProducer("pg", WithNameServers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer prodClose(t, p)
	ctx := prodCtx(t, 10*time.Second)
	big := make([]byte, DefaultMaxMessageSize+1)
	half := make([]byte, DefaultMaxMessageSize/2)
	one := func(m *Message) func() error { return func() error { _, err := p.Send(ctx, m); return err } }
	batch := func(ms ...*Message) func() error { return func() error { _, err := p.SendBatch(ctx, ms); return err } }
	for _, tc := range []struct {
		name string
		send func() error
		want error
	}{
		{"nil message", one(nil), ErrInvalidMessage},
		{"empty topic", one(&Message{Body: []byte("x")}), ErrInvalidMessage},
		{"bad topic", one(&Message{Topic: "a b", Body: []byte("x")}), ErrInvalidMessage},
		{"empty body", one(&Message{Topic: "T"}), ErrInvalidMessage},
		{"body too large", one(&Message{Topic: "T", Body: big}), ErrMessageTooLarge},
		{"negative delay", one(&Message{Topic: "T", Body: []byte("x"), DelayLevel: -1}), ErrInvalidMessage},
		{"delay level and time", one(&Message{Topic: "T", Body: []byte("x"), DelayLevel: 1, DeliverAt: time.Now()}), ErrInvalidMessage},
		{"separator in property", one(&Message{Topic: "T", Body: []byte("x"), Properties: map[string]string{"a\x01": "b"}}), ErrInvalidMessage},
		{"properties too long", one(&Message{Topic: "T", Body: []byte("x"), Properties: map[string]string{"p": strings.Repeat("v", message.MaxPropertiesLen)}}), ErrInvalidMessage},
		{"oneway empty body", func() error { return p.SendOneway(ctx, &Message{Topic: "T"}) }, ErrInvalidMessage},
		{"async empty body", func() error { return p.SendAsync(ctx, &Message{Topic: "T"}, func(*SendResult, error) {}) }, ErrInvalidMessage},
		{"request empty body", func() error { _, err := p.Request(ctx, &Message{Topic: "T"}); return err }, ErrInvalidMessage},
		{"empty batch", batch(), ErrInvalidMessage},
		{"batch of two topics", batch(&Message{Topic: "T", Body: []byte("x")}, &Message{Topic: "U", Body: []byte("y")}), ErrInvalidMessage},
		{"delayed batch", batch(&Message{Topic: "T", Body: []byte("x"), DelayLevel: 2}), ErrInvalidMessage},
		{"timed batch", batch(&Message{Topic: "T", Body: []byte("x"), DeliverAt: time.Now()}), ErrInvalidMessage},
		{"batch with a nil message", batch(&Message{Topic: "T", Body: []byte("x")}, nil), ErrInvalidMessage},
		{"batch to a retry topic", batch(&Message{Topic: "%RETRY%g", Body: []byte("x")}), ErrInvalidMessage},
		{"batch over 4 MiB", batch(&Message{Topic: "T", Body: half}, &Message{Topic: "T", Body: half}, &Message{Topic: "T", Body: []byte("x")}), ErrMessageTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.send(); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestProducerOptionsValidated(t *testing.T) {
	t.Parallel()
	ns := WithNameServers("127.0.0.1:1")
	for _, tc := range []struct {
		name  string
		group string
		opts  []ProducerOption
		want  error
	}{
		{"no name server", "pg", nil, ErrNoNameServer},
		{"empty group", "", []ProducerOption{ns}, ErrInvalidOption},
		{"bad group", "p g", []ProducerOption{ns}, ErrInvalidOption},
		{"long group", strings.Repeat("g", 256), []ProducerOption{ns}, ErrInvalidOption},
		{"negative retries", "pg", []ProducerOption{ns, WithSendRetries(-1)}, ErrInvalidOption},
		{"zero send timeout", "pg", []ProducerOption{ns, WithSendTimeout(0)}, ErrInvalidOption},
		{"bad zlib level", "pg", []ProducerOption{ns, WithCompressLevel(10)}, ErrInvalidOption},
		{"zero max size", "pg", []ProducerOption{ns, WithMaxMessageSize(0)}, ErrInvalidOption},
		{"zero in-flight", "pg", []ProducerOption{ns, WithMaxAsyncInflight(0)}, ErrInvalidOption},
		{"zero check workers", "pg", []ProducerOption{ns, WithCheckWorkers(0)}, ErrInvalidOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewProducer(tc.group, tc.opts...)
			if !errors.Is(err, tc.want) {
				if p != nil {
					prodClose(t, p)
				}
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestProducerUnknownTopic(t *testing.T) {
	t.Parallel()
	c := prodCluster(t, "", 0, nil)
	p := prodNew(t, c.NamesrvAddr)
	_, err := p.Send(prodCtx(t, 30*time.Second), &Message{Topic: prodName(t, "Nope"), Body: []byte("x")})
	if !errors.Is(err, ErrNoRoute) || !errors.Is(err, ErrTopicNotExist) {
		t.Fatalf("send to an unknown topic: %v", err)
	}
}

func TestProducerAutoCreateTopic(t *testing.T) {
	t.Parallel()
	c := prodCluster(t, "", 0, nil)
	p := prodNew(t, c.NamesrvAddr, WithAutoCreateTopic(true))
	ctx := prodCtx(t, 30*time.Second)
	topic := prodName(t, "New")
	var sent []string
	for i := range 8 {
		res, err := p.Send(ctx, &Message{Topic: topic, Body: []byte(strconv.Itoa(i))})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		sent = append(sent, fmt.Sprintf("%v@%d", res.Queue, res.QueueOffset))
	}
	if got := prodStored(t, c, topic, defaultTopicQueueNums); len(got) != 8 {
		t.Fatalf("%d messages stored in the created topic; sent to %v", len(got), sent)
	}
}

func TestProducerCompression(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c := prodCluster(t, topic, 1, nil)
	ctx := prodCtx(t, 30*time.Second)
	big := bytes.Repeat([]byte("compressible "), 1000) // 13000 bytes
	small := bytes.Repeat([]byte("s"), DefaultCompressOver-1)
	p := prodNew(t, c.NamesrvAddr)
	off := prodNew(t, c.NamesrvAddr, WithCompressOver(0))
	for _, s := range []struct {
		p    *Producer
		body []byte
	}{{p, big}, {p, small}, {off, big}} {
		if _, err := s.p.Send(ctx, &Message{Topic: topic, Body: s.body}); err != nil {
			t.Fatal(err)
		}
	}
	st := c.Broker.Store()
	stored := prodStored(t, c, topic, 1)
	if len(stored) != 3 {
		t.Fatalf("%d stored", len(stored))
	}
	for i, want := range []bool{true, false, false} {
		m := stored[i]
		rec, err := st.GetMessage(m.CommitLogOffset)
		if err != nil {
			t.Fatal(err)
		}
		storedLen := len(rec.View.Body())
		rec.Release()
		if got := m.SysFlag&message.SysFlagCompressed != 0; got != want || (storedLen < len(m.Body)) != want {
			t.Errorf("message %d: compressed %v (stored %d bytes of %d), want %v", i, got, storedLen, len(m.Body), want)
		}
	}
	if !bytes.Equal(stored[0].Body, big) || !bytes.Equal(stored[1].Body, small) || !bytes.Equal(stored[2].Body, big) {
		t.Error("bodies differ after decoding")
	}
}

func TestProducerDelayLevel(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c := prodCluster(t, topic, 1, nil)
	p := prodNew(t, c.NamesrvAddr)
	ctx := prodCtx(t, 30*time.Second)
	res, err := p.Send(ctx, &Message{Topic: topic, Body: []byte("later"), DelayLevel: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Parked in the schedule topic's level-1 queue first, with its destination.
	parked := prodStored(t, c, protocol.ScheduleTopic, 1)
	if len(parked) != 1 || parked[0].Properties[message.PropertyRealTopic] != topic || parked[0].Properties[message.PropertyDelayLevel] != "1" {
		t.Fatalf("parked: %+v", parked)
	}
	got, err := newProdPuller(t, c.BrokerAddr).until(ctx, topic, 0, func(m []*MessageExt) bool { return len(m) > 0 })
	if err != nil {
		t.Fatal(err)
	}
	m := got[0]
	if m.MsgID != res.MsgID || string(m.Body) != "later" {
		t.Fatalf("delivered %+v", m)
	}
	if wait := m.StoreTimestamp.Sub(m.BornTimestamp); wait < 990*time.Millisecond {
		t.Fatalf("level 1 delivered %v after its birth", wait)
	}
}

func TestProducerDeliverAt(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c := prodCluster(t, topic, 1, nil)
	p := prodNew(t, c.NamesrvAddr)
	ctx := prodCtx(t, 30*time.Second)
	at := time.Now().Add(1500 * time.Millisecond).Truncate(time.Millisecond)
	res, err := p.Send(ctx, &Message{Topic: topic, Body: []byte("timer"), DeliverAt: at})
	if err != nil {
		t.Fatal(err)
	}
	// Parked in the timer's inbox with its destination, then delivered at its time, not before.
	parked := prodStored(t, c, "rmq_sys_wheel_timer", 1)
	if len(parked) != 1 || parked[0].Properties[message.PropertyRealTopic] != topic || parked[0].Properties[message.PropertyTimerDeliverMS] != strconv.FormatInt(at.UnixMilli(), 10) {
		t.Fatalf("parked: %+v", parked)
	}
	got, err := newProdPuller(t, c.BrokerAddr).until(ctx, topic, 0, func(m []*MessageExt) bool { return len(m) > 0 })
	if err != nil {
		t.Fatal(err)
	}
	if m := got[0]; m.MsgID != res.MsgID || string(m.Body) != "timer" || m.StoreTimestamp.Before(at) || m.Properties["TIMER_OUT_MS"] != strconv.FormatInt(at.UnixMilli(), 10) {
		t.Fatalf("delivered %+v (due %v)", m, at)
	}

	// Cancel: a waiting message, again, an unknown id, a delivered one.
	later, err := p.Send(ctx, &Message{Topic: topic, Body: []byte("never"), DeliverAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id   string
		want error
	}{{later.MsgID, nil}, {later.MsgID, nil}, {"0A0000000000000000000000000000FF", ErrNotScheduled}, {res.MsgID, ErrNotScheduled}} {
		if err := p.CancelScheduled(ctx, topic, tc.id); !errors.Is(err, tc.want) || tc.want != nil && !errors.Is(err, ErrQueryNotFound) {
			t.Fatalf("CancelScheduled(%s) = %v, want %v", tc.id, err, tc.want)
		}
	}
	// Further ahead than timerMaxDelaySec is refused with a clear error.
	_, err = p.Send(ctx, &Message{Topic: topic, Body: []byte("too far"), DeliverAt: time.Now().Add(8 * 24 * time.Hour)})
	if !errors.Is(err, ErrMessageIllegal) || !strings.Contains(err.Error(), "timerMaxDelaySec") {
		t.Fatalf("send 8 days ahead: %v", err)
	}
}

func TestProducerOrdered(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c := prodCluster(t, topic, 4, nil)
	p := prodNew(t, c.NamesrvAddr)
	ctx := prodCtx(t, 30*time.Second)
	keys := []string{"order-1", "order-2", "order-3", "order-4", "order-5"}
	const perKey = 10
	for i := range perKey {
		for _, k := range keys {
			if _, err := p.Send(ctx, &Message{Topic: topic, Body: []byte(k + ":" + strconv.Itoa(i)), ShardingKey: k}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A per-call selector wins over the sharding key.
	pin := WithQueueSelector(QueueSelectorFunc(func(_ *Message, qs []MessageQueue) MessageQueue { return qs[2] }))
	for i := range 3 {
		res, err := p.Send(ctx, &Message{Topic: topic, Body: []byte("pinned:" + strconv.Itoa(i)), ShardingKey: "order-1"}, pin)
		if err != nil || res.Queue.QueueID != 2 {
			t.Fatalf("pinned send: %v %v", res, err)
		}
	}
	queueOf := map[string]int32{}
	seq := map[string]int{}
	for _, m := range prodStored(t, c, topic, 4) { // queue by queue, each in offset order
		k, n, _ := strings.Cut(string(m.Body), ":")
		i, _ := strconv.Atoi(n)
		if q, ok := queueOf[k]; ok && q != m.QueueID {
			t.Errorf("%s on queues %d and %d", k, q, m.QueueID)
		}
		queueOf[k] = m.QueueID
		if i != seq[k] {
			t.Errorf("%s: message %d where %d was expected", k, i, seq[k])
		}
		seq[k]++
		if m.ShardingKey == "" {
			t.Errorf("SHARDING_KEY not stored: %+v", m)
		}
	}
	for _, k := range keys {
		if seq[k] != perKey {
			t.Errorf("%s: %d messages stored", k, seq[k])
		}
		if want := selectBySharding(&Message{ShardingKey: k}, []MessageQueue{{QueueID: 0}, {QueueID: 1}, {QueueID: 2}, {QueueID: 3}}).QueueID; queueOf[k] != want {
			t.Errorf("%s on queue %d, its hash says %d", k, queueOf[k], want)
		}
	}
	if queueOf["pinned"] != 2 || seq["pinned"] != 3 {
		t.Errorf("pinned messages: queue %d, %d of them", queueOf["pinned"], seq["pinned"])
	}
}

func TestProducerInjectsTraceContext(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c := prodCluster(t, topic, 1, nil)
	p := prodNew(t, c.NamesrvAddr, WithPropagator(propagation.TraceContext{}))
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(prodCtx(t, 30*time.Second), sc)
	if _, err := p.Send(ctx, &Message{Topic: topic, Body: []byte("traced")}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SendBatch(ctx, []*Message{{Topic: topic, Body: []byte("traced batch")}}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID())
	for _, m := range prodStored(t, c, topic, 1) {
		if got := m.Properties[message.PropertyTraceParent]; got != want {
			t.Errorf("%s: traceparent %q, want %q", m.Body, got, want)
		}
	}
}

func TestProducerClose(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "T")
	c := prodCluster(t, topic, 1, nil)
	p, err := NewProducer(prodName(t, "pg"), WithNameServers(c.NamesrvAddr))
	if err != nil {
		t.Fatal(err)
	}
	ctx := prodCtx(t, 30*time.Second)
	var wg sync.WaitGroup
	wg.Add(1)
	if err := p.SendAsync(ctx, &Message{Topic: topic, Body: []byte("in flight")}, func(_ *SendResult, err error) {
		defer wg.Done()
		if err != nil {
			t.Errorf("in-flight async send: %v", err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait() // Close waited for the callback
	if err := p.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
	msg := &Message{Topic: topic, Body: []byte("late")}
	if _, err := p.Send(ctx, msg); !errors.Is(err, ErrClosed) {
		t.Errorf("send after close: %v", err)
	}
	if err := p.SendAsync(ctx, msg, func(*SendResult, error) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("async send after close: %v", err)
	}
	if err := p.SendOneway(ctx, msg); !errors.Is(err, ErrClosed) {
		t.Errorf("oneway send after close: %v", err)
	}
	if _, err := p.SendBatch(ctx, []*Message{msg}); !errors.Is(err, ErrClosed) {
		t.Errorf("batch send after close: %v", err)
	}
	if _, err := p.Request(ctx, msg); !errors.Is(err, ErrClosed) {
		t.Errorf("request after close: %v", err)
	}
	if got := prodStored(t, c, topic, 1); len(got) != 1 {
		t.Errorf("%d stored, want the in-flight one", len(got))
	}
}

// TestSendResultCodes: the codes that mean "stored" give a result with their status; the
// others an error matching their sentinel, retried on another broker or not as RocketMQ does.
func TestSendResultCodes(t *testing.T) {
	p := &Producer{}
	o := &outgoing{topic: "T", code: remoting.SendMessageV2, msgIDs: "UNIQ"}
	q := MessageQueue{Topic: "T", BrokerName: "b", QueueID: 1}
	rh := protocol.SendMessageResponseHeader{MsgID: "OFFSETID", QueueID: 1, QueueOffset: 9, MsgRegion: "R", TraceOn: true}
	resp := func(code remoting.Code, fields map[string]string) *remoting.Command {
		return &remoting.Command{Code: int16(code), Remark: "remark", ExtFields: fields}
	}
	for _, tc := range []struct {
		code      remoting.Code
		status    SendStatus
		err       error
		retryable bool
	}{
		{remoting.Success, SendOK, nil, false},
		{remoting.FlushDiskTimeout, SendFlushDiskTimeout, nil, false},
		{remoting.FlushSlaveTimeout, SendFlushSlaveTimeout, nil, false},
		{remoting.SlaveNotAvailable, SendSlaveNotAvailable, nil, false},
		{remoting.SystemBusy, 0, ErrBrokerBusy, true},
		{remoting.SystemError, 0, ErrSystemError, true},
		{remoting.TopicNotExist, 0, ErrTopicNotExist, true},
		{remoting.NoPermission, 0, ErrNoPermission, true},
		{remoting.ServiceNotAvailable, 0, ErrServiceNotAvailable, true},
		{remoting.MessageIllegal, 0, ErrMessageIllegal, false},
	} {
		res, err := p.sendResult(resp(tc.code, rh.Encode()), o, q, "addr")
		switch {
		case tc.err == nil && (err != nil || res.Status != tc.status || res.MsgID != "UNIQ" || res.OffsetMsgID != "OFFSETID" ||
			res.Queue != q || res.QueueOffset != 9 || res.RegionID != "R" || !res.TraceOn):
			t.Errorf("%v: %+v, %v", tc.code, res, err)
		case tc.err != nil && (!errors.Is(err, tc.err) || retryable(err) != tc.retryable || !strings.Contains(err.Error(), "remark")):
			t.Errorf("%v: %v (retryable %v)", tc.code, err, retryable(err))
		}
		if tc.err == nil && !errors.Is(tc.status.Err(), map[SendStatus]error{SendOK: nil, SendFlushDiskTimeout: ErrFlushTimeout,
			SendFlushSlaveTimeout: ErrFlushSlaveTimeout, SendSlaveNotAvailable: ErrSlaveNotAvailable}[tc.status]) {
			t.Errorf("%v: status error %v", tc.status, tc.status.Err())
		}
	}
	if _, err := p.sendResult(resp(remoting.Success, map[string]string{"queueId": "x"}), o, q, "addr"); err == nil || retryable(err) {
		t.Errorf("undecodable response: %v (retryable %v)", err, retryable(err))
	}
	for _, err := range []error{ErrClosed, context.Canceled} {
		if retryable(fmt.Errorf("wrapped: %w", err)) {
			t.Errorf("%v retryable", err)
		}
	}
	if !retryable(errors.New("connection refused")) || !retryable(context.DeadlineExceeded) {
		t.Error("transport failures not retryable")
	}
}

// TestProducerRoundRobin: consecutive sends to a topic go to its queues in turn, each topic
// keeping its own position, also across route refreshes.
func TestProducerRoundRobin(t *testing.T) {
	t.Parallel()
	a, b := prodName(t, "A"), prodName(t, "B")
	c := prodCluster(t, a, 4, nil)
	if err := c.CreateTopic(b, 4); err != nil {
		t.Fatal(err)
	}
	p := prodNew(t, c.NamesrvAddr)
	ctx := prodCtx(t, 30*time.Second)
	send := func(topic string) int32 {
		t.Helper()
		res, err := p.Send(ctx, &Message{Topic: topic, Body: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		return res.Queue.QueueID
	}
	next := map[string]int32{a: (send(a) + 1) % 4, b: (send(b) + 1) % 4}
	for i := range 24 {
		topic := a // b is sent to twice as often: a's turn does not move with b's sends
		if i%3 != 0 {
			topic = b
		}
		if got := send(topic); got != next[topic] {
			t.Fatalf("send %d to %s: queue %d, want %d", i, topic, got, next[topic])
		}
		next[topic] = (next[topic] + 1) % 4
		if i%8 == 7 {
			p.in.refreshRoutes(ctx) // what the client does every 30 s
		}
	}
}
