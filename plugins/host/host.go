package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ternmq/tern/plugins/manifest"
	"github.com/ternmq/tern/sdk/plugin"
)

// Builtin is a plugin compiled into the broker.
type Builtin struct {
	Kind plugin.Kind
	// New returns a fresh implementation of the kind's interface (a filter.Filter for
	// plugin.KindFilter), not yet initialised, that logs to logger (which carries
	// plugin=<name>).
	New func(logger *slog.Logger) any
}

// Builtins maps the names a manifest's builtin: field uses to the built-ins. The broker
// passes one registry (plugins/builtin); a kind adds its built-ins there, not here.
type Builtins map[string]Builtin

// Options configure a Host. The zero value of every field is its default.
type Options struct {
	// Logger receives the host's and the plugins' logs; nil discards them.
	Logger *slog.Logger
	// Builtins are the built-ins manifest entries may name.
	Builtins Builtins
	// HealthInterval is how often each external plugin is checked (default 5 s), and
	// HealthTimeout how long its health check may take (default 2 s).
	HealthInterval, HealthTimeout time.Duration
	// StartTimeout bounds the start of a process up to its handshake (default 10 s), and
	// InitTimeout its Init call (default 10 s).
	StartTimeout, InitTimeout time.Duration
	// Backoff is the relaunch schedule of failing plugins.
	Backoff Backoff
	// LogEvery is the least time between two logs of a plugin failing open (default 5 s).
	LogEvery time.Duration
	// Now is the clock (default time.Now); Rand returns a random number in [0, 1) for the
	// backoff's jitter (default math/rand/v2.Float64). Both are called concurrently.
	Now  func() time.Time
	Rand func() float64
	// OnCall, if set, is called after every call to a plugin that reached it, with the
	// plugin's name and how long the call took (the latency metric). It must not block.
	OnCall func(plugin string, d time.Duration)
}

// DefaultOptions returns the options with every default filled in.
func DefaultOptions() Options {
	return Options{
		HealthInterval: 5 * time.Second,
		HealthTimeout:  2 * time.Second,
		StartTimeout:   10 * time.Second,
		InitTimeout:    10 * time.Second,
		Backoff:        DefaultBackoff(),
		LogEvery:       5 * time.Second,
		Now:            time.Now,
		Rand:           rand.Float64,
	}
}

// Validate rejects negative durations.
func (o Options) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"HealthInterval", o.HealthInterval}, {"HealthTimeout", o.HealthTimeout},
		{"StartTimeout", o.StartTimeout}, {"InitTimeout", o.InitTimeout},
		{"Backoff.Initial", o.Backoff.Initial}, {"Backoff.Max", o.Backoff.Max},
		{"Backoff.ResetAfter", o.Backoff.ResetAfter}, {"LogEvery", o.LogEvery},
	} {
		if d.v < 0 {
			return fmt.Errorf("host: %s %v is negative", d.name, d.v)
		}
	}
	return nil
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	for _, f := range []struct{ v, def *time.Duration }{
		{&o.HealthInterval, &d.HealthInterval}, {&o.HealthTimeout, &d.HealthTimeout},
		{&o.StartTimeout, &d.StartTimeout}, {&o.InitTimeout, &d.InitTimeout}, {&o.LogEvery, &d.LogEvery},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	o.Backoff = o.Backoff.withDefaults()
	if o.Now == nil {
		o.Now = d.Now
	}
	if o.Rand == nil {
		o.Rand = d.Rand
	}
	return o
}

// Host runs the plugins of a manifest. See the package doc.
type Host struct {
	opts    Options
	log     *slog.Logger
	plugins []*instance // in manifest order; the slice is fixed by New
	// ctx ends at Close; the supervisors run under it and wg counts them.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex    // guards the fields below; taken after instance.mu
	changed chan struct{} // closed and replaced whenever a plugin changes state
	started bool
}

// New returns a host for the plugins of m (which it copies). It starts nothing; entries that
// are invalid, name an unknown built-in or a kind the broker does not consume are marked
// refused or unwired at once.
func New(m *manifest.Manifest, opts Options) *Host {
	opts = opts.withDefaults()
	h := &Host{opts: opts, log: opts.Logger, changed: make(chan struct{})}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	invalid := map[int]error{}
	if err := m.Validate(); err != nil {
		for _, e := range unwrapAll(err) {
			if me, ok := e.(*manifest.Error); ok && invalid[me.Index] == nil {
				invalid[me.Index] = &refusal{me}
			}
		}
	}
	for i, p := range m.Plugins {
		p.Args, p.Env, p.Config = slices.Clone(p.Args), maps.Clone(p.Env), maps.Clone(p.Config)
		in := &instance{h: h, spec: p, log: h.log.With("plugin", p.Name), kick: make(chan struct{}, 1), state: StateStarting}
		in.m.backoff = opts.Backoff
		kind, wired := kindOf(p.Kind)
		in.kind = kind
		switch {
		case invalid[i] != nil:
			in.state, in.err = StateRefused, invalid[i]
		case !wired:
			in.state = StateUnwired
		case p.IsBuiltin():
			b, ok := opts.Builtins[p.Builtin]
			switch {
			case !ok:
				in.state, in.err = StateRefused, fmt.Errorf("plugin %q: unknown builtin %q (this broker has %s)", p.Name, p.Builtin, builtinNames(opts.Builtins))
			case b.Kind != p.Kind:
				in.state, in.err = StateRefused, fmt.Errorf("plugin %q: builtin %q is a %s plugin, not a %s", p.Name, p.Builtin, b.Kind, p.Kind)
			}
		}
		switch p.Kind {
		case plugin.KindFilter:
			in.filter = &FilterPlugin{in: in}
		case plugin.KindScheduler:
			in.scheduler = &SchedulerPlugin{in: in}
		case plugin.KindTxChecker:
			in.txchecker = &TxCheckerPlugin{in: in}
		case plugin.KindDiscovery:
			in.discovery = &DiscoveryPlugin{in: in}
		}
		h.plugins = append(h.plugins, in)
	}
	return h
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func builtinNames(b Builtins) string {
	if len(b) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(b)), ", ")
}

// Start starts every plugin and waits until each is up or has failed its first start (or ctx
// ends). It returns nil when all are up, else the errors.Join of one error per plugin that is
// not, each naming it; the host runs either way, retrying the plugins that failed but were
// not refused. Start may be called once; the plugins run until Close, not until ctx ends.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	started := h.started
	h.started = true
	h.mu.Unlock()
	if started {
		return errors.New("host: already started")
	}
	if h.ctx.Err() != nil {
		return errors.New("host: closed")
	}
	var errs []error
	type pending struct {
		in    *instance
		first chan error
	}
	var wait []pending
	var builtins []*instance
	for _, in := range h.plugins {
		switch {
		case in.state == StateRefused:
			errs = append(errs, in.err)
		case in.state == StateUnwired:
			h.log.Info("plugin kind not wired in this broker, not started", "plugin", in.spec.Name, "kind", in.spec.Kind)
		case in.spec.IsBuiltin():
			builtins = append(builtins, in)
		default:
			p := pending{in, make(chan error, 1)}
			wait = append(wait, p)
			h.wg.Go(func() { in.supervise(h.ctx, p.first) })
		}
	}
	for _, in := range builtins {
		if err := in.startBuiltin(ctx, h.opts.Builtins[in.spec.Builtin]); err != nil {
			in.log.Error("plugin refused", "err", err)
			errs = append(errs, err)
		}
	}
	for i, p := range wait {
		select {
		case err := <-p.first:
			if err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			for _, q := range wait[i:] {
				errs = append(errs, fmt.Errorf("plugin %q: still starting: %w", q.in.spec.Name, ctx.Err()))
			}
			return errors.Join(errs...)
		}
	}
	return errors.Join(errs...)
}

// Close kills every plugin process, stops the supervisors and waits for them, or until ctx
// ends (then it returns ctx's error and the supervisors finish on their own). Calls made after
// Close fail with plugin.ErrUnavailable. Built-ins that implement io.Closer are closed.
func (h *Host) Close(ctx context.Context) error {
	h.cancel()
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("host: close: %w", ctx.Err())
	}
	var errs []error
	for _, in := range h.plugins {
		in.mu.Lock()
		impl := in.impl
		in.impl = nil
		if in.state != StateRefused && in.state != StateUnwired {
			in.state = StateStopped
		}
		in.mu.Unlock()
		if c, ok := impl.(io.Closer); ok && in.spec.IsBuiltin() {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("plugin %q: close: %w", in.spec.Name, err))
			}
		}
	}
	h.notify()
	return errors.Join(errs...)
}

// Stats returns a snapshot of every plugin, in manifest order.
func (h *Host) Stats() []PluginStats {
	out := make([]PluginStats, len(h.plugins))
	for i, in := range h.plugins {
		out[i] = in.snapshot()
	}
	return out
}

// WaitFor waits until cond holds for the stats of the plugin named name, or ctx ends.
func (h *Host) WaitFor(ctx context.Context, name string, cond func(PluginStats) bool) error {
	var in *instance
	for _, p := range h.plugins {
		if p.spec.Name == name {
			in = p
			break
		}
	}
	if in == nil {
		return fmt.Errorf("host: no plugin %q", name)
	}
	for {
		h.mu.Lock()
		ch := h.changed
		h.mu.Unlock()
		if cond(in.snapshot()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("host: waiting for plugin %q: %w", name, ctx.Err())
		}
	}
}

// notify wakes the WaitFor callers.
func (h *Host) notify() {
	h.mu.Lock()
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

// Filter returns the filter plugin that evaluates expressionType (case-insensitive): the
// first in manifest order whose Info.ExpressionTypes contains it or, for a filter that
// declared none (or has not answered Init yet), whose name does. A plugin is returned whatever
// its state; its calls then fail as its failure policy says.
func (h *Host) Filter(expressionType string) (*FilterPlugin, bool) {
	for _, in := range h.plugins {
		if _, ok := in.resolve(expressionType); ok && in.filter != nil {
			return in.filter, true
		}
	}
	return nil, false
}

// Schedulers returns the scheduler plugins in manifest order (refused ones left out).
func (h *Host) Schedulers() []*SchedulerPlugin {
	var out []*SchedulerPlugin
	for _, in := range h.plugins {
		if in.scheduler != nil && in.state != StateRefused {
			out = append(out, in.scheduler)
		}
	}
	return out
}

// TxChecker returns the transaction checker plugin (a manifest has at most one), unless it was
// refused.
func (h *Host) TxChecker() (*TxCheckerPlugin, bool) {
	for _, in := range h.plugins {
		if in.txchecker != nil && in.state != StateRefused {
			return in.txchecker, true
		}
	}
	return nil, false
}

// Discovery returns the discovery plugin (a manifest has at most one), unless it was refused.
func (h *Host) Discovery() (*DiscoveryPlugin, bool) {
	for _, in := range h.plugins {
		if in.discovery != nil && in.state != StateRefused {
			return in.discovery, true
		}
	}
	return nil, false
}

// Ping checks that the plugin named name answers now: a gRPC health check within
// Options.HealthTimeout for an external plugin; a built-in that is up always answers. A plugin
// that is not up fails with an error wrapping plugin.ErrUnavailable.
func (h *Host) Ping(ctx context.Context, name string) error {
	for _, in := range h.plugins {
		if in.spec.Name != name {
			continue
		}
		in.mu.Lock()
		state, rpc := in.state, in.rpc
		in.mu.Unlock()
		if state != StateUp {
			return fmt.Errorf("plugin %q is %s: %w", name, state, plugin.ErrUnavailable)
		}
		if rpc == nil {
			return nil
		}
		if err := in.ping(ctx, rpc); err != nil {
			return fmt.Errorf("plugin %q: health check: %w: %w", name, plugin.ErrUnavailable, err)
		}
		return nil
	}
	return fmt.Errorf("host: no plugin %q", name)
}
