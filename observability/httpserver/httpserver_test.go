package httpserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// get fetches path from s and returns the status and the body.
func get(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr().String() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// TestRoutes: /healthz always answers, /readyz follows Ready, /metrics is the handler given
// (or 404), other methods and paths are refused.
func TestRoutes(t *testing.T) {
	var notReady atomic.Pointer[error]
	starting := errors.New("starting")
	notReady.Store(&starting)
	s, err := Start(Options{
		Addr:    "127.0.0.1:0",
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "m 1\n") }),
		Ready: func() error {
			if p := notReady.Load(); p != nil {
				return *p
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	cases := []struct {
		name, path string
		ready      bool
		code       int
		body       string
	}{
		{"healthz while starting", "/healthz", false, 200, "ok\n"},
		{"readyz while starting", "/readyz", false, 503, "not ready: starting\n"},
		{"metrics", "/metrics", false, 200, "m 1\n"},
		{"unknown path", "/nope", false, 404, ""},
		{"readyz once ready", "/readyz", true, 200, "ready\n"},
		{"healthz once ready", "/healthz", true, 200, "ok\n"},
	}
	for _, c := range cases {
		if c.ready {
			notReady.Store(nil)
		}
		code, body := get(t, s, c.path)
		if code != c.code || c.body != "" && body != c.body {
			t.Errorf("%s: %d %q, want %d %q", c.name, code, body, c.code, c.body)
		}
	}
	resp, err := http.Post("http://"+s.Addr().String()+"/readyz", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz: %d", resp.StatusCode)
	}
}

// TestNoMetrics: without a metrics handler /metrics is 404; nil Ready means ready.
func TestNoMetrics(t *testing.T) {
	s, err := Start(Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if code, _ := get(t, s, "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics: %d", code)
	}
	if code, _ := get(t, s, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d", code)
	}
}

// TestDisabled names the addresses that turn the port off.
func TestDisabled(t *testing.T) {
	for addr, want := range map[string]bool{"": true, "off": true, "127.0.0.1:8080": false, ":0": false} {
		if got := Disabled(addr); got != want {
			t.Errorf("Disabled(%q) = %v", addr, got)
		}
	}
}

// TestListenError: a busy address fails Start.
func TestListenError(t *testing.T) {
	s, err := Start(Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if s2, err := Start(Options{Addr: s.Addr().String()}); err == nil {
		s2.Close(context.Background())
		t.Fatal("second listener on the same address")
	}
}

// TestPprof: /debug/pprof/ is served only with Options.Pprof.
func TestPprof(t *testing.T) {
	for _, on := range []bool{false, true} {
		s, err := Start(Options{Addr: "127.0.0.1:0", Pprof: on})
		if err != nil {
			t.Fatal(err)
		}
		code, body := get(t, s, "/debug/pprof/goroutine?debug=1")
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if code != want || on && !strings.Contains(body, "goroutine profile") {
			t.Errorf("Pprof %v: GET /debug/pprof/goroutine = %d %.40q, want %d", on, code, body, want)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
