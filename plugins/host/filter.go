package host

import (
	"context"
	"fmt"

	"github.com/ternmq/tern/plugins/manifest"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

// FilterPlugin is a filter as the broker uses it: Host.Filter returns it for an expression
// type. Its calls go through the host's middleware and apply the plugin's failure policy.
type FilterPlugin struct {
	in *instance
}

// Name returns the plugin's manifest name.
func (f *FilterPlugin) Name() string { return f.in.spec.Name }

// NeedsBody reports whether Match wants message bodies (the filter's Info.NeedsBody, as of
// its last Init). Without it the broker passes messages with a nil Body.
func (f *FilterPlugin) NeedsBody() bool {
	f.in.mu.Lock()
	defer f.in.mu.Unlock()
	return f.in.info.needsBody
}

// NeedsProperties reports whether Match wants message properties (unless the filter's
// Info.OmitProperties, as of its last Init). Without it the broker passes nil Properties.
func (f *FilterPlugin) NeedsProperties() bool {
	f.in.mu.Lock()
	defer f.in.mu.Unlock()
	return f.in.info.needsProperties
}

// Policy returns the plugin's failure policy.
func (f *FilterPlugin) Policy() manifest.FailurePolicy { return f.in.spec.Policy() }

// Compile and Match pass the plugin the expression type as it declared it: Host.Filter
// resolves them regardless of case.

// Compile checks a subscription. A bad expression's error (wrapping plugin.ErrInvalidArgument,
// with the filter's message) is returned whatever the policy. If the plugin cannot answer,
// the open policy accepts the subscription and closed returns an error wrapping
// plugin.ErrUnavailable.
func (f *FilterPlugin) Compile(ctx context.Context, sub filter.Subscription) error {
	if t, ok := f.in.resolve(sub.ExpressionType); ok {
		sub.ExpressionType = t
	}
	_, err := call(ctx, f.in, func(ctx context.Context, fl filter.Filter) (struct{}, error) {
		return struct{}{}, fl.Compile(ctx, sub)
	})
	_, err = f.in.policy(ctx, err)
	return err
}

// Match returns one result per message: whether sub selects it. It calls the plugin with at
// most the entry's maxBatch messages at a time, each call within the entry's timeout. If the
// plugin cannot answer (down, timed out, crashed, internal error), the open policy makes the
// messages not yet evaluated match (results already received are kept) and returns no error;
// closed returns an error wrapping plugin.ErrUnavailable and no results, and the broker holds
// the group's delivery and retries later. Errors of the caller's making (a bad expression:
// plugin.ErrInvalidArgument; its cancelled context) are returned whatever the policy.
func (f *FilterPlugin) Match(ctx context.Context, sub filter.Subscription, msgs []filter.Message) ([]bool, error) {
	if t, ok := f.in.resolve(sub.ExpressionType); ok {
		sub.ExpressionType = t
	}
	out := make([]bool, 0, len(msgs))
	n := f.in.spec.BatchSize()
	for len(out) < len(msgs) {
		batch := msgs[len(out):min(len(out)+n, len(msgs))]
		res, err := call(ctx, f.in, func(ctx context.Context, fl filter.Filter) ([]bool, error) {
			r, err := fl.Match(ctx, sub, batch)
			if err == nil && len(r) != len(batch) {
				err = fmt.Errorf("%w: %d results for %d messages", plugin.ErrInternal, len(r), len(batch))
			}
			return r, err
		})
		if err != nil {
			open, err := f.in.policy(ctx, err)
			if !open {
				return nil, err
			}
			for len(out) < len(msgs) {
				out = append(out, true)
			}
			return out, nil
		}
		out = append(out, res...)
	}
	return out, nil
}
