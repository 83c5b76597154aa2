package tracing

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/store"
	"github.com/ternmq/tern/sdk/client"
)

// wantParent fails unless child's parent is parent's span, in parent's trace.
func wantParent(t *testing.T, child, parent sdktrace.ReadOnlySpan) {
	t.Helper()
	if child.Parent().TraceID() != parent.SpanContext().TraceID() || child.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("%s: parent %s/%s, want %s %s/%s", child.Name(), child.Parent().TraceID(), child.Parent().SpanID(),
			parent.Name(), parent.SpanContext().TraceID(), parent.SpanContext().SpanID())
	}
}

// wantLink fails unless s links to sc.
func wantLink(t *testing.T, s sdktrace.ReadOnlySpan, sc trace.SpanContext) {
	t.Helper()
	for _, l := range s.Links() {
		if l.SpanContext.TraceID() == sc.TraceID() && l.SpanContext.SpanID() == sc.SpanID() {
			return
		}
	}
	t.Errorf("%s: no link to %s/%s (links %v)", s.Name(), sc.TraceID(), sc.SpanID(), s.Links())
}

// wantKind fails unless s has kind k.
func wantKind(t *testing.T, s sdktrace.ReadOnlySpan, k trace.SpanKind) {
	t.Helper()
	if s.SpanKind() != k {
		t.Errorf("%s: kind %v, want %v", s.Name(), s.SpanKind(), k)
	}
}

// TestTraceSendReceiveDeliverProcess: one message makes one trace: the producer's send, the
// broker's receive (its child) and store (the receive's child), the broker's deliver
// (parented to and linked with the message's context) and the consumer's process (the send's
// child), with the messaging attributes. With SYNC_FLUSH the broker's receive and store spans
// are ended by the store's flusher, which answers the send.
func TestTraceSendReceiveDeliverProcess(t *testing.T) {
	for _, mode := range []string{"ASYNC_FLUSH", "SYNC_FLUSH"} {
		t.Run(mode, func(t *testing.T) {
			testTraceSendReceiveDeliverProcess(t, func(cfg *broker.Config) { cfg.Store.FlushDiskType = store.FlushDiskType(mode) })
		})
	}
}

func testTraceSendReceiveDeliverProcess(t *testing.T, configure func(*broker.Config)) {
	tp, rec := newRecordingProvider(t)
	topic := uniqueName("Traced")
	c := startTraced(t, tp, topic, configure)
	p := newProducer(t, c, client.WithTracerProvider(tp))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Send(ctx, &client.Message{Topic: topic, Body: []byte("hello trace")})
	if err != nil {
		t.Fatal(err)
	}
	h, got := collect()
	pc := startConsumer(t, c, topic, h, client.WithTracerProvider(tp))
	m := receive(t, got, 30*time.Second)
	spans := rec.waitFor(t, 30*time.Second, "the spans of one message",
		has("send "+topic, "receive "+topic, "store "+topic, "deliver "+topic, "process "+topic))

	send := one(t, spans, "send "+topic)
	receive := one(t, spans, "receive "+topic)
	store := one(t, spans, "store "+topic)
	deliver := named(spans, "deliver "+topic)[0]
	process := one(t, spans, "process "+topic)
	wantKind(t, send, trace.SpanKindProducer)
	wantKind(t, receive, trace.SpanKindServer)
	wantKind(t, store, trace.SpanKindInternal)
	wantKind(t, deliver, trace.SpanKindServer)
	wantKind(t, process, trace.SpanKindConsumer)
	if send.Parent().IsValid() {
		t.Errorf("send has a parent: %v", send.Parent())
	}
	wantParent(t, receive, send)
	wantParent(t, store, receive)
	wantParent(t, deliver, send)
	wantLink(t, deliver, send.SpanContext())
	wantParent(t, process, send)

	sc := send.SpanContext()
	if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; m.Property("traceparent") != want {
		t.Errorf("consumed traceparent %q, want %q", m.Property("traceparent"), want)
	}
	for _, tc := range []struct {
		span       sdktrace.ReadOnlySpan
		key, value string
	}{
		{send, "messaging.system", "rocketmq"},
		{send, "messaging.destination.name", topic},
		{send, "messaging.operation.type", "send"},
		{send, "messaging.message.id", res.MsgID},
		{send, "messaging.client.id", p.ClientID()},
		{send, "messaging.message.body.size", "11"},
		{receive, "messaging.system", "rocketmq"},
		{receive, "messaging.destination.name", topic},
		{receive, "messaging.operation.name", "receive"},
		{receive, "messaging.message.id", res.MsgID},
		{receive, "tern.producer.group", p.Group()},
		{deliver, "messaging.operation.name", "deliver"},
		{deliver, "messaging.operation.type", "receive"},
		{deliver, "messaging.consumer.group.name", pc.Group()},
		{deliver, "messaging.message.id", res.MsgID},
		{process, "messaging.operation.type", "process"},
		{process, "messaging.consumer.group.name", pc.Group()},
		{process, "messaging.client.id", pc.ClientID()},
		{process, "messaging.message.id", res.MsgID},
		{process, "messaging.message.body.size", "11"},
	} {
		if got := attr(tc.span, tc.key); got != tc.value {
			t.Errorf("%s: %s=%q, want %q", tc.span.Name(), tc.key, got, tc.value)
		}
	}
}

// TestTraceBrokerRootsUntracedMessage: a message from a client without trace context gets a
// root span from the broker, whose context is stored in the message, so the deliver and the
// consumer's process spans join the broker's trace.
func TestTraceBrokerRootsUntracedMessage(t *testing.T) {
	tp, rec := newRecordingProvider(t)
	topic := uniqueName("Untraced")
	c := startTraced(t, tp, topic)
	p := newProducer(t, c) // the global (no-op) provider and propagator: no trace context
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.Send(ctx, &client.Message{Topic: topic, Body: []byte("no context")}); err != nil {
		t.Fatal(err)
	}
	h, got := collect()
	startConsumer(t, c, topic, h, client.WithTracerProvider(tp))
	m := receive(t, got, 30*time.Second)
	spans := rec.waitFor(t, 30*time.Second, "the broker-rooted trace",
		has("receive "+topic, "store "+topic, "deliver "+topic, "process "+topic))
	if n := len(named(spans, "send "+topic)); n != 0 {
		t.Fatalf("%d send spans from a producer without tracing", n)
	}
	receive := one(t, spans, "receive "+topic)
	if receive.Parent().IsValid() {
		t.Errorf("receive has a parent %v, want a root", receive.Parent())
	}
	wantParent(t, one(t, spans, "store "+topic), receive)
	deliver := named(spans, "deliver "+topic)[0]
	wantParent(t, deliver, receive)
	wantLink(t, deliver, receive.SpanContext())
	wantParent(t, one(t, spans, "process "+topic), receive)
	sc := receive.SpanContext()
	if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; m.Property("traceparent") != want {
		t.Errorf("stored traceparent %q, want the broker's %q", m.Property("traceparent"), want)
	}
}

// TestTraceDelayWait: a delayed message (a delivery time through the timer, a delay level
// through the level queues) gets a delay span from its store to its firing, in the
// producer's trace, and its consumer still joins that trace.
func TestTraceDelayWait(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*client.Message)
	}{
		{"deliver_at", func(m *client.Message) { m.DeliverAt = time.Now().Add(300 * time.Millisecond) }},
		{"delay_level", func(m *client.Message) { m.DelayLevel = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, rec := newRecordingProvider(t)
			topic := uniqueName("Delayed")
			c := startTraced(t, tp, topic)
			p := newProducer(t, c, client.WithTracerProvider(tp))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			msg := &client.Message{Topic: topic, Body: []byte("later")}
			tc.set(msg)
			if _, err := p.Send(ctx, msg); err != nil {
				t.Fatal(err)
			}
			h, got := collect()
			startConsumer(t, c, topic, h, client.WithTracerProvider(tp))
			receive(t, got, 30*time.Second)
			spans := rec.waitFor(t, 30*time.Second, "the delay span",
				has("send "+topic, "receive "+topic, "delay "+topic, "process "+topic))
			send := one(t, spans, "send "+topic)
			delay := one(t, spans, "delay "+topic)
			wantParent(t, delay, send)
			wantKind(t, delay, trace.SpanKindInternal)
			recv := one(t, spans, "receive "+topic)
			if start := delay.StartTime(); start.Before(recv.StartTime().Truncate(time.Millisecond)) || start.After(recv.EndTime()) {
				t.Errorf("delay starts at %v, not when the message was stored (receive %v..%v)", start, recv.StartTime(), recv.EndTime())
			}
			if delay.EndTime().Before(delay.StartTime()) {
				t.Errorf("delay ends at %v, before it starts at %v", delay.EndTime(), delay.StartTime())
			}
			wantParent(t, one(t, spans, "process "+topic), send)
		})
	}
}
