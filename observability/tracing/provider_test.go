package tracing

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// TestExporterKind: which exporter the OTEL_* environment asks for.
func TestExporterKind(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{"nothing set", nil, "", false},
		{"none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "", false},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, "", false},
		{"otlp default protocol", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, "otlp/http", false},
		{"endpoint alone", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "otlp/grpc", false},
		{"traces endpoint alone", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, "otlp/http", false},
		{"traces protocol wins", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, "otlp/grpc", false},
		{"console", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, "console", false},
		{"list takes the first", map[string]string{"OTEL_TRACES_EXPORTER": "console,otlp"}, "console", false},
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "", true},
		{"unknown protocol", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := exporterKind(env(tc.env))
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("exporterKind = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
			if Enabled(env(tc.env)) != (tc.want != "") {
				t.Errorf("Enabled = %v, want %v", !(tc.want != ""), tc.want != "")
			}
		})
	}
}

// TestFromEnv: off gives the no-op provider; console gives a working SDK provider.
func TestFromEnv(t *testing.T) {
	ctx := context.Background()
	off, err := FromEnv(ctx, Options{Getenv: env(nil)})
	if err != nil || off.Enabled {
		t.Fatalf("FromEnv off: %+v, %v", off, err)
	}
	if _, ok := off.Provider.(noop.TracerProvider); !ok {
		t.Errorf("off: provider %T, want the no-op one", off.Provider)
	}
	if err := off.Shutdown(ctx); err != nil {
		t.Error(err)
	}
	on, err := FromEnv(ctx, Options{Getenv: env(map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "svc"})})
	if err != nil || !on.Enabled || on.Exporter != "console" {
		t.Fatalf("FromEnv console: %+v, %v", on, err)
	}
	if err := on.Shutdown(ctx); err != nil {
		t.Error(err)
	}
}
