package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ternmq/tern/plugins/host"
	"github.com/ternmq/tern/plugins/manifest"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
	"github.com/ternmq/tern/sdk/plugin/filter"
	"github.com/ternmq/tern/sdk/plugin/scheduler"
	"github.com/ternmq/tern/sdk/plugin/txchecker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRegistry: every built-in implements its kind's interface and answers Init.
func TestRegistry(t *testing.T) {
	for name, b := range Registry() {
		t.Run(name, func(t *testing.T) {
			impl := b.New(slog.New(slog.DiscardHandler))
			switch b.Kind {
			case plugin.KindFilter:
				f, ok := impl.(filter.Filter)
				if !ok {
					t.Fatalf("%T is not a filter.Filter", impl)
				}
				info, err := f.Init(t.Context(), nil)
				if err != nil || info.Name == "" || len(info.ExpressionTypes) == 0 {
					t.Fatalf("Init = %+v, %v", info, err)
				}
			case plugin.KindScheduler:
				s, ok := impl.(scheduler.Scheduler)
				if !ok {
					t.Fatalf("%T is not a scheduler.Scheduler", impl)
				}
				if info, err := s.Init(t.Context(), nil); err != nil || info.Name != name {
					t.Fatalf("Init = %+v, %v", info, err)
				}
			case plugin.KindTxChecker:
				c, ok := impl.(txchecker.TxChecker)
				if !ok {
					t.Fatalf("%T is not a txchecker.TxChecker", impl)
				}
				if info, err := c.Init(t.Context(), nil); err != nil || info.Name != name {
					t.Fatalf("Init = %+v, %v", info, err)
				}
			case plugin.KindDiscovery:
				d, ok := impl.(discovery.Discovery)
				if !ok {
					t.Fatalf("%T is not a discovery.Discovery", impl)
				}
				// Without endpoints there is nothing to connect to: a clear refusal.
				if _, err := d.Init(t.Context(), nil); !errors.Is(err, plugin.ErrInvalidArgument) {
					t.Fatalf("Init without config = %v", err)
				}
				if c, ok := impl.(interface{ Close() error }); ok {
					c.Close()
				}
			default:
				t.Fatalf("kind %s has no check here", b.Kind)
			}
		})
	}
}

// TestDefaultManifest: the default manifest starts with the registry, and resolves the
// expression types of the built-in filters.
func TestDefaultManifest(t *testing.T) {
	h := host.New(manifest.Default(), host.Options{Builtins: Registry()})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	defer func() {
		if err := h.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ typ, plugin string }{{"TAG", "tag"}, {"cel", "cel"}, {"SQL92", "cel"}} {
		if f, ok := h.Filter(tc.typ); !ok || f.Name() != tc.plugin {
			t.Errorf("Filter(%q) = %v, %v; want %s", tc.typ, f, ok, tc.plugin)
		}
	}
}

func TestServeRefuses(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"nope", `unknown built-in "nope" (have cel, etcd, levels, namesrv, producer, tag, timer)`},
		{"tag", "not run by hand"},
	} {
		if err := Serve(Registry(), tc.name); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Serve(%s) = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestProcessLogger: the JSON lines carry hclog's keys and level names, and no time.
func TestProcessLogger(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug - 4, "trace"}, {slog.LevelDebug, "debug"}, {slog.LevelInfo, "info"}, {slog.LevelInfo + 2, "info"},
		{slog.LevelWarn, "warn"}, {slog.LevelError, "error"}, {slog.LevelError + 4, "error"},
	} {
		var b bytes.Buffer
		ProcessLogger(&b).WithGroup("g").Log(t.Context(), tc.level, "hello", "k", "v")
		var got map[string]any
		if err := json.Unmarshal(b.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v", b.String(), err)
		}
		if got["@level"] != tc.want || got["@message"] != "hello" || got["time"] != nil || got["g"].(map[string]any)["k"] != "v" {
			t.Errorf("level %v: %s", tc.level, b.String())
		}
	}
}
