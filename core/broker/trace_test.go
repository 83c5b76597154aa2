package broker

import (
	"context"
	"testing"

	"github.com/ternmq/tern/core/broker/timer"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/store"
)

// TestTracingOffAllocatesNothing: with no Tracer the tracing hooks on the send, pull, filter
// and schedule paths neither allocate nor touch the records or the response.
func TestTracingOffAllocatesNothing(t *testing.T) {
	b := &Broker{}
	ctx := context.Background()
	props := "UNIQ_KEY\x01abc\x02"
	recs := []*message.Record{{Topic: "T", Body: []byte("x"), Properties: props}}
	h := protocol.SendMessageHeader{Topic: "T", ProducerGroup: "pg"}
	ph := protocol.PullMessageHeader{Topic: "T", ConsumerGroup: "cg"}
	resp := &remoting.Command{}
	msgs := [][]byte{[]byte("raw")}
	sel := &selector{}
	res := &store.GetResult{Messages: msgs}
	inbox := []timer.Message{{Topic: "T"}}
	idx := []int{0}
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"receive", func() {
			_, sp := b.traceReceive(ctx, &h, "T", recs)
			traceEnd(sp, nil)
		}},
		{"store", func() {
			_, sp := traceStart(ctx, b.cfg.Tracer, SpanStart{Op: SpanStore, Topic: "T", Count: 1})
			traceEnd(sp, nil)
		}},
		{"deliver", func() { b.traceDeliver(ctx, &ph, resp, msgs) }},
		{"filter", func() {
			_, sp := sel.traceFilter(ctx, res)
			traceEnd(sp, nil)
		}},
		{"schedule", func() {
			_, sp := b.traceSchedule(ctx, nil, inbox, idx)
			traceEnd(sp, nil)
		}},
	} {
		if n := testing.AllocsPerRun(100, tc.f); n != 0 {
			t.Errorf("%s: %v allocations per call with tracing off, want 0", tc.name, n)
		}
	}
	if recs[0].Properties != props {
		t.Errorf("properties changed with tracing off: %q", recs[0].Properties)
	}
	if resp.Release != nil {
		t.Error("the response's Release was wrapped with tracing off")
	}
	if b.firedHook() != nil {
		t.Error("a Fired hook with tracing off")
	}
}

// fakeTracer records what the broker asks for; its spans have the context own.
type fakeTracer struct {
	own     TraceContext
	started []SpanStart
	ended   int
}

func (f *fakeTracer) Start(ctx context.Context, s SpanStart) (context.Context, Span) {
	f.started = append(f.started, s)
	return ctx, fakeSpan{f}
}

type fakeSpan struct{ f *fakeTracer }

func (s fakeSpan) TraceContext() TraceContext { return s.f.own }
func (s fakeSpan) End(error)                  { s.f.ended++ }

// TestTraceReceiveStampsUntracedRecords: the receive span is parented to the first traced
// record and linked to the others; records without trace context get the span's.
func TestTraceReceiveStampsUntracedRecords(t *testing.T) {
	const (
		tp1 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		tp2 = "00-0af7651916cd43dd8448eb211c80319d-b7ad6b7169203332-01"
		own = "00-1111111111111111111111111111111a-2222222222222222-01"
	)
	enc := func(kv ...string) string {
		var b []byte
		for i := 0; i < len(kv); i += 2 {
			b, _ = message.AppendProperty(b, kv[i], kv[i+1])
		}
		return string(b)
	}
	recs := []*message.Record{
		{Topic: "T", Properties: enc(message.PropertyUniqKey, "a")},
		{Topic: "T", Properties: enc(message.PropertyTraceParent, tp1, message.PropertyTraceState, "k=v")},
		{Topic: "T", Properties: enc(message.PropertyTraceParent, tp2)},
	}
	ft := &fakeTracer{own: TraceContext{Parent: own, State: "o=1"}}
	b := &Broker{cfg: Config{Tracer: ft}}
	h := protocol.SendMessageHeader{Topic: "T", ProducerGroup: "pg"}
	_, sp := b.traceReceive(context.Background(), &h, "T", recs)
	sp.End(nil)
	if len(ft.started) != 1 || ft.ended != 1 {
		t.Fatalf("%d spans started, %d ended; want 1 and 1", len(ft.started), ft.ended)
	}
	s := ft.started[0]
	if s.Op != SpanReceive || s.Topic != "T" || s.Group != "pg" || s.Count != 3 {
		t.Errorf("span start %+v", s)
	}
	if s.Parent != (TraceContext{Parent: tp1, State: "k=v"}) {
		t.Errorf("parent %+v, want the first traced record's", s.Parent)
	}
	if len(s.Links) != 1 || s.Links[0].Parent != tp2 {
		t.Errorf("links %+v, want the other traced record's", s.Links)
	}
	for i, want := range []TraceContext{{own, "o=1"}, {tp1, "k=v"}, {tp2, ""}} {
		if got := traceContextOf([]byte(recs[i].Properties)); got != want {
			t.Errorf("record %d: trace context %+v, want %+v", i, got, want)
		}
	}
}
