package broker

import (
	"context"
	"time"

	"github.com/ternmq/tern/core/broker/timer"
	"github.com/ternmq/tern/core/broker/transaction"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/store"
)

// Tracing. The broker reports the life of a message through Tracer (Config.Tracer), which
// observability/tracing implements with OpenTelemetry. A nil Tracer means no tracing: the
// broker then makes no calls, and the send and pull paths allocate nothing for it.
//
// The trace context of a message travels in its properties (traceparent, tracestate, W3C
// format), where producers put it. A message stored without one gets the context of the span
// that received it, so that every later span (delivery, delay, consumers) joins that trace.
//
// Spans, by SpanOp (the Tracer names them and picks their kinds):
//
//   - SpanReceive: one per send request, parented to the first message's context (the
//     producer's send), with links to the other messages' contexts of a batch;
//   - SpanStore: its child, the store append;
//   - SpanDeliver: one per pull response that carries messages, parented to the first
//     message's context, with a link to each message's (at most maxSpanLinks); it ends when
//     the response is written;
//   - SpanFilter: a filter plugin's Match over a pull's messages;
//   - SpanSchedule: a scheduler plugin's Schedule over inbox messages;
//   - SpanDelay: the wait of a delayed message, from its store to its firing;
//   - SpanTxCheck: the check of a half message.

// Tracer starts the broker's spans. Implementations must be safe for concurrent use and must
// not block.
type Tracer interface {
	// Start starts a span. Its parent is the span in ctx when there is one, else s.Parent.
	// The returned ctx carries the new span.
	Start(ctx context.Context, s SpanStart) (context.Context, Span)
}

// Span is a started span.
type Span interface {
	// TraceContext returns the span's context in W3C form; Parent is "" when it has none.
	TraceContext() TraceContext
	// End ends the span; a non-nil err marks it failed.
	End(err error)
}

// SpanOp is what a span covers.
type SpanOp uint8

// The spans of the broker; see the package's tracing notes above.
const (
	SpanReceive SpanOp = iota + 1
	SpanStore
	SpanDeliver
	SpanFilter
	SpanSchedule
	SpanDelay
	SpanTxCheck
)

// TraceContext is a W3C trace context as message properties carry it.
type TraceContext struct {
	Parent string // traceparent, "" for none
	State  string // tracestate
}

// SpanStart describes a span to start. Zero fields are left out.
type SpanStart struct {
	Op       SpanOp
	Topic    string
	Group    string // the producer group of a send, the consumer group of a pull or filter
	ClientID string
	Plugin   string // the filter's expression type, the scheduler's or checker's name
	MsgID    string // a single message's UNIQ_KEY
	BodySize int    // a single message's body size
	Count    int    // the number of messages
	QueueID  int32
	Parent   TraceContext
	Links    []TraceContext // at most maxSpanLinks
	Start    time.Time      // zero: now
}

// maxSpanLinks bounds the links of one span (a batch send, a pull response).
const maxSpanLinks = 32

// traceContextOf reads the trace context in encoded properties.
func traceContextOf(props []byte) TraceContext {
	var tc TraceContext
	if v, ok := message.Property(props, message.PropertyTraceParent); ok {
		tc.Parent = string(v)
		if s, ok := message.Property(props, message.PropertyTraceState); ok {
			tc.State = string(s)
		}
	}
	return tc
}

// traceStart starts a span when tracing is on; the Span is nil when it is off.
func traceStart(ctx context.Context, t Tracer, s SpanStart) (context.Context, Span) {
	if t == nil {
		return ctx, nil
	}
	return t.Start(ctx, s)
}

// traceEnd ends sp unless it is nil.
func traceEnd(sp Span, err error) {
	if sp != nil {
		sp.End(err)
	}
}

// traceReceive starts the span of a send request over its records and gives the records
// without a trace context the span's. It returns a nil Span when tracing is off.
func (b *Broker) traceReceive(ctx context.Context, h *protocol.SendMessageHeader, topic string, recs []*message.Record) (context.Context, Span) {
	if b.cfg.Tracer == nil || len(recs) == 0 {
		return ctx, nil
	}
	s := SpanStart{Op: SpanReceive, Topic: topic, Group: h.ProducerGroup, Count: len(recs), QueueID: recs[0].QueueID}
	untraced := 0
	for _, r := range recs {
		tc := traceContextOf([]byte(r.Properties))
		switch {
		case tc.Parent == "":
			untraced++
		case tc == s.Parent:
		case s.Parent.Parent == "":
			s.Parent = tc
		case len(s.Links) < maxSpanLinks:
			s.Links = append(s.Links, tc)
		}
	}
	if len(recs) == 1 {
		s.BodySize = len(recs[0].Body)
		if id, ok := message.Property([]byte(recs[0].Properties), message.PropertyUniqKey); ok {
			s.MsgID = string(id)
		}
	}
	ctx, sp := b.cfg.Tracer.Start(ctx, s)
	if untraced == 0 {
		return ctx, sp
	}
	own := sp.TraceContext()
	if own.Parent == "" {
		return ctx, sp
	}
	for _, r := range recs {
		props := []byte(r.Properties)
		if _, ok := message.Property(props, message.PropertyTraceParent); ok {
			continue
		}
		p, err := message.AppendProperty(props, message.PropertyTraceParent, own.Parent)
		if err == nil && own.State != "" {
			p, err = message.AppendProperty(p, message.PropertyTraceState, own.State)
		}
		if err != nil {
			continue // no room left in the properties: the message goes untraced
		}
		r.Properties = string(p)
	}
	return ctx, sp
}

// traceDeliver starts the span of a pull response carrying msgs, which ends once the
// response is written (its Release).
func (b *Broker) traceDeliver(ctx context.Context, h *protocol.PullMessageHeader, resp *remoting.Command, msgs [][]byte) {
	if b.cfg.Tracer == nil || len(msgs) == 0 {
		return
	}
	s := SpanStart{Op: SpanDeliver, Topic: h.Topic, Group: h.ConsumerGroup, Count: len(msgs), QueueID: h.QueueID}
	for _, raw := range msgs {
		if len(s.Links) == maxSpanLinks {
			break
		}
		v, err := message.Parse(raw) // a pull without a filter checked only the header
		if err != nil {
			continue
		}
		if len(msgs) == 1 {
			s.BodySize = len(v.Body())
			if id, ok := message.Property(v.Properties(), message.PropertyUniqKey); ok {
				s.MsgID = string(id)
			}
		}
		tc := traceContextOf(v.Properties())
		if tc.Parent == "" {
			continue
		}
		if s.Parent.Parent == "" {
			s.Parent = tc
		}
		s.Links = append(s.Links, tc)
	}
	_, sp := b.cfg.Tracer.Start(ctx, s)
	release := resp.Release
	resp.Release = func() {
		if release != nil {
			release()
		}
		sp.End(nil)
	}
}

// traceFilter starts the span of a filter plugin's Match over the messages of res.
func (s *selector) traceFilter(ctx context.Context, res *store.GetResult) (context.Context, Span) {
	if s.tracer == nil {
		return ctx, nil
	}
	return s.tracer.Start(ctx, SpanStart{
		Op: SpanFilter, Topic: s.sub.Topic, Group: s.sub.Group, Plugin: s.sub.ExpressionType,
		Count: len(res.Messages), Parent: traceContextOf(message.View(res.Messages[0]).Properties()),
	})
}

// traceSchedule starts the span of a scheduler's Schedule over the inbox messages idx of msgs.
func (b *Broker) traceSchedule(ctx context.Context, s Scheduler, msgs []timer.Message, idx []int) (context.Context, Span) {
	if b.cfg.Tracer == nil || len(idx) == 0 {
		return ctx, nil
	}
	st := SpanStart{Op: SpanSchedule, Topic: msgs[idx[0]].Topic, Plugin: s.Name(), Count: len(idx)}
	for _, i := range idx {
		p := msgs[i].Properties
		tc := TraceContext{Parent: p[message.PropertyTraceParent], State: p[message.PropertyTraceState]}
		switch {
		case tc.Parent == "" || tc == st.Parent:
		case st.Parent.Parent == "":
			st.Parent = tc
		case len(st.Links) < maxSpanLinks:
			st.Links = append(st.Links, tc)
		}
	}
	return b.cfg.Tracer.Start(ctx, st)
}

// traceFired is the timer's and the delay levels' Fired hook: the span of a delayed message's
// wait, from scheduledAt (when it was stored to wait) to now.
func (b *Broker) traceFired(r *message.Record, scheduledAt int64) {
	props := []byte(r.Properties)
	s := SpanStart{
		Op: SpanDelay, Topic: r.Topic, QueueID: r.QueueID, Count: 1, BodySize: len(r.Body),
		Parent: traceContextOf(props), Start: time.UnixMilli(scheduledAt),
	}
	if id, ok := message.Property(props, message.PropertyUniqKey); ok {
		s.MsgID = string(id)
	}
	_, sp := b.cfg.Tracer.Start(context.Background(), s)
	sp.End(nil)
}

// firedHook returns the Fired hook of the timer and the delay levels: nil when tracing is off.
func (b *Broker) firedHook() func(*message.Record, int64) {
	if b.cfg.Tracer == nil {
		return nil
	}
	return b.traceFired
}

// tracedChecker adds the span of each check to a transaction checker.
type tracedChecker struct {
	t    Tracer
	name string // the checker plugin, "" for the producer check
	next transaction.Checker
}

var _ transaction.Checker = tracedChecker{}

func (c tracedChecker) Check(ctx context.Context, req transaction.CheckRequest) error {
	props := []byte(req.Record.Properties)
	topic := req.Record.Topic
	if t, ok := message.Property(props, message.PropertyRealTopic); ok {
		topic = string(t)
	}
	ctx, sp := c.t.Start(ctx, SpanStart{
		Op: SpanTxCheck, Topic: topic, Group: req.ProducerGroup, Plugin: c.name, MsgID: req.UniqKey,
		Count: 1, Parent: traceContextOf(props),
	})
	err := c.next.Check(ctx, req)
	sp.End(err)
	return err
}
