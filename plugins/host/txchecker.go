package host

import (
	"context"
	"fmt"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/txchecker"
)

// TxCheckerPlugin is a transaction checker as the broker uses it: its calls go through the
// host's middleware, are split into batches of the entry's maxBatch, and apply its failure
// policy.
type TxCheckerPlugin struct {
	in *instance
}

// Name returns the plugin's manifest name.
func (c *TxCheckerPlugin) Name() string { return c.in.spec.Name }

// NeedsBody reports whether Check wants message bodies (the checker's Info.NeedsBody, as of
// its last Init).
func (c *TxCheckerPlugin) NeedsBody() bool {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	return c.in.info.needsBody
}

// Check returns one resolution per half message. When the checker cannot answer, the open
// policy resolves every message with AskProducer (RocketMQ's own check) and no error; closed
// returns an error wrapping plugin.ErrUnavailable, and the broker keeps the half messages for
// a later round without counting a check. A resolution that is not valid fails the batch.
func (c *TxCheckerPlugin) Check(ctx context.Context, msgs []txchecker.HalfMessage) ([]txchecker.Resolution, error) {
	res, err := batched(ctx, c.in, msgs, func(ctx context.Context, tc txchecker.TxChecker, b []txchecker.HalfMessage) ([]txchecker.Resolution, error) {
		r, err := tc.Check(ctx, b)
		for i := range r {
			if err == nil && !r[i].Valid() {
				err = fmt.Errorf("%w: resolution %v for message %d", plugin.ErrInternal, r[i], i)
			}
		}
		return r, err
	})
	if err == nil && res == nil && len(msgs) > 0 { // failed open
		res = make([]txchecker.Resolution, len(msgs))
		for i := range res {
			res[i] = txchecker.AskProducer
		}
	}
	return res, err
}
