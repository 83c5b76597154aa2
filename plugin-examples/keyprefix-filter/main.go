// Command keyprefix-filter is the smallest useful Tern filter plugin, the one the README shows:
// subscriptions of expression type KEYPREFIX select messages with a key that starts with the
// expression ("order-").
package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

type keyPrefix struct{}

func (keyPrefix) Init(context.Context, map[string]any) (filter.Info, error) {
	return filter.Info{Name: "keyprefix", Version: "1.0.0", ExpressionTypes: []string{"KEYPREFIX"}, OmitProperties: true}, nil
}

func (keyPrefix) Compile(_ context.Context, sub filter.Subscription) error {
	if !strings.EqualFold(sub.ExpressionType, "KEYPREFIX") || sub.Expression == "" {
		return fmt.Errorf("%w: keyprefix: want a KEYPREFIX subscription with a prefix", plugin.ErrInvalidArgument)
	}
	return nil
}

func (k keyPrefix) Match(ctx context.Context, sub filter.Subscription, msgs []filter.Message) ([]bool, error) {
	if err := k.Compile(ctx, sub); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]bool, len(msgs))
	for i, m := range msgs {
		for _, k := range m.Keys {
			out[i] = out[i] || strings.HasPrefix(k, sub.Expression)
		}
	}
	return out, nil
}

func main() { filter.Serve(keyPrefix{}) }
