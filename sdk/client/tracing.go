package client

import (
	"context"
	"reflect"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Tracing (OpenTelemetry messaging semantic conventions, messaging.system=rocketmq):
//
//   - "send TOPIC" (PRODUCER) around Send, SendAsync, SendOneway, SendBatch and
//     SendInTransaction's half message. Its context is the one injected into the messages'
//     properties, so the broker's and the consumers' spans join its trace.
//   - "process TOPIC" (CONSUMER) around each call of a push consumer's handler, parented to
//     the first message's context; for a batch it also links every message's context (at
//     most maxProcessLinks). The handler's ctx carries it.
//
// Without WithTracerProvider the global provider is used (otel.GetTracerProvider), a no-op
// unless the application installs one.

// tracerName is the instrumentation scope of the client's spans.
const tracerName = "github.com/ternmq/tern/sdk/client"

// maxProcessLinks bounds the links of one process span.
const maxProcessLinks = 128

// WithTracerProvider sets the provider of the client's spans (default: the global one). When
// it is set and no propagator is (WithPropagator, or a global one), trace context is
// propagated in W3C Trace Context form.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return commonOption(func(c *commonConfig) { c.tracerProvider = tp })
}

// defaultPropagator is the propagator when none is set: the global one, or W3C Trace Context
// when the application chose a tracer provider but installed no propagator.
func defaultPropagator(global propagation.TextMapPropagator, explicitProvider bool) propagation.TextMapPropagator {
	if explicitProvider && len(global.Fields()) == 0 {
		return propagation.TraceContext{}
	}
	return global
}

// unsetGlobalProvider is the global tracer provider before an application installs one
// (otel.GetTracerProvider returns this same value until otel.SetTracerProvider), or nil if its
// type is not OTel's placeholder (one was installed before this package started).
var unsetGlobalProvider = func() trace.TracerProvider {
	tp := otel.GetTracerProvider()
	if reflect.TypeOf(tp).String() != "*global.tracerProvider" {
		return nil
	}
	return tp
}()

// startSpan starts a span named prefix+name, unless the client uses the global provider and
// none is installed: that provider's span records nothing and only carries ctx's span context,
// so ctx and a no-op span stand for it, without the span's allocations on every send and
// handler call.
func (c *commonConfig) startSpan(ctx context.Context, prefix, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	if c.globalTracer && unsetGlobalProvider != nil && otel.GetTracerProvider() == unsetGlobalProvider {
		return ctx, noop.Span{}
	}
	return c.tracer.Start(ctx, prefix+name, trace.WithSpanKind(kind))
}

// startSend starts the span of a send of n messages, msg the first (nil when invalid).
func (p *Producer) startSend(ctx context.Context, msg *Message, n int) (context.Context, trace.Span) {
	topic := ""
	if msg != nil {
		topic = msg.Topic
	}
	ctx, sp := p.in.cfg.startSpan(ctx, "send ", topic, trace.SpanKindProducer)
	if !sp.IsRecording() {
		return ctx, sp
	}
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemRocketMQ,
		semconv.MessagingDestinationName(topic),
		semconv.MessagingOperationName("send"),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingClientID(p.in.id),
		attribute.String("tern.producer.group", p.group),
	}
	if n == 1 && msg != nil {
		attrs = append(attrs, semconv.MessagingMessageBodySize(len(msg.Body)))
	} else {
		attrs = append(attrs, semconv.MessagingBatchMessageCount(n))
	}
	sp.SetAttributes(attrs...)
	return ctx, sp
}

// endSend ends a send's span with its outcome; o is nil when the send failed to encode.
func endSend(sp trace.Span, o *outgoing, res *SendResult, err error) {
	if sp.IsRecording() {
		if o != nil && !o.batch {
			sp.SetAttributes(semconv.MessagingMessageID(o.msgIDs))
		}
		if res != nil {
			sp.SetAttributes(semconv.MessagingDestinationPartitionID(strconv.Itoa(int(res.Queue.QueueID))),
				attribute.String("tern.broker.name", res.Queue.BrokerName))
		}
		if err != nil {
			sp.RecordError(err)
			sp.SetStatus(codes.Error, err.Error())
		}
	}
	sp.End()
}

// startProcess starts the span of a handler call over msgs; ctx carries the first message's
// extracted trace context.
func (c *consumerCore) startProcess(ctx context.Context, msgs []*MessageExt) (context.Context, trace.Span) {
	first := msgs[0]
	ctx, sp := c.in.cfg.startSpan(ctx, "process ", first.Topic, trace.SpanKindConsumer)
	if !sp.IsRecording() {
		return ctx, sp
	}
	if len(msgs) > 1 {
		prop := c.in.cfg.propagator
		for _, m := range msgs[:min(len(msgs), maxProcessLinks)] {
			sc := trace.SpanContextFromContext(prop.Extract(context.Background(), propagation.MapCarrier(m.Properties)))
			if sc.IsValid() {
				sp.AddLink(trace.Link{SpanContext: sc})
			}
		}
	}
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemRocketMQ,
		semconv.MessagingDestinationName(first.Topic),
		semconv.MessagingOperationName("process"),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingConsumerGroupName(c.group),
		semconv.MessagingClientID(c.in.id),
		semconv.MessagingDestinationPartitionID(strconv.Itoa(int(first.QueueID))),
	}
	if len(msgs) == 1 {
		attrs = append(attrs, semconv.MessagingMessageID(first.MsgID), semconv.MessagingMessageBodySize(len(first.Body)),
			attribute.Int("messaging.rocketmq.message.reconsume_times", int(first.ReconsumeTimes)))
	} else {
		attrs = append(attrs, semconv.MessagingBatchMessageCount(len(msgs)))
	}
	sp.SetAttributes(attrs...)
	return ctx, sp
}

// endProcess ends a handler call's span; a failed call (an error, a panic, a retry asked
// for) marks it failed.
func endProcess(sp trace.Span, ok bool) {
	if !ok && sp.IsRecording() {
		sp.SetStatus(codes.Error, "consume failed")
	}
	sp.End()
}
