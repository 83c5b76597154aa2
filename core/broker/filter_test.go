package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

// propFilter is a filter for the expression type PROP: expression "k=v" selects messages whose
// property k is v. While down is set it fails every call, as the plugin host does for a plugin
// with the closed failure policy that is restarting.
type propFilter struct {
	down    atomic.Bool
	batches atomic.Int64
}

func (f *propFilter) NeedsBody() bool       { return false }
func (f *propFilter) NeedsProperties() bool { return true }

func (f *propFilter) Compile(_ context.Context, sub filter.Subscription) error {
	if !strings.Contains(sub.Expression, "=") {
		return fmt.Errorf("%w: expected key=value at 1:1, got %q", plugin.ErrInvalidArgument, sub.Expression)
	}
	return nil
}

func (f *propFilter) Match(_ context.Context, sub filter.Subscription, msgs []filter.Message) ([]bool, error) {
	if f.down.Load() {
		return nil, fmt.Errorf("%w: plugin prop is restarting", plugin.ErrUnavailable)
	}
	f.batches.Add(1)
	k, v, _ := strings.Cut(sub.Expression, "=")
	out := make([]bool, len(msgs))
	for i, m := range msgs {
		out[i] = m.Properties[k] == v
	}
	return out, nil
}

func startWithPropFilter(t *testing.T) (*brokertest.Cluster, *propFilter) {
	f := &propFilter{}
	c := brokertest.Start(t, func(cfg *broker.Config) {
		cfg.Filters = func(typ string) (broker.MessageFilter, bool) {
			if strings.EqualFold(typ, "PROP") {
				return f, true
			}
			return nil, false
		}
	})
	if err := c.CreateTopic("Filtered", 1); err != nil {
		t.Fatal(err)
	}
	return c, f
}

func sendWithProps(t *testing.T, r *rawConn, topic string, props map[string]string) {
	t.Helper()
	req := sendReq(topic, []byte("body"))
	p, err := message.AppendProperties(nil, props)
	if err != nil {
		t.Fatal(err)
	}
	req.ExtFields["i"] = string(p) // SEND_MESSAGE_V2's properties field
	if resp := r.call(req); resp.Code != 0 {
		t.Fatalf("send: %d %s", resp.Code, resp.Remark)
	}
}

func pullReq(offset int64, suspend bool) *remoting.Command {
	h := protocol.PullMessageHeader{ConsumerGroup: "g", Topic: "Filtered", QueueOffset: offset, MaxMsgNums: 32,
		SysFlag: 1 << 2, Subscription: "color=red", ExpressionType: "PROP", SuspendTimeoutMillis: 15_000}
	if suspend {
		h.SysFlag |= 1 << 1
	}
	return remoting.NewRequest(remoting.PullMessage, h.Encode(), nil)
}

func decodePull(t *testing.T, resp *remoting.Command) (colors []string, next int64) {
	t.Helper()
	var rh protocol.PullMessageResponseHeader
	if err := rh.Decode(resp); err != nil {
		t.Fatal(err)
	}
	for b := resp.Body; len(b) > 0; {
		v, err := message.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := message.Property(v.Properties(), "color")
		colors = append(colors, string(c))
		b = b[v.Size():]
	}
	return colors, rh.NextBeginOffset
}

func TestPluginFilterSelectsOnThePullPath(t *testing.T) {
	t.Parallel()
	c, f := startWithPropFilter(t)
	r := dialRaw(t, c.BrokerAddr)
	for _, color := range []string{"red", "blue", "red", "green"} {
		sendWithProps(t, r, "Filtered", map[string]string{"color": color})
	}
	waitDispatched(t, c)
	resp := r.call(pullReq(0, false))
	if resp.Code != 0 {
		t.Fatalf("pull: %d %s", resp.Code, resp.Remark)
	}
	colors, next := decodePull(t, resp)
	if strings.Join(colors, ",") != "red,red" || next != 4 {
		t.Fatalf("got %v next %d, want the two red messages and next 4", colors, next)
	}
	if f.batches.Load() != 1 {
		t.Fatalf("the filter was called %d times for one pull, want one batch", f.batches.Load())
	}
	// A batch without a match moves the offset on without delivering anything.
	sendWithProps(t, r, "Filtered", map[string]string{"color": "blue"})
	waitDispatched(t, c)
	resp = r.call(pullReq(4, false))
	if colors, next := decodePull(t, resp); resp.Code != int16(remoting.PullRetryImmediately) || len(colors) != 0 || next != 5 {
		t.Fatalf("no-match pull: code %d colors %v next %d, want PULL_RETRY_IMMEDIATELY, none, 5", resp.Code, colors, next)
	}
}

func TestPluginFilterDownHoldsDeliveryAndSkipsNothing(t *testing.T) {
	t.Parallel()
	c, f := startWithPropFilter(t)
	r := dialRaw(t, c.BrokerAddr)
	sendWithProps(t, r, "Filtered", map[string]string{"color": "red"})
	waitDispatched(t, c)
	f.down.Store(true)
	for _, suspend := range []bool{false, true} {
		resp := r.call(pullReq(0, suspend))
		colors, next := decodePull(t, resp)
		if resp.Code != int16(remoting.PullNotFound) || len(colors) != 0 || next != 0 {
			t.Fatalf("pull while the filter is down (suspend %v): code %d %q colors %v next %d, want PULL_NOT_FOUND at offset 0",
				suspend, resp.Code, resp.Remark, colors, next)
		}
	}
	f.down.Store(false)
	resp := r.call(pullReq(0, true))
	if colors, next := decodePull(t, resp); resp.Code != 0 || len(colors) != 1 || next != 1 {
		t.Fatalf("pull after the filter is back: code %d colors %v next %d", resp.Code, colors, next)
	}
}

func TestPluginFilterRefusesBadExpressions(t *testing.T) {
	t.Parallel()
	c, _ := startWithPropFilter(t)
	r := dialRaw(t, c.BrokerAddr)
	body, _ := json.Marshal(map[string]any{"group": "g", "subscriptionData": map[string]string{
		"topic": "Filtered", "subString": "no equals sign", "expressionType": "PROP"}})
	for name, req := range map[string]*remoting.Command{
		"check client config": remoting.NewRequest(remoting.CheckClientConfig, nil, body),
		"pull": func() *remoting.Command {
			req := pullReq(0, false)
			req.ExtFields["subscription"] = "no equals sign"
			return req
		}(),
	} {
		resp := r.call(req)
		if remoting.Code(resp.Code) != remoting.SubscriptionParseFailed || !strings.Contains(resp.Remark, `expected key=value at 1:1, got "no equals sign"`) {
			t.Errorf("%s: code %v remark %q, want SUBSCRIPTION_PARSE_FAILED with the filter's message", name, remoting.Code(resp.Code), resp.Remark)
		}
	}
	good, _ := json.Marshal(map[string]any{"group": "g", "subscriptionData": map[string]string{
		"topic": "Filtered", "subString": "a=b", "expressionType": "PROP"}})
	if resp := r.call(remoting.NewRequest(remoting.CheckClientConfig, nil, good)); resp.Code != 0 {
		t.Errorf("good expression: %d %s", resp.Code, resp.Remark)
	}
}
