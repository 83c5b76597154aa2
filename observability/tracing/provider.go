// Package tracing is Tern's OpenTelemetry tracing: a TracerProvider configured from the
// standard OTEL_* environment variables (FromEnv) and the broker's tracer (NewBrokerTracer),
// which implements broker.Tracer. Trace context travels between producers, the broker and
// consumers in the message properties traceparent and tracestate (W3C Trace Context).
//
// # Environment
//
// Tracing is on when OTEL_TRACES_EXPORTER names an exporter, or when it is unset and an OTLP
// endpoint is (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); it is off
// when OTEL_SDK_DISABLED=true, when OTEL_TRACES_EXPORTER=none, and when nothing is set. Off,
// FromEnv returns the no-op provider and the broker gets no tracer at all.
//
//   - OTEL_TRACES_EXPORTER: otlp or console (spans as JSON on stderr); none
//   - OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL: grpc or http/protobuf
//     (the default)
//   - OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, _HEADERS, _TIMEOUT,
//     _INSECURE, …: read by the OTLP exporters themselves
//   - OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG: read by the SDK (default parentbased_always_on)
//   - OTEL_BSP_*: the batch span processor's queue, batch size and delays
//   - OTEL_SERVICE_NAME (default Options.ServiceName, "tern-broker"), OTEL_RESOURCE_ATTRIBUTES
package tracing

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultServiceName is the service name of the broker's spans when OTEL_SERVICE_NAME is unset.
const DefaultServiceName = "tern-broker"

// Options configure FromEnv.
type Options struct {
	// ServiceName is used when OTEL_SERVICE_NAME is unset (default DefaultServiceName).
	ServiceName string
	// Getenv reads the environment (default os.Getenv). The OTLP exporters and the SDK's
	// sampler read the process environment whatever it is.
	Getenv func(string) string
}

// Setup is a configured TracerProvider.
type Setup struct {
	// Provider is the SDK's provider when Enabled, else the no-op provider.
	Provider trace.TracerProvider
	// Enabled reports whether spans are exported.
	Enabled bool
	// Exporter names the exporter in use ("otlp/grpc", "otlp/http", "console"), "" when off.
	Exporter string
	// Shutdown flushes the spans still queued and stops the exporter; a no-op when off.
	Shutdown func(ctx context.Context) error
}

// FromEnv configures a TracerProvider from the OTEL_* environment (see the package doc).
func FromEnv(ctx context.Context, opts Options) (Setup, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	off := Setup{Provider: noop.NewTracerProvider(), Shutdown: func(context.Context) error { return nil }}
	kind, err := exporterKind(getenv)
	if err != nil || kind == "" {
		return off, err
	}
	exp, err := newExporter(ctx, kind)
	if err != nil {
		return off, fmt.Errorf("tracing: %s exporter: %w", kind, err)
	}
	name := opts.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	if v := strings.TrimSpace(getenv("OTEL_SERVICE_NAME")); v != "" {
		name = v
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES (and OTEL_SERVICE_NAME)
		resource.WithAttributes(attribute.String("service.name", name)),
	)
	if err != nil {
		return off, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return Setup{Provider: tp, Enabled: true, Exporter: kind, Shutdown: tp.Shutdown}, nil
}

// Enabled reports whether the environment turns tracing on, without building anything.
func Enabled(getenv func(string) string) bool {
	if getenv == nil {
		getenv = os.Getenv
	}
	kind, err := exporterKind(getenv)
	return err == nil && kind != ""
}

// exporterKind decides the exporter from the environment: "otlp/grpc", "otlp/http",
// "console", or "" for none.
func exporterKind(getenv func(string) string) (string, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return "", nil
	}
	exp := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")))
	if exp == "" && (getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "") {
		exp = "otlp"
	}
	// A list ("otlp,console") is allowed by the spec; the first exporter is used.
	exp, _, _ = strings.Cut(exp, ",")
	switch exp {
	case "", "none":
		return "", nil
	case "console":
		return "console", nil
	case "otlp":
	default:
		return "", fmt.Errorf("tracing: OTEL_TRACES_EXPORTER=%q: want otlp, console or none", exp)
	}
	proto := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if proto == "" {
		proto = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	switch proto {
	case "", "http/protobuf":
		return "otlp/http", nil
	case "grpc":
		return "otlp/grpc", nil
	}
	return "", fmt.Errorf("tracing: OTLP protocol %q: want grpc or http/protobuf", proto)
}

// newExporter builds the exporter of kind; the OTLP ones read their endpoint, headers,
// timeout and TLS settings from the environment.
func newExporter(ctx context.Context, kind string) (sdktrace.SpanExporter, error) {
	switch kind {
	case "otlp/grpc":
		return otlptracegrpc.New(ctx)
	case "otlp/http":
		return otlptracehttp.New(ctx)
	}
	return stdouttrace.New(stdouttrace.WithWriter(os.Stderr))
}
