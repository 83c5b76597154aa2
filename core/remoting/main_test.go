package remoting

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait of a test for something that must happen.
const waitLimit = 10 * time.Second

// logBuffer is a slog destination tests can search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startServer starts a server on 127.0.0.1:0 that is closed when the test ends.
func startServer(t testing.TB, opts ServerOptions, h Handler) (*Server, string) {
	t.Helper()
	s := NewServer(opts, h)
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeServer(t, s) })
	return s, addr.String()
}

func closeServer(t testing.TB, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Errorf("server Close: %v", err)
	}
}

// newClient returns a client closed when the test ends.
func newClient(t testing.TB, opts ClientOptions) *Client {
	t.Helper()
	cl := NewClient(opts)
	t.Cleanup(func() { cl.Close() })
	return cl
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// waitClosed waits for ch with the test's limit.
func waitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// diffCommand describes how got differs from want in every field that travels on the wire
// (an empty language is written as GO; Body and BodyParts are compared as one body).
func diffCommand(got, want *Command) string {
	var d []string
	if got.Code != want.Code {
		d = append(d, fmt.Sprintf("code %d, want %d", got.Code, want.Code))
	}
	if languageOrGo(got.Language) != languageOrGo(want.Language) {
		d = append(d, fmt.Sprintf("language %q, want %q", got.Language, want.Language))
	}
	if got.Version != want.Version {
		d = append(d, fmt.Sprintf("version %d, want %d", got.Version, want.Version))
	}
	if got.Opaque != want.Opaque {
		d = append(d, fmt.Sprintf("opaque %d, want %d", got.Opaque, want.Opaque))
	}
	if got.Flag != want.Flag {
		d = append(d, fmt.Sprintf("flag %d, want %d", got.Flag, want.Flag))
	}
	if got.Remark != want.Remark {
		d = append(d, fmt.Sprintf("remark %q, want %q", got.Remark, want.Remark))
	}
	if !maps.Equal(got.FieldMap(), want.FieldMap()) {
		d = append(d, fmt.Sprintf("extFields %q, want %q", got.FieldMap(), want.FieldMap()))
	}
	if g, w := fullBody(got), fullBody(want); !bytes.Equal(g, w) {
		d = append(d, fmt.Sprintf("body %q, want %q", g, w))
	}
	if got.Serialize != want.Serialize {
		d = append(d, fmt.Sprintf("serialize %d, want %d", got.Serialize, want.Serialize))
	}
	return strings.Join(d, "; ")
}

func fullBody(c *Command) []byte {
	b := bytes.Clone(c.Body)
	for _, p := range c.BodyParts {
		b = append(b, p...)
	}
	return b
}

// encodeFull returns c's whole frame, BodyParts included.
func encodeFull(t testing.TB, c *Command) []byte {
	t.Helper()
	b, err := AppendFrame(nil, c)
	if err != nil {
		t.Fatalf("AppendFrame: %v", err)
	}
	for _, p := range c.BodyParts {
		b = append(b, p...)
	}
	return b
}
