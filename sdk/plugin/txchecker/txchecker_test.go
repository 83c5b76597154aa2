package txchecker_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
	"github.com/ternmq/tern/sdk/plugin/txchecker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// byBody resolves by the body: "commit", "rollback", "ask" or anything else (unknown); a body
// "bogus" makes it answer an invalid resolution.
type byBody struct{}

func (byBody) Init(context.Context, map[string]any) (txchecker.Info, error) {
	return txchecker.Info{Name: "bybody", Version: "1", NeedsBody: true}, nil
}

func (byBody) Check(ctx context.Context, msgs []txchecker.HalfMessage) ([]txchecker.Resolution, error) {
	out := make([]txchecker.Resolution, len(msgs))
	for i, m := range msgs {
		switch string(m.Body) {
		case "commit":
			out[i] = txchecker.Commit
		case "rollback":
			out[i] = txchecker.Rollback
		case "ask":
			out[i] = txchecker.AskProducer
		case "bogus":
			out[i] = 42
		default:
			out[i] = txchecker.Unknown
		}
	}
	return out, ctx.Err()
}

func TestGRPC(t *testing.T) {
	c := plugintest.InProcess[txchecker.TxChecker](t, plugin.KindTxChecker, &txchecker.Plugin{Impl: byBody{}})
	info, err := c.Init(t.Context(), nil)
	if err != nil || info != (txchecker.Info{Name: "bybody", Version: "1", NeedsBody: true}) {
		t.Errorf("Init = %+v, %v", info, err)
	}
	half := func(body string) txchecker.HalfMessage {
		return txchecker.HalfMessage{Topic: "t", ProducerGroup: "pg", TransactionID: "tx", Body: []byte(body)}
	}
	got, err := c.Check(t.Context(), []txchecker.HalfMessage{half("commit"), half("rollback"), half("ask"), half("")})
	want := []txchecker.Resolution{txchecker.Commit, txchecker.Rollback, txchecker.AskProducer, txchecker.Unknown}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Check = %v, %v; want %v", got, err, want)
	}
	if got, err := c.Check(t.Context(), nil); err != nil || len(got) != 0 {
		t.Errorf("empty Check = %v, %v", got, err)
	}
	// The server refuses to send an invalid resolution.
	_, err = c.Check(t.Context(), []txchecker.HalfMessage{half("commit"), half("bogus")})
	if !errors.Is(err, plugin.ErrInternal) || !strings.Contains(err.Error(), "result 1 is Resolution(42)") {
		t.Errorf("invalid resolution: %v", err)
	}
}
