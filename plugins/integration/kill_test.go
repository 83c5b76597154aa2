package integration

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/plugins/host"
	"github.com/ternmq/tern/sdk/client"
)

const (
	killTopic   = "Orders"
	killQueues  = 4
	killPerQ    = 300 // messages per queue
	killRounds  = 20
	paidEvery   = 3 // every third order is paid
	killPullMax = 8
)

// TestFilterPluginKilledDuringConsume SIGKILLs the external jsonfield filter 20 times while a
// consumer pulls a filtered subscription. With the closed policy the consumer receives exactly
// the matching messages: none skipped, none extra. With open, delivery goes on through the
// outages (non-matching messages may slip through then) and every matching message arrives.
func TestFilterPluginKilledDuringConsume(t *testing.T) {
	for _, policy := range []string{"closed", "open"} {
		t.Run(policy, func(t *testing.T) {
			h := startHost(t, `  - name: jsonfield
    kind: filter
    command: {{bin}}
    sha256: {{sha256}}
    failurePolicy: `+policy+`
    timeout: 2s
`)
			c := startCluster(t, h)
			if err := c.CreateTopic(killTopic, killQueues); err != nil {
				t.Fatal(err)
			}
			want := produceOrders(t, c)
			got, kills, lastPid := consumeWhileKilling(t, c, h)
			if kills != killRounds {
				t.Fatalf("killed the plugin %d times, want %d", kills, killRounds)
			}
			waitCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := h.WaitFor(waitCtx, "jsonfield", func(s host.PluginStats) bool {
				return s.State == host.StateUp && s.Pid != 0 && s.Pid != lastPid
			}); err != nil {
				t.Fatalf("the plugin did not come back after the last kill: %v", err)
			}
			extra := 0
			for id := range got {
				if !want[id] {
					extra++
				}
			}
			missing := 0
			for id := range want {
				if !got[id] {
					missing++
				}
			}
			st := pluginStats(t, h, "jsonfield")
			t.Logf("policy %s: %d matching, %d received, %d missing, %d non-matching delivered; plugin restarts %d, calls %d, errors %d, fail-open %d",
				policy, len(want), len(got), missing, extra, st.Restarts, st.Calls, st.Errors, st.FailOpen)
			if missing != 0 {
				t.Fatalf("%d matching messages were never delivered", missing)
			}
			if policy == "closed" && extra != 0 {
				t.Fatalf("closed policy delivered %d messages the filter does not select", extra)
			}
			if st.Restarts < killRounds {
				t.Fatalf("the host restarted the plugin %d times after %d kills", st.Restarts, killRounds)
			}
		})
	}
}

// produceOrders sends killQueues*killPerQ JSON orders and returns the ids of the paid ones.
func produceOrders(t *testing.T, c *brokertest.Cluster) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := client.NewProducer("orders-producer", client.WithNameServers(c.NamesrvAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	paid := map[string]bool{}
	for i := range killQueues * killPerQ {
		status := "open"
		if i%paidEvery == 0 {
			status = "paid"
		}
		id := fmt.Sprintf("order-%d", i)
		body := fmt.Sprintf(`{"id":%q,"status":%q,"amount":%d}`, id, status, i)
		if _, err := p.Send(ctx, &client.Message{Topic: killTopic, Body: []byte(body), Keys: []string{id}}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if status == "paid" {
			paid[id] = true
		}
	}
	st := c.Broker.Store()
	if err := st.WaitDispatched(ctx, st.CommitLogMaxOffset()); err != nil {
		t.Fatal(err)
	}
	return paid
}

// consumeWhileKilling pulls every queue of the topic to its end with the subscription
// `status == "paid"`, and SIGKILLs the plugin each time another 1/(killRounds+1) of the
// queue has been scanned (waiting for the relaunched process before the next kill). It returns
// the order ids received, the number of kills and the pid killed last.
func consumeWhileKilling(t *testing.T, c *brokertest.Cluster, h *host.Host) (got map[string]bool, kills, lastPid int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rc := remoting.NewClient(remoting.ClientOptions{})
	defer rc.Close()
	var ends [killQueues]int64
	total := int64(0)
	for q := range killQueues {
		ends[q] = c.Broker.Store().MaxOffset(killTopic, int32(q))
		total += ends[q]
	}
	step := total / (killRounds + 1)
	var offsets [killQueues]int64
	got = map[string]bool{}
	scanned := int64(0)
	for scanned < total {
		for q := range killQueues {
			if offsets[q] >= ends[q] {
				continue
			}
			next := pullOnce(ctx, t, rc, c.BrokerAddr, int32(q), offsets[q], got)
			scanned += next - offsets[q]
			offsets[q] = next
			if kills < killRounds && scanned >= step*int64(kills+1) {
				lastPid = killPlugin(ctx, t, h, lastPid)
				kills++
				otherGroupPulls(ctx, t, rc, c.BrokerAddr)
			}
		}
	}
	return got, kills, lastPid
}

// killPlugin waits until the plugin runs in a process other than prev, SIGKILLs it and
// returns its pid.
func killPlugin(ctx context.Context, t *testing.T, h *host.Host, prev int) int {
	t.Helper()
	var pid int
	err := h.WaitFor(ctx, "jsonfield", func(s host.PluginStats) bool {
		pid = s.Pid
		return s.State == host.StateUp && s.Pid != 0 && s.Pid != prev
	})
	if err != nil {
		t.Fatalf("the plugin did not come back: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
	return pid
}

// pullOnce pulls one batch of queue q from offset and records the orders received; it returns
// the next offset.
func pullOnce(ctx context.Context, t *testing.T, rc *remoting.Client, addr string, q int32, offset int64, got map[string]bool) int64 {
	t.Helper()
	h := protocol.PullMessageHeader{ConsumerGroup: "paid-orders", Topic: killTopic, QueueID: q, QueueOffset: offset,
		MaxMsgNums: killPullMax, SysFlag: 1 << 2, Subscription: `status == "paid"`, ExpressionType: "JSONFIELD"}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := rc.Invoke(cctx, addr, remoting.NewRequest(remoting.PullMessage, h.Encode(), nil))
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	var rh protocol.PullMessageResponseHeader
	if err := rh.Decode(resp); err != nil {
		t.Fatal(err)
	}
	switch remoting.Code(resp.Code) {
	case remoting.Success:
		for b := resp.Body; len(b) > 0; {
			v, err := message.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			keys, _ := message.Property(v.Properties(), message.PropertyKeys)
			if got[string(keys)] {
				t.Fatalf("order %s delivered twice", keys)
			}
			got[string(keys)] = true
			b = b[v.Size():]
		}
	case remoting.PullRetryImmediately, remoting.PullNotFound:
	default:
		t.Fatalf("pull answered %v: %s", remoting.Code(resp.Code), resp.Remark)
	}
	if rh.NextBeginOffset < offset {
		t.Fatalf("pull moved the offset back from %d to %d", offset, rh.NextBeginOffset)
	}
	return rh.NextBeginOffset
}

// otherGroupPulls checks that a group subscribed by TAG is served at once while the plugin is
// down: a filter plugin's outage holds only its own subscriptions.
func otherGroupPulls(ctx context.Context, t *testing.T, rc *remoting.Client, addr string) {
	t.Helper()
	h := protocol.PullMessageHeader{ConsumerGroup: "all-orders", Topic: killTopic, QueueID: 0, MaxMsgNums: 4,
		SysFlag: 1 << 2, Subscription: "*", ExpressionType: "TAG"}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := rc.Invoke(cctx, addr, remoting.NewRequest(remoting.PullMessage, h.Encode(), nil))
	if err != nil {
		t.Fatalf("TAG pull while the plugin is down: %v", err)
	}
	if remoting.Code(resp.Code) != remoting.Success || len(resp.Body) == 0 {
		t.Fatalf("TAG pull while the plugin is down: %v %s", remoting.Code(resp.Code), resp.Remark)
	}
}

func pluginStats(t *testing.T, h *host.Host, name string) host.PluginStats {
	t.Helper()
	for _, s := range h.Stats() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no plugin %s", name)
	return host.PluginStats{}
}
