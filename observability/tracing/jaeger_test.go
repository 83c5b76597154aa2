//go:build jaeger

package tracing

// The end-to-end test against a real Jaeger v2 (.ci/run builds and starts it):
//
//	OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_PROTOCOL=grpc \
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 TERN_JAEGER_QUERY=http://127.0.0.1:16686 \
//	go test -tags jaeger -run TestJaeger ./observability/tracing/

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/sdk/client"
)

// otlpTrace is the part of Jaeger's /api/v3/traces answer (OTLP JSON) the test reads.
type otlpTrace struct {
	Result struct {
		ResourceSpans []struct {
			Resource struct {
				Attributes []struct {
					Key   string `json:"key"`
					Value struct {
						StringValue string `json:"stringValue"`
					} `json:"value"`
				} `json:"attributes"`
			} `json:"resource"`
			ScopeSpans []struct {
				Spans []otlpSpan `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	} `json:"result"`
}

type otlpSpan struct {
	TraceID      string          `json:"traceId"`
	SpanID       string          `json:"spanId"`
	ParentSpanID string          `json:"parentSpanId"`
	Name         string          `json:"name"`
	Kind         json.RawMessage `json:"kind"`
	Links        []struct {
		TraceID string `json:"traceId"`
		SpanID  string `json:"spanId"`
	} `json:"links"`
	service string
}

// spans flattens the trace, with each span's service.name.
func (tr *otlpTrace) spans() map[string]otlpSpan {
	out := map[string]otlpSpan{}
	for _, rs := range tr.Result.ResourceSpans {
		svc := ""
		for _, a := range rs.Resource.Attributes {
			if a.Key == "service.name" {
				svc = a.Value.StringValue
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				s.service = svc
				out[s.Name] = s
			}
		}
	}
	return out
}

// queryClient keeps no idle connections, which would outlive the test (goleak).
var queryClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// fetchTrace asks Jaeger for a trace; found is false while Jaeger does not have it yet.
func fetchTrace(ctx context.Context, query, traceID string) (tr otlpTrace, found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, query+"/api/v3/traces/"+traceID, nil)
	if err != nil {
		return tr, false, err
	}
	resp, err := queryClient.Do(req)
	if err != nil {
		return tr, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return tr, false, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return tr, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return tr, false, fmt.Errorf("GET /api/v3/traces/%s: %s: %s", traceID, resp.Status, body)
	}
	return tr, true, json.Unmarshal(body, &tr)
}

// TestJaegerEndToEnd: a message produced and consumed with sdk/client through a traced
// broker shows in Jaeger as one trace holding the producer's send, the broker's receive,
// store and deliver, and the consumer's process, with their parents and the deliver's link.
func TestJaegerEndToEnd(t *testing.T) {
	query := os.Getenv("TERN_JAEGER_QUERY")
	if query == "" || !Enabled(nil) {
		t.Fatal("set TERN_JAEGER_QUERY and the OTEL_* variables of the Jaeger to export to")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	brokerTP, err := FromEnv(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer brokerTP.Shutdown(context.Background())
	clientTP, err := FromEnv(ctx, Options{ServiceName: "tern-e2e-client"})
	if err != nil {
		t.Fatal(err)
	}
	defer clientTP.Shutdown(context.Background())

	topic := uniqueName("JaegerE2E")
	c := startTraced(t, brokerTP.Provider, topic)
	p := newProducer(t, c, client.WithTracerProvider(clientTP.Provider))
	if _, err := p.Send(ctx, &client.Message{Topic: topic, Body: []byte("to jaeger")}); err != nil {
		t.Fatal(err)
	}
	h, got := collect()
	pc, err := client.NewPushConsumer(uniqueName("cg"), client.WithNameServers(c.NamesrvAddr),
		client.WithConsumeFrom(client.ConsumeFromFirstOffset), client.WithTracerProvider(clientTP.Provider))
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe(topic, client.Tag("*"), h); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	m := receive(t, got, 30*time.Second)
	if err := pc.Close(ctx); err != nil { // the handler has returned: its span has ended
		t.Fatal(err)
	}
	for _, tp := range []Setup{clientTP, brokerTP} { // export everything now
		if err := tp.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	parts := strings.Split(m.Property("traceparent"), "-")
	if len(parts) != 4 {
		t.Fatalf("consumed traceparent %q", m.Property("traceparent"))
	}
	traceID := parts[1]

	want := []string{"send " + topic, "receive " + topic, "store " + topic, "deliver " + topic, "process " + topic}
	var spans map[string]otlpSpan
	for {
		tr, found, err := fetchTrace(ctx, query, traceID)
		if err != nil {
			t.Fatal(err)
		}
		if found {
			spans = tr.spans()
			if len(spans) >= len(want) && hasAll(spans, want) {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("trace %s not complete in Jaeger: %v", traceID, spans)
		case <-time.After(100 * time.Millisecond): // poll Jaeger, bounded by ctx
		}
	}
	send, recv, store, deliver, process := spans[want[0]], spans[want[1]], spans[want[2]], spans[want[3]], spans[want[4]]
	for _, tc := range []struct {
		child, parent otlpSpan
	}{{recv, send}, {store, recv}, {deliver, send}, {process, send}} {
		if !strings.EqualFold(tc.child.ParentSpanID, tc.parent.SpanID) {
			t.Errorf("%s: parent %s, want %s (%s)", tc.child.Name, tc.child.ParentSpanID, tc.parent.Name, tc.parent.SpanID)
		}
	}
	if send.ParentSpanID != "" {
		t.Errorf("send has parent %s, want a root", send.ParentSpanID)
	}
	linked := false
	for _, l := range deliver.Links {
		linked = linked || strings.EqualFold(l.SpanID, send.SpanID) && strings.EqualFold(l.TraceID, traceID)
	}
	if !linked {
		t.Errorf("deliver links %+v, want one to the send %s", deliver.Links, send.SpanID)
	}
	for name, svc := range map[string]string{send.Name: "tern-e2e-client", process.Name: "tern-e2e-client", recv.Name: DefaultServiceName, store.Name: DefaultServiceName, deliver.Name: DefaultServiceName} {
		if spans[name].service != svc {
			t.Errorf("%s: service %q, want %q", name, spans[name].service, svc)
		}
	}
	t.Logf("jaeger e2e: trace %s holds %d spans: send, receive, store, deliver (linked), process", traceID, len(spans))
}

func hasAll(spans map[string]otlpSpan, names []string) bool {
	for _, n := range names {
		if _, ok := spans[n]; !ok {
			return false
		}
	}
	return true
}
