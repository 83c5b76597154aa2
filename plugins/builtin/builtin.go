// Package builtin is the registry of the plugins compiled into Tern: the one list that both
// the broker's plugin host (host.Options.Builtins) and `tern plugin serve NAME` read, so every
// built-in also runs out of process (a manifest entry with command: /path/to/tern and args:
// [plugin, serve, NAME]).
//
// A kind that gets built-ins adds them to Registry, and its Serve to serve; the host needs no
// change for new built-ins.
package builtin

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/ternmq/tern/discovery/etcd"
	"github.com/ternmq/tern/discovery/namesrv"
	"github.com/ternmq/tern/filters/cel"
	"github.com/ternmq/tern/filters/tag"
	"github.com/ternmq/tern/plugins/builtin/producer"
	"github.com/ternmq/tern/plugins/host"
	"github.com/ternmq/tern/schedulers/levels"
	"github.com/ternmq/tern/schedulers/timer"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
	"github.com/ternmq/tern/sdk/plugin/filter"
	"github.com/ternmq/tern/sdk/plugin/scheduler"
	"github.com/ternmq/tern/sdk/plugin/txchecker"
)

// Registry returns the built-ins by the name a manifest's builtin: field uses. Each call
// returns a new map.
func Registry() host.Builtins {
	return host.Builtins{
		"tag":      {Kind: plugin.KindFilter, New: func(*slog.Logger) any { return tag.New() }},
		"cel":      {Kind: plugin.KindFilter, New: func(l *slog.Logger) any { return cel.New(cel.WithLogger(l)) }},
		"levels":   {Kind: plugin.KindScheduler, New: func(*slog.Logger) any { return levels.New() }},
		"timer":    {Kind: plugin.KindScheduler, New: func(*slog.Logger) any { return timer.New() }},
		"producer": {Kind: plugin.KindTxChecker, New: func(*slog.Logger) any { return producer.Checker{} }},
		"etcd":     {Kind: plugin.KindDiscovery, New: func(l *slog.Logger) any { return etcd.New(l) }},
		"namesrv":  {Kind: plugin.KindDiscovery, New: func(l *slog.Logger) any { return namesrv.NewClient(namesrv.ClientOptions{Logger: l}) }},
	}
}

// Serve serves the built-in name of reg as an out-of-process plugin, over go-plugin on this
// process's stdio, and returns when the host has gone. The built-in logs to stderr as JSON
// lines in hclog's format, which the host reads back at their levels (see ProcessLogger). Serve
// refuses to run when the process was not started by a plugin host (go-plugin would exit the
// process instead).
func Serve(reg host.Builtins, name string) error {
	b, ok := reg[name]
	if !ok {
		return fmt.Errorf("builtin: unknown built-in %q (have %s)", name, strings.Join(slices.Sorted(maps.Keys(reg)), ", "))
	}
	if os.Getenv(plugin.MagicCookieKey) != plugin.MagicCookieValue {
		return fmt.Errorf("builtin: %s: this serves a plugin to the broker's plugin host, which starts it; it is not run by hand", name)
	}
	switch b.Kind {
	case plugin.KindFilter:
		return serveAs(name, b.New(ProcessLogger(os.Stderr)), filter.Serve)
	case plugin.KindScheduler:
		return serveAs(name, b.New(ProcessLogger(os.Stderr)), scheduler.Serve)
	case plugin.KindTxChecker:
		return serveAs(name, b.New(ProcessLogger(os.Stderr)), txchecker.Serve)
	case plugin.KindDiscovery:
		return serveAs(name, b.New(ProcessLogger(os.Stderr)), discovery.Serve)
	}
	return fmt.Errorf("builtin: %s: %s plugins cannot be served yet", name, b.Kind)
}

// serveAs asserts impl to the kind's interface T and serves it.
func serveAs[T any](name string, impl any, serve func(T)) error {
	t, ok := impl.(T)
	if !ok {
		return fmt.Errorf("builtin: %s: %T does not implement its kind's interface", name, impl)
	}
	serve(t)
	return nil
}

// ProcessLogger returns the logger of a plugin process: JSON lines on w (the process's
// stderr) with hclog's keys (@level, @message), which go-plugin on the host parses back into
// leveled records with their attributes. The time is left out: the host stamps the record.
func ProcessLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug - 4, // trace: the host filters
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.Attr{}
			case slog.MessageKey:
				a.Key = "@message"
			case slog.LevelKey:
				a.Key = "@level"
				if lv, ok := a.Value.Any().(slog.Level); ok {
					a.Value = slog.StringValue(hclogLevel(lv))
				}
			}
			return a
		},
	}))
}

// hclogLevel names the hclog level of lv: levels between slog's round to the one below.
func hclogLevel(lv slog.Level) string {
	switch {
	case lv < slog.LevelDebug:
		return "trace"
	case lv < slog.LevelInfo:
		return "debug"
	case lv < slog.LevelWarn:
		return "info"
	case lv < slog.LevelError:
		return "warn"
	}
	return "error"
}
