// Package client is Tern's Go client: producers and consumers that speak RocketMQ 4.x remoting,
// so they work against Tern and against RocketMQ 4.x brokers alike.
//
// # Shape
//
// Every Producer, PushConsumer and PullConsumer owns its own connections, route cache and
// background goroutines (route refresh every 30 s, heartbeat every 30 s, plus its own loops);
// nothing is shared through package state. Close(ctx) stops every goroutine the value started
// and waits for them, or returns ctx's error when ctx ends first.
//
// Options are functional and type-scoped: an Option (WithNameServers, WithLogger, …) applies to
// every kind of client, a ProducerOption only to producers, and so on.
//
// # Errors
//
// Broker answers keep their RocketMQ response code: errors.Is(err, ErrTopicNotExist),
// ErrBrokerBusy, ErrFlushTimeout, … hold for both Tern and RocketMQ brokers. Client-side
// failures have their own sentinels (ErrClosed, ErrNoRoute, ErrMessageTooLarge, …).
//
// # Trace context
//
// Producers inject the W3C trace context of the send's ctx into the message properties
// (traceparent, tracestate) with the OpenTelemetry propagator API, and consumers extract it into
// the ctx handed to the consume function. Without an installed propagator (otel.SetTextMapPropagator
// or WithPropagator) both are no-ops.
package client
