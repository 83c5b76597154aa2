// Package producer is the built-in transaction checker "producer": it resolves every pending
// half message by asking a producer of its group (CHECK_TRANSACTION_STATE), which the broker
// core does on the AskProducer answer. It is RocketMQ's behaviour, and the default a checker
// plugin replaces.
package producer

import (
	"context"
	"fmt"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/txchecker"
)

// Name and Version identify the built-in.
const (
	Name    = "producer"
	Version = "1.0.0"
)

// Checker implements txchecker.TxChecker.
type Checker struct{}

var _ txchecker.TxChecker = Checker{}

// Init accepts no config.
func (Checker) Init(_ context.Context, config map[string]any) (txchecker.Info, error) {
	for k := range config {
		return txchecker.Info{}, fmt.Errorf("%w: producer: unknown config key %q", plugin.ErrInvalidArgument, k)
	}
	return txchecker.Info{Name: Name, Version: Version}, nil
}

// Check answers AskProducer for every half message.
func (Checker) Check(ctx context.Context, msgs []txchecker.HalfMessage) ([]txchecker.Resolution, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]txchecker.Resolution, len(msgs))
	for i := range out {
		out[i] = txchecker.AskProducer
	}
	return out, nil
}
