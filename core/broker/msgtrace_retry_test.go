package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/sdk/client"
)

// traceRoles returns the records of the life with role.
func traceRoles(l protocol.MessageLife, role string) []protocol.TracedRecord {
	var out []protocol.TracedRecord
	for _, r := range l.Records {
		if r.Role == role {
			out = append(out, r)
		}
	}
	return out
}

func TestTraceRetriedThenDeadLettered(t *testing.T) {
	c := brokertest.Start(t, func(cfg *broker.Config) {
		cfg.MessageDelayLevel = strings.TrimSpace(strings.Repeat("100ms ", 18))
	})
	const topic, group = "TraceFlaky", "trace-R"
	if err := c.CreateTopic(topic, 1); err != nil {
		t.Fatal(err)
	}
	p := traceProducer(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Send(ctx, &client.Message{Topic: topic, Body: []byte("poison")})
	if err != nil {
		t.Fatal(err)
	}
	traceConsumer(t, c, group, topic, func(context.Context, []*client.MessageExt) (client.ConsumeResult, error) {
		return client.ConsumeRetryLater, nil
	}, client.WithMaxReconsumeTimes(2))

	l := traceLife(t, c, res.MsgID, "a dead letter", func(l protocol.MessageLife) bool {
		return len(traceRoles(l, protocol.TraceRoleDeadLetter)) == 1
	})
	if l.Topic != topic || l.Records[0].Role != protocol.TraceRoleMessage {
		t.Fatalf("life: %+v", l)
	}
	if g, ok := traceGroup(l, protocol.TraceRoleMessage, group); !ok || !g.Consumed {
		t.Errorf("the original is consumed (sent back) by %s: %+v", group, g)
	}
	retries := traceRoles(l, protocol.TraceRoleRetry)
	if len(retries) != 2 {
		t.Fatalf("retries: %+v", retries)
	}
	for i, r := range retries {
		if r.Topic != protocol.RetryTopic(group) || r.Group != group || r.ReconsumeTimes != int32(i+1) {
			t.Errorf("retry %d: %+v", i, r)
		}
		if g, ok := traceGroup(protocol.MessageLife{Records: []protocol.TracedRecord{r}}, protocol.TraceRoleRetry, group); !ok || g.Subscription == "" {
			t.Errorf("retry %d: group %s not subscribed to its retry topic: %+v", i, group, r.Groups)
		}
	}
	waits := traceRoles(l, protocol.TraceRoleDelay)
	if len(waits) != 2 {
		t.Fatalf("delay copies: %+v", waits)
	}
	for i, w := range waits {
		if w.Wait == nil || w.Wait.State != protocol.TraceFired || w.Wait.Level <= 0 || w.Wait.Destination != protocol.RetryTopic(group) ||
			w.Wait.Due != w.StoreTime+100 || w.Wait.FiredAt != retries[i].StoreTime {
			t.Errorf("delay copy %d: %+v wait %+v", i, w, w.Wait)
		}
	}
	dlq := traceRoles(l, protocol.TraceRoleDeadLetter)[0]
	if dlq.Topic != protocol.DLQTopic(group) || dlq.Group != group || dlq.ReconsumeTimes != 3 {
		t.Errorf("dead letter: %+v", dlq)
	}
}

func TestTraceDeliverAt(t *testing.T) {
	c := brokertest.Start(t, nil)
	const topic = "TraceLater"
	if err := c.CreateTopic(topic, 1); err != nil {
		t.Fatal(err)
	}
	p := traceProducer(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	at := time.Now().Add(200 * time.Millisecond)
	res, err := p.Send(ctx, &client.Message{Topic: topic, Body: []byte("soon"), DeliverAt: at})
	if err != nil {
		t.Fatal(err)
	}
	l := traceLife(t, c, res.MsgID, "the fired copy", func(l protocol.MessageLife) bool {
		return len(traceRoles(l, protocol.TraceRoleMessage)) == 1
	})
	timers, msgs := traceRoles(l, protocol.TraceRoleTimer), traceRoles(l, protocol.TraceRoleMessage)
	if len(timers) != 1 || l.Topic != topic {
		t.Fatalf("life: %+v", l)
	}
	w := timers[0].Wait
	if w == nil || w.State != protocol.TraceFired || w.Due != at.UnixMilli() || w.Destination != topic || w.FiredAt != msgs[0].StoreTime || msgs[0].TimerOut != at.UnixMilli() {
		t.Errorf("timer %+v wait %+v, fired copy %+v; due %d", timers[0], w, msgs[0], at.UnixMilli())
	}

	// Far ahead: waiting, then cancelled.
	later := time.Now().Add(time.Hour)
	res, err = p.Send(ctx, &client.Message{Topic: topic, Body: []byte("later"), DeliverAt: later})
	if err != nil {
		t.Fatal(err)
	}
	l = traceLife(t, c, res.MsgID, "the waiting timer", func(l protocol.MessageLife) bool { return len(l.Records) == 1 })
	if w := l.Records[0].Wait; l.Records[0].Role != protocol.TraceRoleTimer || w == nil || w.State != protocol.TraceWaiting || w.Due != later.UnixMilli() {
		t.Fatalf("waiting timer: %+v wait %+v", l.Records[0], w)
	}
	if err := p.CancelScheduled(ctx, topic, res.MsgID); err != nil {
		t.Fatal(err)
	}
	l = traceLife(t, c, res.MsgID, "the cancelled timer", func(l protocol.MessageLife) bool { return len(l.Records) == 1 })
	if w := l.Records[0].Wait; w == nil || w.State != protocol.TraceCancelled {
		t.Fatalf("cancelled timer: %+v", w)
	}
}
