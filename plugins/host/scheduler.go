package host

import (
	"context"
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/scheduler"
)

// SchedulerPlugin is a scheduler as the broker uses it: its calls go through the host's
// middleware, are split into batches of the entry's maxBatch, and apply its failure policy.
type SchedulerPlugin struct {
	in *instance
}

// Name returns the plugin's manifest name.
func (s *SchedulerPlugin) Name() string { return s.in.spec.Name }

// Builtin returns the name of the built-in the plugin runs, "" for an external plugin.
func (s *SchedulerPlugin) Builtin() string { return s.in.spec.Builtin }

// Topics returns the entry's topics: list (nil for a default scheduler).
func (s *SchedulerPlugin) Topics() []string { return slices.Clone(s.in.spec.Topics) }

// Decides reports whether the entry's topics: list names topic (a name or a path.Match
// pattern). An entry without topics decides for no topic by name.
func (s *SchedulerPlugin) Decides(topic string) bool {
	return slices.ContainsFunc(s.in.spec.Topics, func(p string) bool {
		ok, err := path.Match(p, topic)
		return ok && err == nil
	})
}

// Schedule returns one delivery time per message (see scheduler.Scheduler). When the plugin
// cannot answer, the open policy returns nil results and no error: the caller applies its
// built-in default; closed returns an error wrapping plugin.ErrUnavailable, and the caller
// keeps the messages and asks again later.
func (s *SchedulerPlugin) Schedule(ctx context.Context, msgs []scheduler.Message) ([]int64, error) {
	return batched(ctx, s.in, msgs, func(ctx context.Context, sc scheduler.Scheduler, b []scheduler.Message) ([]int64, error) {
		return sc.Schedule(ctx, b)
	})
}

// Backoff returns one delay per retry, with Schedule's failure rules.
func (s *SchedulerPlugin) Backoff(ctx context.Context, retries []scheduler.Retry) ([]time.Duration, error) {
	return batched(ctx, s.in, retries, func(ctx context.Context, sc scheduler.Scheduler, b []scheduler.Retry) ([]time.Duration, error) {
		return sc.Backoff(ctx, b)
	})
}

// batched calls fn on in's implementation with at most the entry's maxBatch items at a time and
// checks that every call answers one result per item. On a failure the open policy returns
// (nil, nil): no answer, and the caller's default applies to every item.
func batched[T, I, R any](ctx context.Context, in *instance, items []I, fn func(context.Context, T, []I) ([]R, error)) ([]R, error) {
	out := make([]R, 0, len(items))
	n := in.spec.BatchSize()
	for len(out) < len(items) {
		batch := items[len(out):min(len(out)+n, len(items))]
		res, err := call(ctx, in, func(ctx context.Context, impl T) ([]R, error) {
			r, err := fn(ctx, impl, batch)
			if err == nil && len(r) != len(batch) {
				err = fmt.Errorf("%w: %d results for %d items", plugin.ErrInternal, len(r), len(batch))
			}
			return r, err
		})
		if err != nil {
			open, err := in.policy(ctx, err)
			if open {
				return nil, nil
			}
			return nil, err
		}
		out = append(out, res...)
	}
	return out, nil
}
