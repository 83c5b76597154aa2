package tracing

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ternmq/tern/core/broker"
)

// InstrumentationName names the tracer of the broker's spans.
const InstrumentationName = "github.com/ternmq/tern/core/broker"

// BrokerTracer is the broker's Tracer on an OTel TracerProvider. Its spans, by operation
// (messaging semantic conventions, messaging.system=rocketmq):
//
//	span             kind      messaging.operation.name / .type
//	receive TOPIC    SERVER    receive / send     a send request
//	store TOPIC      INTERNAL  store / send       its store append
//	deliver TOPIC    SERVER    deliver / receive  a pull response, linked to its messages
//	filter TOPIC     INTERNAL  filter             a filter plugin's Match
//	schedule TOPIC   INTERNAL  schedule           a scheduler plugin's Schedule
//	delay TOPIC      INTERNAL  delay              a delayed message's wait
//	check TOPIC      INTERNAL  check              a transaction check
//
// Other attributes: messaging.destination.name, messaging.destination.partition.id (the
// queue id), messaging.message.id and messaging.message.body.size (single messages),
// messaging.batch.message_count (several), messaging.consumer.group.name (deliver, filter),
// tern.producer.group (receive, check), tern.plugin (filter, schedule, check).
type BrokerTracer struct {
	t trace.Tracer
}

var _ broker.Tracer = (*BrokerTracer)(nil)

// NewBrokerTracer returns the broker's tracer on tp.
func NewBrokerTracer(tp trace.TracerProvider) *BrokerTracer {
	return &BrokerTracer{t: tp.Tracer(InstrumentationName)}
}

// spanKind describes the spans of one broker.SpanOp.
type spanKind struct {
	name     string // operation name, the span name's first word
	opType   string // messaging.operation.type, "" for none
	kind     trace.SpanKind
	consumer bool // Group is a consumer group (else a producer group)
}

var spanKinds = [...]spanKind{
	broker.SpanReceive:  {"receive", "send", trace.SpanKindServer, false},
	broker.SpanStore:    {"store", "send", trace.SpanKindInternal, false},
	broker.SpanDeliver:  {"deliver", "receive", trace.SpanKindServer, true},
	broker.SpanFilter:   {"filter", "", trace.SpanKindInternal, true},
	broker.SpanSchedule: {"schedule", "", trace.SpanKindInternal, false},
	broker.SpanDelay:    {"delay", "", trace.SpanKindInternal, false},
	broker.SpanTxCheck:  {"check", "", trace.SpanKindInternal, false},
}

// Start implements broker.Tracer.
func (t *BrokerTracer) Start(ctx context.Context, s broker.SpanStart) (context.Context, broker.Span) {
	k := spanKind{name: "unknown", kind: trace.SpanKindInternal}
	if int(s.Op) < len(spanKinds) && spanKinds[s.Op].name != "" {
		k = spanKinds[s.Op]
	}
	if !trace.SpanContextFromContext(ctx).IsValid() && s.Parent.Parent != "" {
		ctx = trace.ContextWithRemoteSpanContext(ctx, SpanContextOf(s.Parent))
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(k.kind)}
	if !s.Start.IsZero() {
		opts = append(opts, trace.WithTimestamp(s.Start))
	}
	ctx, sp := t.t.Start(ctx, k.name+" "+s.Topic, opts...)
	if sp.IsRecording() { // unsampled spans get no attributes or links: nothing reads them
		sp.SetAttributes(attributes(k, &s)...)
		for _, l := range s.Links {
			if sc := SpanContextOf(l); sc.IsValid() {
				sp.AddLink(trace.Link{SpanContext: sc})
			}
		}
	}
	return ctx, brokerSpan{sp}
}

// attributes returns the semantic-convention attributes of a span.
func attributes(k spanKind, s *broker.SpanStart) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 10)
	attrs = append(attrs,
		semconv.MessagingSystemRocketMQ,
		semconv.MessagingDestinationName(s.Topic),
		semconv.MessagingOperationName(k.name),
		semconv.MessagingDestinationPartitionID(strconv.Itoa(int(s.QueueID))),
	)
	if k.opType != "" {
		attrs = append(attrs, semconv.MessagingOperationTypeKey.String(k.opType))
	}
	if s.Count == 1 || s.MsgID != "" {
		if s.MsgID != "" {
			attrs = append(attrs, semconv.MessagingMessageID(s.MsgID))
		}
		attrs = append(attrs, semconv.MessagingMessageBodySize(s.BodySize))
	} else if s.Count > 1 {
		attrs = append(attrs, semconv.MessagingBatchMessageCount(s.Count))
	}
	switch {
	case s.Group == "":
	case k.consumer:
		attrs = append(attrs, semconv.MessagingConsumerGroupName(s.Group))
	default:
		attrs = append(attrs, attribute.String("tern.producer.group", s.Group))
	}
	if s.ClientID != "" {
		attrs = append(attrs, semconv.MessagingClientID(s.ClientID))
	}
	if s.Plugin != "" {
		attrs = append(attrs, attribute.String("tern.plugin", s.Plugin))
	}
	return attrs
}

// brokerSpan is a broker.Span on an OTel span.
type brokerSpan struct{ s trace.Span }

func (b brokerSpan) TraceContext() broker.TraceContext { return TraceContextOf(b.s.SpanContext()) }

func (b brokerSpan) End(err error) {
	if err != nil {
		b.s.RecordError(err)
		b.s.SetStatus(codes.Error, err.Error())
	}
	b.s.End()
}

// SpanContextOf parses a W3C trace context; the result is not valid if tc is not one.
func SpanContextOf(tc broker.TraceContext) trace.SpanContext {
	ctx := propagation.TraceContext{}.Extract(context.Background(), carrier(tc))
	return trace.SpanContextFromContext(ctx)
}

// TraceContextOf formats a span context as W3C trace context; Parent is "" if sc is not valid.
func TraceContextOf(sc trace.SpanContext) broker.TraceContext {
	if !sc.IsValid() {
		return broker.TraceContext{}
	}
	return broker.TraceContext{
		Parent: "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String(),
		State:  sc.TraceState().String(),
	}
}

// carrier reads a broker.TraceContext as a propagation.TextMapCarrier.
type carrier broker.TraceContext

func (c carrier) Get(key string) string {
	switch key {
	case "traceparent":
		return c.Parent
	case "tracestate":
		return c.State
	}
	return ""
}

func (carrier) Set(string, string) {}
func (carrier) Keys() []string     { return []string{"traceparent", "tracestate"} }
