package client

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestGlobalTracerProvider: a client without WithTracerProvider starts no span while the
// global provider is unset, and records spans with the provider an application installs later.
// Installing a global provider cannot be undone, so the check runs in a child process.
func TestGlobalTracerProvider(t *testing.T) {
	if os.Getenv("TERN_TEST_GLOBAL_TRACER") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGlobalTracerProvider$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TERN_TEST_GLOBAL_TRACER=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	cfg := commonConfig{}.withDefaults()
	ctx := context.Background()
	if unsetGlobalProvider == nil {
		t.Fatalf("the global provider's type was not recognised (%T): every span would be started", otel.GetTracerProvider())
	}
	got, sp := cfg.startSpan(ctx, "send ", "T", trace.SpanKindProducer)
	if _, ok := sp.(noop.Span); !ok || got != ctx {
		t.Fatalf("with no provider: span %T, context changed %v", sp, got != ctx)
	}
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	_, sp = cfg.startSpan(ctx, "send ", "T", trace.SpanKindProducer)
	sp.End()
	if ended := rec.Ended(); len(ended) != 1 || ended[0].Name() != "send T" || ended[0].SpanKind() != trace.SpanKindProducer {
		t.Fatalf("after otel.SetTracerProvider: %d spans ended, want one producer span \"send T\"", len(ended))
	}
}
