package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/ternmq/tern/plugins/manifest"
	"github.com/ternmq/tern/sdk/plugin"
)

// instance is one plugin of the manifest: its state, its current implementation (a built-in,
// or the client of its current process) and its counters.
type instance struct {
	h    *Host
	spec manifest.Plugin
	kind kindSpec
	log  *slog.Logger // with plugin=<name>
	// The kind's facade, the one the broker calls (only the instance's kind is set).
	filter    *FilterPlugin
	scheduler *SchedulerPlugin
	txchecker *TxCheckerPlugin
	discovery *DiscoveryPlugin
	// kick wakes the supervisor: a call saw the plugin unavailable, or it hangs. A send never
	// blocks: when the channel is full a wake-up is already pending, which is enough.
	kick chan struct{}

	mu    sync.Mutex // guards the fields below; taken before Host.mu
	state State
	err   error // why the plugin is down or refused, or what last went wrong
	m     machine
	impl  any // the kind's interface; nil unless state is up
	// client and rpc are the current process of an external plugin; only its supervisor
	// goroutine sets them.
	client   *goplugin.Client
	rpc      goplugin.ClientProtocol
	sockDir  string
	info     info
	haveInfo bool
	checksum string
	c        counters
	// fail-open log limiting: when the last one was logged, and how many were not since.
	openLogged time.Time
	openQuiet  uint64
}

// counters are the call statistics of an instance.
type counters struct {
	calls, errors, timeouts, failOpen, restarts uint64
	latency                                     Histogram
	upSince                                     time.Time
}

func (in *instance) name() string { return in.spec.Name }

// set changes the state under in.mu and tells the waiters.
func (in *instance) set(state State, err error) {
	in.mu.Lock()
	in.state, in.err = state, err
	in.mu.Unlock()
	in.h.notify()
}

// wake asks the supervisor to look at the plugin.
func (in *instance) wake() {
	select {
	case in.kick <- struct{}{}:
	default:
	}
}

// acquire returns the implementation to call and its generation, or, when the plugin is not
// up, an error wrapping plugin.ErrUnavailable at once.
func (in *instance) acquire() (any, uint64, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.c.calls++
	if in.state != StateUp {
		in.c.errors++
		msg := fmt.Sprintf("plugin %q is %s", in.spec.Name, in.state)
		if in.err != nil {
			msg += " (" + in.err.Error() + ")"
		}
		return nil, 0, fmt.Errorf("%s: %w", msg, plugin.ErrUnavailable)
	}
	return in.impl, in.m.gen, nil
}

// finish records a call to generation gen that took d and ended with err (timedOut: it ran
// past the plugin's timeout), wakes the supervisor if the call says the process is in
// trouble, and returns the error the caller sees.
func (in *instance) finish(ctx context.Context, gen uint64, d time.Duration, err error, timedOut bool) error {
	closed := err != nil && !timedOut && ctx.Err() == nil && errors.Is(err, context.Canceled)
	in.mu.Lock()
	in.c.latency.observe(d)
	if err != nil {
		in.c.errors++
	}
	if timedOut {
		in.c.timeouts++
	}
	hung := in.m.callDone(gen, timedOut)
	in.mu.Unlock()
	if in.h.opts.OnCall != nil {
		in.h.opts.OnCall(in.spec.Name, d)
	}

	switch {
	case err == nil:
		return nil
	case timedOut:
		if hung {
			in.wake()
		}
		return fmt.Errorf("plugin %q: no answer within %v: %w", in.spec.Name, in.spec.CallTimeout(), plugin.ErrTimeout)
	case ctx.Err() != nil:
		return fmt.Errorf("plugin %q: %w", in.spec.Name, err)
	case closed:
		// The connection was closed under the call (the process is being killed).
		in.wake()
		return fmt.Errorf("plugin %q: connection closed: %w", in.spec.Name, plugin.ErrUnavailable)
	case errors.Is(err, plugin.ErrUnavailable):
		in.wake()
	}
	return fmt.Errorf("plugin %q: %w", in.spec.Name, err)
}

// call runs fn on the plugin's implementation, asserted to the kind's interface T, behind
// the host's middleware: fail fast when the plugin is not up, the per-call timeout, the
// stats, and the reports of timeouts and crashes to the supervisor. It is the one path of
// every call of every kind.
func call[T, R any](ctx context.Context, in *instance, fn func(context.Context, T) (R, error)) (R, error) {
	var zero R
	if err := ctx.Err(); err != nil {
		return zero, fmt.Errorf("plugin %q: %w", in.spec.Name, err)
	}
	impl, gen, err := in.acquire()
	if err != nil {
		return zero, err
	}
	t, ok := impl.(T)
	if !ok {
		return zero, in.finish(ctx, gen, 0, errNotKind(in, impl), false)
	}
	cctx, cancel := context.WithTimeout(ctx, in.spec.CallTimeout())
	start := in.h.opts.Now()
	r, err := fn(cctx, t)
	timedOut := err != nil && ctx.Err() == nil && pastDeadline(cctx, err)
	cancel()
	if err = in.finish(ctx, gen, in.h.opts.Now().Sub(start), err, timedOut); err != nil {
		return zero, err
	}
	return r, nil
}

// errNotKind is the error of an implementation that does not implement its entry's kind.
func errNotKind(in *instance, impl any) error {
	return fmt.Errorf("%w: %T is not a %s plugin", plugin.ErrInternal, impl, in.spec.Kind)
}

// deadlineSlack is how close to the call's deadline a DeadlineExceeded error counts as the
// call's timeout: gRPC's own deadline timer (on the server, or its transport) may fire a
// little before the context's.
const deadlineSlack = 50 * time.Millisecond

// pastDeadline reports whether the call under cctx ended because of its deadline.
func pastDeadline(cctx context.Context, err error) bool {
	if cctx.Err() != nil {
		return true
	}
	dl, ok := cctx.Deadline()
	return ok && errors.Is(err, context.DeadlineExceeded) && time.Until(dl) < deadlineSlack
}

// policy applies the failure policy to the error of a call. It returns open when the call
// counts as answered permissively (policy open); otherwise the error the caller sees: errors
// of the caller's own making as they are, failures wrapping plugin.ErrUnavailable.
func (in *instance) policy(ctx context.Context, err error) (open bool, _ error) {
	if err == nil {
		return false, nil
	}
	if ctx.Err() != nil || errors.Is(err, plugin.ErrInvalidArgument) || errors.Is(err, plugin.ErrNotFound) || errors.Is(err, plugin.ErrUnsupported) {
		return false, err
	}
	if in.spec.Policy() == manifest.FailOpen {
		in.failedOpen(err)
		return true, nil
	}
	if errors.Is(err, plugin.ErrUnavailable) {
		return false, err
	}
	return false, fmt.Errorf("%w: %w", plugin.ErrUnavailable, err)
}

// failedOpen counts a failure answered by the open policy and logs it, at most once per
// Options.LogEvery.
func (in *instance) failedOpen(err error) {
	now := in.h.opts.Now()
	in.mu.Lock()
	in.c.failOpen++
	quiet := in.openQuiet
	logIt := in.openLogged.IsZero() || now.Sub(in.openLogged) >= in.h.opts.LogEvery
	if logIt {
		in.openLogged, in.openQuiet = now, 0
	} else {
		in.openQuiet++
	}
	in.mu.Unlock()
	if logIt {
		in.log.Warn("plugin failing open", "err", err, "suppressed", quiet)
	}
}

// resolve returns the filter's own spelling of expression type t (case-insensitive): one of
// its Info.ExpressionTypes or, when it declared none or has not answered Init yet, its name
// upper-cased. ok is false when the filter does not evaluate t.
func (in *instance) resolve(t string) (_ string, ok bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.haveInfo && len(in.info.exprTypes) > 0 {
		for _, e := range in.info.exprTypes {
			if strings.EqualFold(e, t) {
				return e, true
			}
		}
		return "", false
	}
	if strings.EqualFold(in.spec.Name, t) {
		return strings.ToUpper(in.spec.Name), true
	}
	return "", false
}

// snapshot returns the stats of the instance.
func (in *instance) snapshot() PluginStats {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := PluginStats{
		Name: in.spec.Name, Kind: in.spec.Kind, Builtin: in.spec.Builtin, State: in.state,
		Version: in.info.version, SHA256: in.checksum, NeedsBody: in.info.needsBody, NeedsProperties: in.info.needsProperties,
		Calls: in.c.calls, Errors: in.c.errors, Timeouts: in.c.timeouts, FailOpen: in.c.failOpen,
		Restarts: in.c.restarts, Latency: in.c.latency,
	}
	if !in.spec.IsBuiltin() {
		s.Command, s.Args = in.spec.Executable(), slices.Clone(in.spec.Args)
		if in.client != nil {
			if rc := in.client.ReattachConfig(); rc != nil {
				s.Pid = rc.Pid
			}
		}
	}
	if in.err != nil {
		s.Err = in.err.Error()
	}
	if in.state == StateUp {
		s.UpSince = in.c.upSince
	}
	if in.spec.Kind == plugin.KindFilter {
		s.ExpressionTypes = append([]string(nil), in.info.exprTypes...)
		if len(s.ExpressionTypes) == 0 {
			s.ExpressionTypes = []string{strings.ToUpper(in.spec.Name)}
		}
	}
	return s
}
