package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
	"github.com/ternmq/tern/sdk/plugin/txchecker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// seen is a request the endpoint received.
type seen struct {
	header http.Header
	body   string
}

// endpoint starts an HTTP server on 127.0.0.1 that answers each message with the word in its
// "answer" property, and passes every request it gets to the returned channel (1 buffered).
func endpoint(t *testing.T) (*httptest.Server, <-chan seen) {
	requests := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		requests <- seen{r.Header, string(data)}
		var req checkRequest
		if r.Method != http.MethodPost || json.Unmarshal(data, &req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var resp checkResponse
		for _, m := range req.Messages {
			resp.Resolutions = append(resp.Resolutions, m.Properties["answer"])
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv, requests
}

// newChecker returns a checker initialized with config, and its Info.
func newChecker(t *testing.T, config map[string]any) (*httpChecker, txchecker.Info) {
	c := &httpChecker{}
	t.Cleanup(c.close)
	info, err := c.Init(t.Context(), config)
	if err != nil {
		t.Fatal(err)
	}
	return c, info
}

// halves is a batch: one message per resolution, the last without properties or body.
func halves() []txchecker.HalfMessage {
	var out []txchecker.HalfMessage
	for i, word := range []string{"COMMIT", "ROLLBACK", "UNKNOWN", "ASK_PRODUCER"} {
		out = append(out, txchecker.HalfMessage{
			Topic: "Orders", ProducerGroup: "order-service", TransactionID: "tx-" + word, MsgID: "7F0000010000" + word,
			Properties: map[string]string{"answer": word, "KEYS": "order-1"}, Body: []byte("hi " + word),
			CheckTimes: int32(i + 1), BornTimestamp: 1_700_000_000_000, StoreTimestamp: 1_700_000_000_005,
		})
	}
	return append(out, txchecker.HalfMessage{Topic: "Orders", ProducerGroup: "order-service", TransactionID: "tx-5"})
}

var wantResolutions = []txchecker.Resolution{txchecker.Commit, txchecker.Rollback, txchecker.Unknown, txchecker.AskProducer}

// wantFirst and wantLast are the request's first and last messages as JSON, without needsBody.
const (
	wantFirst = `{"topic":"Orders","producerGroup":"order-service","transactionId":"tx-COMMIT","msgId":"7F0000010000COMMIT",` +
		`"properties":{"KEYS":"order-1","answer":"COMMIT"},"checkTimes":1,"bornTimestamp":1700000000000,"storeTimestamp":1700000000005}`
	wantLast = `{"topic":"Orders","producerGroup":"order-service","transactionId":"tx-5","msgId":"",` +
		`"properties":{},"checkTimes":0,"bornTimestamp":0,"storeTimestamp":0}`
)

func TestCheck(t *testing.T) {
	for _, form := range []struct {
		name string
		wrap func(*testing.T, *httpChecker) txchecker.TxChecker
	}{
		{"InProcess", func(_ *testing.T, c *httpChecker) txchecker.TxChecker { return c }},
		{"GRPC", func(t *testing.T, c *httpChecker) txchecker.TxChecker {
			return plugintest.InProcess[txchecker.TxChecker](t, plugin.KindTxChecker, &txchecker.Plugin{Impl: c})
		}},
	} {
		t.Run(form.name, func(t *testing.T) {
			srv, requests := endpoint(t)
			for _, needsBody := range []bool{false, true} {
				impl := &httpChecker{}
				t.Cleanup(impl.close)
				c := form.wrap(t, impl)
				info, err := c.Init(t.Context(), map[string]any{
					"url":       srv.URL + "/tx/check",
					"headers":   map[string]any{"authorization": "Bearer s3cret", "X-Tern-Cluster": "eu-1"},
					"needsBody": needsBody,
				})
				if err != nil || info != (txchecker.Info{Name: Name, Version: Version, NeedsBody: needsBody}) {
					t.Fatalf("Init = %+v, %v", info, err)
				}
				msgs := halves()
				got, err := c.Check(t.Context(), msgs[:4])
				if err != nil || !slices.Equal(got, wantResolutions) {
					t.Errorf("needsBody %v: Check = %v, %v; want %v", needsBody, got, err, wantResolutions)
				}
				r := <-requests
				first, _, _ := strings.Cut(strings.TrimPrefix(r.body, `{"messages":[`), `,{"topic"`)
				want := wantFirst
				if needsBody {
					want = strings.TrimSuffix(want, "}") + `,"body":"aGkgQ09NTUlU"}` // base64 of "hi COMMIT"
				}
				if first != want {
					t.Errorf("needsBody %v: first message sent as\n%s\nwant\n%s", needsBody, first, want)
				}
				for k, v := range map[string]string{"Authorization": "Bearer s3cret", "X-Tern-Cluster": "eu-1", "Content-Type": "application/json"} {
					if r.header.Get(k) != v {
						t.Errorf("header %s: %q, want %q", k, r.header.Get(k), v)
					}
				}

				// The last message has no properties and no body: {} and, with needsBody, "".
				msgs[4].Properties = map[string]string{"answer": "COMMIT"}
				_, err = c.Check(t.Context(), msgs[4:])
				r = <-requests
				if err != nil || !strings.Contains(r.body, `"properties":{"answer":"COMMIT"}`) ||
					strings.Contains(r.body, `"body":""`) != needsBody {
					t.Errorf("needsBody %v: empty body: %v, sent %s", needsBody, err, r.body)
				}

				if got, err := c.Check(t.Context(), nil); err != nil || len(got) != 0 {
					t.Errorf("empty Check = %v, %v", got, err)
				}
			}
		})
	}
}

func TestRequestJSON(t *testing.T) {
	cfg := &config{}
	data, err := json.Marshal(cfg.request(halves()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), `{"messages":[`+wantFirst+",") || !strings.HasSuffix(string(data), ","+wantLast+"]}") {
		t.Errorf("request:\n%s", data)
	}
}

func TestCheckErrors(t *testing.T) {
	answer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			if status == http.StatusFound {
				w.Header().Set("Location", "/elsewhere")
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		config  map[string]any
		want    error
		wantMsg string
	}{
		{"500", answer(500, ""), nil, plugin.ErrUnavailable, ": 500 Internal Server Error"},
		{"503 with a reason", answer(503, "down for maintenance\n"), nil, plugin.ErrUnavailable, `: 503 Service Unavailable: "down for maintenance\n"`},
		{"429", answer(429, ""), nil, plugin.ErrUnavailable, ": 429 Too Many Requests"},
		{"long reason", answer(502, strings.Repeat("x", 1000)), nil, plugin.ErrUnavailable, `: 502 Bad Gateway: "` + strings.Repeat("x", maxQuoted) + `"…`},
		{"401", answer(401, "bad token"), nil, plugin.ErrInternal, `: 401 Unauthorized: "bad token"`},
		{"404", answer(404, ""), nil, plugin.ErrInternal, ": 404 Not Found"},
		{"redirect not followed", answer(302, ""), nil, plugin.ErrInternal, ": 302 Found"},
		{"204", answer(204, ""), nil, plugin.ErrInternal, ": 204 No Content"},
		{"not JSON", answer(200, "COMMIT"), nil, plugin.ErrInternal, `: 200 OK but the answer is not JSON like {"resolutions":[...]}: invalid character`},
		{"trailing data", answer(200, `{"resolutions":["COMMIT","COMMIT"]} x`), nil, plugin.ErrInternal, "the answer is not JSON"},
		{"no resolutions", answer(200, `{"resolution":["COMMIT","COMMIT"]}`), nil, plugin.ErrInternal, ": 200 OK but the answer has 0 resolutions for 2 messages"},
		{"too few", answer(200, `{"resolutions":["COMMIT"]}`), nil, plugin.ErrInternal, "the answer has 1 resolutions for 2 messages"},
		{"too many", answer(200, `{"resolutions":["COMMIT","COMMIT","COMMIT"]}`), nil, plugin.ErrInternal, "the answer has 3 resolutions for 2 messages"},
		{"unknown word", answer(200, `{"resolutions":["COMMIT","MAYBE"]}`), nil, plugin.ErrInternal, `resolution 1 is "MAYBE", not COMMIT, ROLLBACK, UNKNOWN or ASK_PRODUCER`},
		{"lower case", answer(200, `{"resolutions":["commit","COMMIT"]}`), nil, plugin.ErrInternal, `resolution 0 is "commit"`},
		{"not a string", answer(200, `{"resolutions":[1,2]}`), nil, plugin.ErrInternal, "the answer is not JSON"},
		{"too large", answer(200, `{"resolutions":["COMMIT","COMMIT"]}`+strings.Repeat(" ", maxAnswer)), nil, plugin.ErrInternal, "the answer is larger than 1048576 bytes"},
		{"timeout", func(_ http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // so the server sees the client hang up
			<-r.Context().Done()
		},
			map[string]any{"timeout": "100ms"}, plugin.ErrUnavailable, "Client.Timeout exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			config := map[string]any{"url": srv.URL}
			for k, v := range tc.config {
				config[k] = v
			}
			c, _ := newChecker(t, config)
			_, err := c.Check(t.Context(), halves()[:2])
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("got %v\nwant %v containing %q", err, tc.want, tc.wantMsg)
			}
			if err != nil && !strings.HasPrefix(err.Error(), tc.want.Error()+": httpchecker: POST "+srv.URL+": ") {
				t.Errorf("error %q does not start with the sentinel and the URL", err)
			}
		})
	}

	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		c, _ := newChecker(t, map[string]any{"url": srv.URL + "/check"})
		_, err := c.Check(t.Context(), halves()[:1])
		if !errors.Is(err, plugin.ErrUnavailable) || !strings.Contains(err.Error(), "POST "+srv.URL+"/check: ") ||
			!strings.Contains(err.Error(), "connection refused") {
			t.Errorf("got %v", err)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		srv, _ := endpoint(t)
		c, _ := newChecker(t, map[string]any{"url": srv.URL})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := c.Check(ctx, halves()[:1]); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})

	t.Run("before Init", func(t *testing.T) {
		if _, err := (&httpChecker{}).Check(t.Context(), halves()[:1]); !errors.Is(err, plugin.ErrUnavailable) {
			t.Errorf("got %v, want ErrUnavailable", err)
		}
	})

	t.Run("password not shown", func(t *testing.T) {
		srv := httptest.NewServer(answer(500, ""))
		t.Cleanup(srv.Close)
		c, _ := newChecker(t, map[string]any{"url": strings.Replace(srv.URL, "http://", "http://tern:s3cret@", 1)})
		_, err := c.Check(t.Context(), halves()[:1])
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "tern:xxxxx@") {
			t.Errorf("got %v", err)
		}
	})
}

func TestInit(t *testing.T) {
	const u = "https://tx.example.com/check"
	for _, tc := range []struct {
		name   string
		config map[string]any
		want   string
	}{
		{"no url", map[string]any{}, "url is required"},
		{"url not a string", map[string]any{"url": 42}, `url: want an http:// or https:// URL with a host, not ""`},
		{"ftp", map[string]any{"url": "ftp://tx.example.com/"}, `url: want an http:// or https:// URL with a host, not "ftp://tx.example.com/"`},
		{"no host", map[string]any{"url": "http:///check"}, "url: want an http:// or https:// URL with a host"},
		{"relative", map[string]any{"url": "/check"}, "url: want an http:// or https:// URL"},
		{"password hidden", map[string]any{"url": "ftp://u:s3cret@host/"}, `not "ftp://u:xxxxx@host/"`},
		{"timeout without unit", map[string]any{"url": u, "timeout": "2"}, `timeout: want a positive duration like "2s", not 2`},
		{"timeout a number", map[string]any{"url": u, "timeout": 2}, "timeout: want a positive duration"},
		{"zero timeout", map[string]any{"url": u, "timeout": "0s"}, "timeout: want a positive duration"},
		{"negative timeout", map[string]any{"url": u, "timeout": "-1s"}, "timeout: want a positive duration"},
		{"headers a list", map[string]any{"url": u, "headers": []any{"a"}}, "headers: want a map of header names to values"},
		{"header value a number", map[string]any{"url": u, "headers": map[string]any{"X-N": 1}}, "headers: X-N: want a one-line string value"},
		{"header value two lines", map[string]any{"url": u, "headers": map[string]any{"X-N": "a\r\nX-Evil: 1"}}, "headers: X-N: want a one-line string value"},
		{"header name with a space", map[string]any{"url": u, "headers": map[string]any{"X N": "1"}}, `headers: "X N" is not a header name`},
		{"needsBody a string", map[string]any{"url": u, "needsBody": "yes"}, "needsBody: want true or false, not yes"},
		{"unknown key", map[string]any{"url": u, "colour": "blue"}, "colour: unknown config key (known: headers, needsBody, timeout, url)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&httpChecker{}).Init(t.Context(), tc.config)
			if !errors.Is(err, plugin.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrInvalidArgument containing %q", err, tc.want)
			}
		})
	}
}

// TestProcess builds the plugin binary and runs it as the broker does, against an endpoint.
func TestProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	srv, requests := endpoint(t)
	bin := plugintest.Build(t, ".")
	c := plugintest.Launch[txchecker.TxChecker](t, plugin.KindTxChecker, &txchecker.Plugin{}, bin)
	ctx := t.Context()
	if _, err := c.Init(ctx, map[string]any{"url": srv.URL, "headers": map[string]any{"Authorization": "Bearer s3cret"}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Check(ctx, halves()[:4])
	if err != nil || !slices.Equal(got, wantResolutions) {
		t.Errorf("Check = %v, %v; want %v", got, err, wantResolutions)
	}
	if r := <-requests; r.header.Get("Authorization") != "Bearer s3cret" || !strings.HasPrefix(r.body, `{"messages":[`+wantFirst) {
		t.Errorf("request: %v\n%s", r.header, r.body)
	}

	// Errors keep their kind and message across the process boundary.
	_, err = c.Check(ctx, []txchecker.HalfMessage{{Properties: map[string]string{"answer": "MAYBE"}}})
	<-requests
	if !errors.Is(err, plugin.ErrInternal) || !strings.Contains(err.Error(), "POST "+srv.URL+`: 200 OK but resolution 0 is "MAYBE"`) {
		t.Errorf("unknown word: %v", err)
	}
	if _, err := c.Init(ctx, map[string]any{"url": srv.URL, "colour": "blue"}); !errors.Is(err, plugin.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "colour: unknown config key") {
		t.Errorf("Init with a bad config: %v", err)
	}
	// The endpoint is gone.
	srv.Close()
	if _, err := c.Check(ctx, halves()[:1]); !errors.Is(err, plugin.ErrUnavailable) || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("endpoint gone: %v", err)
	}
}

// TestReadme checks that the manifest entry in README.md is a config Init takes.
func TestReadme(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(readme)
	if block == nil {
		t.Fatal("README.md has no yaml block")
	}
	var m struct {
		Plugins []struct {
			Kind   string
			Config map[string]any
		}
	}
	if err := yaml.Unmarshal(block[1], &m); err != nil || len(m.Plugins) != 1 || m.Plugins[0].Kind != "txchecker" {
		t.Fatalf("README manifest: %+v, %v", m, err)
	}
	config, err := plugin.NormalizeConfig(m.Plugins[0].Config)
	if err != nil {
		t.Fatal(err)
	}
	newChecker(t, config)
}
