package client

import (
	"crypto/tls"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/ternmq/tern/core/remoting"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of the options shared by every client.
const (
	DefaultCallTimeout       = 3 * time.Second
	DefaultRouteRefresh      = 30 * time.Second
	DefaultHeartbeatInterval = 30 * time.Second
)

// commonConfig holds the options every client kind has.
type commonConfig struct {
	nameServers       []string
	logger            *slog.Logger
	instanceName      string
	callTimeout       time.Duration
	routeRefresh      time.Duration
	heartbeatInterval time.Duration
	propagator        propagation.TextMapPropagator
	tracerProvider    trace.TracerProvider
	tracer            trace.Tracer // from tracerProvider, set by withDefaults
	globalTracer      bool         // tracer is the global provider's: no WithTracerProvider
	signer            *signer      // signs every request (credentials.go); nil: unsigned
	tls               *tls.Config  // nil: plaintext
	headers           remoting.SerializeType
}

func defaultCommon() commonConfig {
	return commonConfig{
		callTimeout:       DefaultCallTimeout,
		routeRefresh:      DefaultRouteRefresh,
		heartbeatInterval: DefaultHeartbeatInterval,
		headers:           remoting.RocketMQ,
	}
}

// withDefaults fills what a zero value leaves open at construction time.
func (c commonConfig) withDefaults() commonConfig {
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.propagator == nil {
		c.propagator = defaultPropagator(otel.GetTextMapPropagator(), c.tracerProvider != nil)
	}
	if c.tracerProvider == nil {
		c.tracerProvider, c.globalTracer = otel.GetTracerProvider(), true
	}
	c.tracer = c.tracerProvider.Tracer(tracerName)
	return c
}

// ProducerOption configures a Producer.
type ProducerOption interface{ applyProducer(*producerConfig) }

// PushConsumerOption configures a PushConsumer.
type PushConsumerOption interface{ applyPush(*pushConfig) }

// PullConsumerOption configures a PullConsumer.
type PullConsumerOption interface{ applyPull(*pullConfig) }

// ConsumerOption configures both consumer kinds.
type ConsumerOption interface {
	PushConsumerOption
	PullConsumerOption
}

// Option configures every kind of client.
type Option interface {
	ProducerOption
	ConsumerOption
}

// commonOption is an Option: it edits the commonConfig every client config embeds.
type commonOption func(*commonConfig)

func (o commonOption) applyProducer(c *producerConfig) { o(&c.common) }
func (o commonOption) applyPush(c *pushConfig)         { o(&c.consumer.common) }
func (o commonOption) applyPull(c *pullConfig)         { o(&c.consumer.common) }

// WithHeaderEncoding sets how request headers are encoded: remoting.RocketMQ (the default,
// RocketMQ's binary "ROCKETMQ" serialize type: length-prefixed fields, cheaper to write and
// read) or remoting.JSON (what most RocketMQ clients send). Every RocketMQ 4.x broker and
// NameServer reads both, and answers each request in either.
func WithHeaderEncoding(t remoting.SerializeType) Option {
	return commonOption(func(c *commonConfig) { c.headers = t })
}

// WithNameServers sets the NameServer addresses (host:port). Required.
func WithNameServers(addrs ...string) Option {
	return commonOption(func(c *commonConfig) { c.nameServers = append([]string(nil), addrs...) })
}

// WithLogger sets the logger; nil (the default) discards.
func WithLogger(l *slog.Logger) Option {
	return commonOption(func(c *commonConfig) { c.logger = l })
}

// WithInstanceName sets the instance part of the client id (ip@instance). By default it is the
// process id and a random suffix, so every client value in a process has its own id — which
// rebalancing requires of consumers in one group.
func WithInstanceName(name string) Option {
	return commonOption(func(c *commonConfig) { c.instanceName = name })
}

// WithCallTimeout bounds each request to a broker or NameServer when the caller's ctx has no
// earlier deadline (DefaultCallTimeout).
func WithCallTimeout(d time.Duration) Option {
	return commonOption(func(c *commonConfig) { c.callTimeout = d })
}

// WithRouteRefresh sets how often topic routes are refreshed from the NameServers
// (DefaultRouteRefresh). Routes are also refreshed after a failed call.
func WithRouteRefresh(d time.Duration) Option {
	return commonOption(func(c *commonConfig) { c.routeRefresh = d })
}

// WithHeartbeatInterval sets how often the client heartbeats every broker it knows
// (DefaultHeartbeatInterval).
func WithHeartbeatInterval(d time.Duration) Option {
	return commonOption(func(c *commonConfig) { c.heartbeatInterval = d })
}

// WithPropagator sets the propagator that injects and extracts trace context in message
// properties (default: the global otel propagator, a no-op unless the application installs one).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return commonOption(func(c *commonConfig) { c.propagator = p })
}

// WithTLS makes every connection, to NameServers and brokers alike, TLS with cfg (nil, the
// default: plaintext). An empty cfg.ServerName is taken from each address dialled, so server
// certificates must name the IP addresses the NameServers advertise for brokers. The servers
// need tlsMode permissive or enforcing; against a server without TLS the handshake fails.
func WithTLS(cfg *tls.Config) Option {
	return commonOption(func(c *commonConfig) { c.tls = cfg })
}
