package broker_test

import (
	"testing"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// TestPullAheadOfDispatchIsNotMoved: a consumer that pulls at the offset after the message it
// just got acknowledged (as a consumer resuming at a fresh commit does) races the dispatcher;
// the broker must answer "nothing new", never move it back to an older offset.
func TestPullAheadOfDispatchIsNotMoved(t *testing.T) {
	t.Parallel()
	c := brokertest.Start(t, nil)
	if err := c.CreateTopic("Lag", 1); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, c.BrokerAddr)
	for i := range int64(200) {
		if resp := r.call(sendReq("Lag", []byte("x"))); resp.Code != 0 {
			t.Fatalf("send: %d %s", resp.Code, resp.Remark)
		}
		h := protocol.PullMessageHeader{ConsumerGroup: "g", Topic: "Lag", QueueOffset: i + 1, MaxMsgNums: 1, SysFlag: 1 << 2, Subscription: "*"}
		resp := r.call(remoting.NewRequest(remoting.PullMessage, h.Encode(), nil))
		var rh protocol.PullMessageResponseHeader
		if err := rh.Decode(resp); err != nil {
			t.Fatal(err)
		}
		if remoting.Code(resp.Code) != remoting.PullNotFound || rh.NextBeginOffset != i+1 {
			t.Fatalf("pull at %d right after the send: %v next %d, want PULL_NOT_FOUND at %d", i+1, remoting.Code(resp.Code), rh.NextBeginOffset, i+1)
		}
	}
}
