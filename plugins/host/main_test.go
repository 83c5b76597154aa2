package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ternmq/tern/plugins/manifest"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

// testfilter is the path of the test plugin binary (testdata/testfilter), built by TestMain,
// and testfilterSum its sha256 in hex.
var testfilter, testfilterSum string

// TestMain builds the test plugin, runs the tests, and checks that no goroutine is left.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tern-host-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		testfilter = filepath.Join(dir, "testfilter")
		if out, err := exec.Command("go", "build", "-o", testfilter, "./testdata/testfilter").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build testfilter: %v\n%s", err, out)
			return 1
		}
		sum, err := plugin.FileSHA256(testfilter)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		testfilterSum = hex.EncodeToString(sum)
		return m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// external returns a manifest entry that runs the test plugin.
func external(name string, config map[string]any) manifest.Plugin {
	return manifest.Plugin{
		Name: name, Kind: plugin.KindFilter, Command: testfilter, SHA256: testfilterSum,
		Config: config, Timeout: 5 * time.Second,
	}
}

// testOptions are fast options for tests; rec records the logs.
func testOptions(rec *recorder) Options {
	return Options{
		Logger:         slog.New(rec),
		Builtins:       Builtins{"inproc": {Kind: plugin.KindFilter, New: func(*slog.Logger) any { return &inproc{} }}},
		HealthInterval: time.Hour, // the tests wake the supervisors by their calls
		Backoff:        Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond},
	}
}

// start starts a host for the entries and closes it at the end of the test.
func start(t *testing.T, opts Options, plugins ...manifest.Plugin) (*Host, error) {
	t.Helper()
	h := New(&manifest.Manifest{Source: "test", Plugins: plugins}, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return h, h.Start(ctx)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func stats(t *testing.T, h *Host, name string) PluginStats {
	t.Helper()
	for _, s := range h.Stats() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no plugin %q", name)
	return PluginStats{}
}

// waitUp waits until the plugin is up with at least restarts restarts.
func waitUp(t *testing.T, h *Host, name string, restarts uint64) PluginStats {
	t.Helper()
	if err := h.WaitFor(ctx(t), name, func(s PluginStats) bool { return s.State == StateUp && s.Restarts >= restarts }); err != nil {
		t.Fatalf("%v: %+v", err, stats(t, h, name))
	}
	return stats(t, h, name)
}

func msgs(tags ...string) []filter.Message {
	out := make([]filter.Message, len(tags))
	for i, tag := range tags {
		out[i] = filter.Message{Topic: "t", QueueOffset: int64(i), Tags: []string{tag}}
	}
	return out
}

func sub(typ, expr string) filter.Subscription {
	return filter.Subscription{Group: "g", Topic: "t", ExpressionType: typ, Expression: expr}
}

// inproc is a built-in filter for the tests: expression type INPROC, selects by tag.
type inproc struct{}

func (*inproc) Init(context.Context, map[string]any) (filter.Info, error) {
	return filter.Info{Name: "inproc", Version: "0.1", ExpressionTypes: []string{"INPROC"}}, nil
}

func (*inproc) Compile(_ context.Context, s filter.Subscription) error {
	if s.Expression == "" {
		return fmt.Errorf("%w: empty expression", plugin.ErrInvalidArgument)
	}
	return nil
}

func (*inproc) Match(ctx context.Context, s filter.Subscription, ms []filter.Message) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]bool, len(ms))
	for i, m := range ms {
		out[i] = slices.Contains(m.Tags, s.Expression)
	}
	return out, nil
}

// recorder is a slog.Handler that keeps every record, for tests to wait on.
type recorder struct {
	attrs []slog.Attr
	store *logStore
}

type logStore struct {
	mu      sync.Mutex
	records []logRecord
	changed chan struct{}
}

type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func newRecorder() *recorder {
	return &recorder{store: &logStore{changed: make(chan struct{})}}
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	lr := logRecord{level: rec.Level, msg: rec.Message, attrs: map[string]string{}}
	for _, a := range r.attrs {
		lr.attrs[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool {
		lr.attrs[a.Key] = a.Value.String()
		return true
	})
	s := r.store
	s.mu.Lock()
	s.records = append(s.records, lr)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &recorder{attrs: append(slices.Clone(r.attrs), as...), store: r.store}
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

// count returns how many records satisfy match.
func (r *recorder) count(match func(logRecord) bool) int {
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	n := 0
	for _, rec := range r.store.records {
		if match(rec) {
			n++
		}
	}
	return n
}

// wait waits until n records satisfy match.
func (r *recorder) wait(t *testing.T, what string, n int, match func(logRecord) bool) {
	t.Helper()
	c := ctx(t)
	for {
		r.store.mu.Lock()
		ch := r.store.changed
		r.store.mu.Unlock()
		if r.count(match) >= n {
			return
		}
		select {
		case <-ch:
		case <-c.Done():
			r.store.mu.Lock()
			defer r.store.mu.Unlock()
			var b strings.Builder
			for _, rec := range r.store.records {
				fmt.Fprintf(&b, "%v %q %v\n", rec.level, rec.msg, rec.attrs)
			}
			t.Fatalf("no %d log records %s; have:\n%s", n, what, b.String())
		}
	}
}

// checksumOf returns the hex sha256 of b.
func checksumOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
