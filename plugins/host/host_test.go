package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ternmq/tern/plugins/manifest"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
	"github.com/ternmq/tern/sdk/plugin/filter/filtertest"
)

func TestStartAndMatch(t *testing.T) {
	rec := newRecorder()
	ext := external("ext", map[string]any{"types": []any{"TEST", "Other"}})
	ext.MaxBatch = 2
	opts := testOptions(rec)
	var callsMu sync.Mutex
	onCall := map[string]uint64{} // what Options.OnCall saw, by plugin
	opts.OnCall = func(name string, _ time.Duration) {
		callsMu.Lock()
		defer callsMu.Unlock()
		onCall[name]++
	}
	h, err := start(t, opts, ext, manifest.Plugin{Name: "in", Kind: plugin.KindFilter, Builtin: "inproc"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, typ, plugin string
		tags              []string
		expr              string
		want              []bool
	}{
		{"external", "TEST", "ext", []string{"a", "b", "a", "c", "a"}, "a", []bool{true, false, true, false, true}},
		{"case-insensitive", "other", "ext", []string{"x", "y"}, "y", []bool{false, true}},
		{"builtin", "inproc", "in", []string{"a", "b"}, "b", []bool{false, true}},
		{"empty batch", "TEST", "ext", nil, "a", []bool{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := h.Filter(tc.typ)
			if !ok || f.Name() != tc.plugin {
				t.Fatalf("Filter(%q) = %v, %v", tc.typ, f, ok)
			}
			if err := f.Compile(ctx(t), sub(tc.typ, tc.expr)); err != nil {
				t.Fatal(err)
			}
			got, err := f.Match(ctx(t), sub(tc.typ, tc.expr), msgs(tc.tags...))
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Match = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if _, ok := h.Filter("SQL92"); ok {
		t.Fatal("Filter(SQL92) found a plugin")
	}
	for _, name := range []string{"ext", "in"} {
		if err := h.Ping(ctx(t), name); err != nil {
			t.Fatalf("Ping(%s): %v", name, err)
		}
	}
	if err := h.Ping(ctx(t), "nope"); err == nil {
		t.Fatal("Ping(nope)")
	}
	s := stats(t, h, "ext")
	// Compile ×3, then Match of 5 messages in batches of 2 (3 calls) and of 2 (1 call).
	if s.State != StateUp || s.Calls != 7 || s.Errors != 0 || s.Latency.Count != 7 || s.SHA256 != testfilterSum ||
		!strings.HasPrefix(s.Version, "v1;") || !slices.Equal(s.ExpressionTypes, []string{"TEST", "Other"}) || s.Command != testfilter {
		t.Fatalf("stats %+v", s)
	}
	var buckets uint64
	for _, b := range s.Latency.Buckets {
		buckets += b
	}
	if buckets != s.Latency.Count || s.Latency.Mean() <= 0 {
		t.Fatalf("histogram %+v", s.Latency)
	}
	b := stats(t, h, "in")
	if b.State != StateUp || b.Builtin != "inproc" || b.Version != "0.1" || b.Calls != 2 || b.SHA256 != "" {
		t.Fatalf("builtin stats %+v", b)
	}
	callsMu.Lock()
	defer callsMu.Unlock()
	if onCall["ext"] != s.Latency.Count || onCall["in"] != b.Latency.Count {
		t.Fatalf("OnCall saw %v; the histograms counted ext %d, in %d", onCall, s.Latency.Count, b.Latency.Count)
	}
}

// TestChecksumMismatch: a plugin whose executable is not the manifest's is refused with the
// expected and actual sha256, and the others start.
func TestChecksumMismatch(t *testing.T) {
	bad := external("bad", nil)
	bad.SHA256 = strings.Repeat("ab", 32)
	h, err := start(t, testOptions(newRecorder()), bad, external("good", map[string]any{"types": []any{"GOOD"}}))
	want := fmt.Sprintf(`plugin "bad": checksum mismatch for %s: the manifest expects sha256 %s, the file has %s`, testfilter, bad.SHA256, testfilterSum)
	if err == nil || err.Error() != want {
		t.Fatalf("Start: %v\nwant %s", err, want)
	}
	if s := stats(t, h, "bad"); s.State != StateRefused || s.Err != want || s.SHA256 != testfilterSum {
		t.Fatalf("bad: %+v", s)
	}
	f, _ := h.Filter("GOOD")
	if got, err := f.Match(ctx(t), sub("GOOD", "a"), msgs("a")); err != nil || !got[0] {
		t.Fatalf("good: %v %v", got, err)
	}
	f, _ = h.Filter("BAD") // never initialised, the refused plugin claims its name
	if err := f.Compile(ctx(t), sub("BAD", "a")); !errors.Is(err, plugin.ErrUnavailable) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("refused plugin: %v", err)
	}
}

// TestRefusals: entries that never start, and why; the host starts the rest.
func TestRefusals(t *testing.T) {
	refuse := external("refuse", map[string]any{"refuse": true})
	invalid := external("invalid", nil)
	invalid.SHA256 = "abc"
	h, err := start(t, testOptions(newRecorder()),
		manifest.Plugin{Name: "unknown", Kind: plugin.KindFilter, Builtin: "nope"},
		refuse, invalid,
		manifest.Plugin{Name: "ok", Kind: plugin.KindFilter, Builtin: "inproc"},
	)
	if err == nil {
		t.Fatal("no error")
	}
	for _, tc := range []struct {
		name  string
		state State
		err   string
	}{
		{"unknown", StateRefused, `plugin "unknown": unknown builtin "nope" (this broker has inproc)`},
		{"refuse", StateRefused, `plugin "refuse": init: plugin: invalid argument: config says refuse`},
		{"invalid", StateRefused, `test: plugin "invalid": sha256 "abc": want 64 hex digits`},
		{"ok", StateUp, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := stats(t, h, tc.name)
			if s.State != tc.state || s.Err != tc.err {
				t.Fatalf("%+v", s)
			}
			if tc.err != "" && !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Start's error does not have %q:\n%v", tc.err, err)
			}
		})
	}
	if s := stats(t, h, "refuse"); s.Restarts != 0 {
		t.Fatalf("refused plugin restarted: %+v", s)
	}
}

func TestBuiltinKindMismatch(t *testing.T) {
	opts := testOptions(newRecorder())
	opts.Builtins["sched"] = Builtin{Kind: plugin.KindScheduler, New: func(*slog.Logger) any { return nil }}
	h, err := start(t, opts, manifest.Plugin{Name: "f", Kind: plugin.KindFilter, Builtin: "sched"})
	if want := `plugin "f": builtin "sched" is a scheduler plugin, not a filter`; err == nil || err.Error() != want {
		t.Fatalf("%v, want %s", err, want)
	}
	if s := stats(t, h, "f"); s.State != StateRefused {
		t.Fatalf("%+v", s)
	}
}

// pid returns the process id the test plugin reported in its version.
func pid(t *testing.T, s PluginStats) int {
	t.Helper()
	_, p, _ := strings.Cut(s.Version, ";pid=")
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("no pid in version %q", s.Version)
	}
	if s.Pid != n {
		t.Fatalf("stats say pid %d, the plugin reports %d", s.Pid, n)
	}
	return n
}

// gone reports whether no process has the id.
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

func TestCrashRestart(t *testing.T) {
	rec := newRecorder()
	h, err := start(t, testOptions(rec), external("crashy", map[string]any{"greeting": "hi"}))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := h.Filter("TEST")
	first := pid(t, stats(t, h, "crashy"))
	_, err = f.Match(ctx(t), sub("TEST", "crash"), msgs("a"))
	if !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("Match(crash) = %v, want ErrUnavailable", err)
	}
	s := waitUp(t, h, "crashy", 1)
	if s.Restarts != 1 || s.Errors < 1 || !gone(first) || pid(t, s) == first {
		t.Fatalf("after restart: %+v (first pid %d)", s, first)
	}
	// Init ran again, with the config.
	rec.wait(t, "of init with the greeting", 2, func(r logRecord) bool {
		return r.msg == "testfilter init" && r.attrs["greeting"] == "hi" && r.attrs["plugin"] == "crashy"
	})
	if got, err := f.Match(ctx(t), sub("TEST", "a"), msgs("a", "b")); err != nil || !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("after restart: %v %v", got, err)
	}
}

// TestIdleCrashRestart: a process killed while no call is made is found by the health check
// and relaunched.
func TestIdleCrashRestart(t *testing.T) {
	opts := testOptions(newRecorder())
	opts.HealthInterval = 20 * time.Millisecond
	h, err := start(t, opts, external("idle", nil))
	if err != nil {
		t.Fatal(err)
	}
	first := pid(t, stats(t, h, "idle"))
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if s := waitUp(t, h, "idle", 1); pid(t, s) == first || s.Calls != 0 {
		t.Fatalf("%+v", s)
	}
}

func TestHangRestart(t *testing.T) {
	hang := external("hangs", nil)
	hang.Timeout = 300 * time.Millisecond
	h, err := start(t, testOptions(newRecorder()), hang)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := h.Filter("TEST")
	first := pid(t, stats(t, h, "hangs"))
	for i := range 2 {
		t0 := time.Now()
		_, err := f.Match(ctx(t), sub("TEST", "hang"), msgs("a"))
		if !errors.Is(err, plugin.ErrUnavailable) || !errors.Is(err, plugin.ErrTimeout) {
			t.Fatalf("hang %d: %v", i, err)
		}
		if d := time.Since(t0); d < hang.Timeout || d > hang.Timeout+5*time.Second {
			t.Fatalf("hang %d took %v with a %v timeout", i, d, hang.Timeout)
		}
		if i == 0 && stats(t, h, "hangs").State != StateUp {
			t.Fatal("restarted after one timeout")
		}
	}
	s := waitUp(t, h, "hangs", 1)
	if s.Timeouts != 2 || !gone(first) {
		t.Fatalf("%+v", s)
	}
	if got, err := f.Match(ctx(t), sub("TEST", "a"), msgs("a")); err != nil || !got[0] {
		t.Fatalf("after restart: %v %v", got, err)
	}
}

// TestFailurePolicies: what Compile and Match return when the plugin fails, is down, or is
// given a bad expression, under each policy. The plugin crashes once and stays down (the
// backoff is an hour), so calls while down must fail fast.
func TestFailurePolicies(t *testing.T) {
	for _, policy := range []manifest.FailurePolicy{manifest.FailOpen, manifest.FailClosed} {
		t.Run(string(policy), func(t *testing.T) {
			opts := testOptions(newRecorder())
			opts.Backoff = Backoff{Initial: time.Hour, Max: time.Hour}
			p := external("p", nil)
			p.FailurePolicy = policy
			h, err := start(t, opts, p)
			if err != nil {
				t.Fatal(err)
			}
			f, _ := h.Filter("TEST")
			if f.Policy() != policy {
				t.Fatal(f.Policy())
			}
			all := []bool{true, true, true}
			for _, tc := range []struct {
				name, expr string
				want       []bool        // open
				is         []error       // closed, or any policy for passThrough
				pass       bool          // the error passes through whatever the policy
				fast       time.Duration // the call must take less
				after      func()        // runs after the case
			}{
				{name: "internal error", expr: "fail", want: all, is: []error{plugin.ErrUnavailable, plugin.ErrInternal}},
				{name: "bad expression", expr: "bad", is: []error{plugin.ErrInvalidArgument}, pass: true},
				{name: "crash", expr: "crash", want: all, is: []error{plugin.ErrUnavailable}, after: func() {
					if err := h.WaitFor(ctx(t), "p", func(s PluginStats) bool { return s.State == StateDown }); err != nil {
						t.Fatal(err)
					}
				}},
				// Less than half the 5 s timeout: no waiting for a plugin that is down.
				{name: "down", expr: "a", want: all, is: []error{plugin.ErrUnavailable}, fast: p.Timeout / 2},
				{name: "down, bad expression", expr: "bad", want: all, is: []error{plugin.ErrUnavailable}, fast: p.Timeout / 2},
			} {
				t0 := time.Now()
				got, err := f.Match(ctx(t), sub("TEST", tc.expr), msgs("a", "b", "c"))
				if tc.fast > 0 && time.Since(t0) > tc.fast {
					t.Errorf("%s: took %v", tc.name, time.Since(t0))
				}
				if policy == manifest.FailOpen && !tc.pass {
					if err != nil || !slices.Equal(got, tc.want) {
						t.Errorf("%s: Match = %v, %v; want %v", tc.name, got, err, tc.want)
					}
				} else {
					for _, e := range tc.is {
						if !errors.Is(err, e) || got != nil {
							t.Errorf("%s: Match = %v, %v; want an error wrapping %v", tc.name, got, err, e)
						}
					}
				}
				if tc.after != nil {
					tc.after()
				}
			}
			if tc := "compile while down"; policy == manifest.FailOpen {
				if err := f.Compile(ctx(t), sub("TEST", "a")); err != nil {
					t.Errorf("%s: %v", tc, err)
				}
			} else if err := f.Compile(ctx(t), sub("TEST", "a")); !errors.Is(err, plugin.ErrUnavailable) {
				t.Errorf("%s: %v", tc, err)
			}
			s := stats(t, h, "p")
			if s.State != StateDown || !strings.Contains(s.Err, "process exited") && !strings.Contains(s.Err, "health check") {
				t.Errorf("stats %+v", s)
			}
			if wantOpen := map[manifest.FailurePolicy]uint64{manifest.FailOpen: 5}[policy]; s.FailOpen != wantOpen {
				t.Errorf("FailOpen = %d, want %d", s.FailOpen, wantOpen)
			}
		})
	}
}

// TestFailOpenLogLimited: failing open logs once per LogEvery, with the count it kept quiet.
func TestFailOpenLogLimited(t *testing.T) {
	rec := newRecorder()
	now := time.Unix(1000, 0)
	opts := testOptions(rec)
	opts.Now = func() time.Time { return now }
	p := manifest.Plugin{Name: "in", Kind: plugin.KindFilter, Builtin: "inproc", FailurePolicy: manifest.FailOpen}
	h, err := start(t, opts, p)
	if err != nil {
		t.Fatal(err)
	}
	in := h.plugins[0]
	logs := func() int { return rec.count(func(r logRecord) bool { return r.msg == "plugin failing open" }) }
	for i, step := range []struct {
		advance time.Duration
		want    int
	}{{0, 1}, {time.Second, 1}, {time.Second, 1}, {5 * time.Second, 2}, {0, 2}} {
		now = now.Add(step.advance)
		in.failedOpen(plugin.ErrUnavailable)
		if got := logs(); got != step.want {
			t.Fatalf("step %d: %d logs, want %d", i, got, step.want)
		}
	}
	if n := rec.count(func(r logRecord) bool { return r.msg == "plugin failing open" && r.attrs["suppressed"] == "2" }); n != 1 {
		t.Fatalf("the second log does not count 2 suppressed")
	}
}

// TestEnvIsolation: the plugin process gets the manifest's env and go-plugin's variables,
// nothing of the host's environment.
func TestEnvIsolation(t *testing.T) {
	t.Setenv("TERN_HOST_TEST_LEAK", "leaked")
	p := external("env", nil)
	p.Env = map[string]string{"FOO": "bar", "ZED": ""}
	h, err := start(t, testOptions(newRecorder()), p)
	if err != nil {
		t.Fatal(err)
	}
	v := stats(t, h, "env").Version
	_, rest, _ := strings.Cut(v, ";env=")
	names, rest, _ := strings.Cut(rest, ";")
	allowed := []string{"FOO", "ZED", plugin.MagicCookieKey, "PLUGIN_MIN_PORT", "PLUGIN_MAX_PORT", "PLUGIN_PROTOCOL_VERSIONS", "PLUGIN_CLIENT_CERT", "PLUGIN_UNIX_SOCKET_DIR"}
	got := strings.Split(names, ",")
	for _, n := range got {
		if !slices.Contains(allowed, n) {
			t.Errorf("the plugin sees %s", n)
		}
	}
	if !slices.Contains(got, "FOO") || !slices.Contains(got, "ZED") || !strings.HasPrefix(rest, "FOO=bar") {
		t.Errorf("the plugin misses its env: %q", v)
	}
}

// TestPluginLogs: the plugin's log lines reach the host's logger with plugin=<name>, at their
// level, and so do its stderr lines once serving.
func TestPluginLogs(t *testing.T) {
	rec := newRecorder()
	if _, err := start(t, testOptions(rec), external("chatty", map[string]any{"greeting": "hello"})); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		match func(logRecord) bool
	}{
		{"hclog info with attributes", func(r logRecord) bool {
			return r.msg == "testfilter init" && r.level == slog.LevelInfo && r.attrs["greeting"] == "hello" && r.attrs["timestamp"] == ""
		}},
		{"hclog warning", func(r logRecord) bool { return r.msg == "testfilter warns" && r.level == slog.LevelWarn }},
		{"stderr line", func(r logRecord) bool { return r.msg == "testfilter stderr line" && r.attrs["stream"] == "stderr" }},
		{"host", func(r logRecord) bool { return r.msg == "plugin up" && r.attrs["version"] != "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec.wait(t, tc.name, 1, func(r logRecord) bool { return r.attrs["plugin"] == "chatty" && tc.match(r) })
		})
	}
}

// TestClose: Close kills the processes (TestMain checks the goroutines), and calls after it
// fail fast.
func TestClose(t *testing.T) {
	h, err := start(t, testOptions(newRecorder()), external("a", nil), external("b", map[string]any{"types": []any{"B"}}))
	if err != nil {
		t.Fatal(err)
	}
	pids := []int{pid(t, stats(t, h, "a")), pid(t, stats(t, h, "b"))}
	if err := h.Close(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pids {
		if !gone(p) {
			t.Errorf("process %d still runs", p)
		}
	}
	for _, s := range h.Stats() {
		if s.State != StateStopped {
			t.Errorf("%s: %s", s.Name, s.State)
		}
	}
	f, _ := h.Filter("B")
	if _, err := f.Match(ctx(t), sub("B", "x"), msgs("x")); !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("after Close: %v", err)
	}
	if err := h.Ping(ctx(t), "a"); !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("Ping after Close: %v", err)
	}
	if err := h.Start(ctx(t)); err == nil {
		t.Fatal("Start after Close")
	}
}

// TestFilterResolution: expression types from Info, case-insensitive, the name when a filter
// declares none, the first plugin in manifest order when two claim a type.
func TestFilterResolution(t *testing.T) {
	h, err := start(t, testOptions(newRecorder()),
		external("testfilter", map[string]any{"types": []any{}}),
		external("first", map[string]any{"types": []any{"DUP"}}),
		external("second", map[string]any{"types": []any{"DUP", "ONLY2"}}),
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ typ, want string }{
		{"TESTFILTER", "testfilter"}, {"testFilter", "testfilter"}, {"dup", "first"}, {"ONLY2", "second"}, {"TEST", ""}, {"", ""},
	} {
		f, ok := h.Filter(tc.typ)
		if ok != (tc.want != "") || ok && f.Name() != tc.want {
			t.Errorf("Filter(%q) = %v, %v; want %q", tc.typ, f, ok, tc.want)
		}
	}
	f, _ := h.Filter("testfilter")
	if got, err := f.Match(ctx(t), sub("TESTFILTER", "a"), msgs("a")); err != nil || !got[0] {
		t.Fatalf("%v %v", got, err)
	}
}

// TestConformance runs the filter conformance suite against the test plugin as the broker
// sees it: an external process behind the host.
func TestConformance(t *testing.T) {
	filtertest.Run(t, func(t *testing.T) filter.Filter { return &hosted{t: t} }, filtertest.Cases{
		Config: map[string]any{"types": []any{"TEST"}},
		Match: []filtertest.Case{
			{Name: "one tag", Expression: "a", Messages: msgs("a", "b", "a"), Want: []bool{true, false, true}},
			{Name: "none", Expression: "z", Messages: msgs("a", "b"), Want: []bool{false, false}},
		},
		Bad: []filtertest.BadExpression{{Name: "bad", Expression: "bad"}},
	})
}

// hosted is a filter.Filter over a FilterPlugin: Init starts a host with the test plugin and
// the config.
type hosted struct {
	t *testing.T
	f *FilterPlugin
}

func (x *hosted) Init(ctx context.Context, config map[string]any) (filter.Info, error) {
	h, err := start(x.t, testOptions(newRecorder()), external("conformance", config))
	if err != nil {
		return filter.Info{}, err
	}
	s := stats(x.t, h, "conformance")
	x.f, _ = h.Filter(s.ExpressionTypes[0])
	return filter.Info{Name: s.Name, Version: s.Version, ExpressionTypes: s.ExpressionTypes, NeedsBody: s.NeedsBody}, nil
}

func (x *hosted) Compile(ctx context.Context, s filter.Subscription) error {
	return x.f.Compile(ctx, s)
}

func (x *hosted) Match(ctx context.Context, s filter.Subscription, ms []filter.Message) ([]bool, error) {
	return x.f.Match(ctx, s, ms)
}

// TestSocketDirRemoved: each launch of a plugin gets a directory of its own for its gRPC socket,
// and the host removes it when the process goes, also when it was killed (a killed Go plugin
// leaves its socket file behind) and at Close: nothing is left in the temporary directory.
func TestSocketDirRemoved(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	opts := testOptions(newRecorder())
	opts.HealthInterval = 20 * time.Millisecond
	h, err := start(t, opts, external("sock", nil))
	if err != nil {
		t.Fatal(err)
	}
	sockets := func() []string {
		t.Helper()
		found, err := filepath.Glob(filepath.Join(tmp, "tern-plugin-*", "plugin*"))
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	first := sockets()
	if len(first) != 1 {
		t.Fatalf("sockets under TMPDIR while the plugin runs: %v, want one", first)
	}
	if err := syscall.Kill(pid(t, stats(t, h, "sock")), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUp(t, h, "sock", 1)
	if now := sockets(); len(now) != 1 || now[0] == first[0] {
		t.Fatalf("sockets after the restart: %v, want one other than %s", now, first[0])
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("left in TMPDIR after Close: %v", left)
	}
}
