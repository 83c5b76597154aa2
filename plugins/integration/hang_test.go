package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/plugins/host"
	"github.com/ternmq/tern/sdk/client"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
)

// testfilterBin builds the host's test plugin once: its expression "hang" blocks Match forever.
var testfilterBin = sync.OnceValues(func() (string, error) {
	return buildInto(binDir, "github.com/ternmq/tern/plugins/host/testdata/testfilter")
})

// TestFilterPluginHangs subscribes one group with an expression that hangs the plugin's Match.
// With the closed policy its pulls come back empty at the same offset (after the call timeout)
// while a TAG group on the same topic is served at once; with open, the hanging group gets
// everything. Either way the host restarts the hung process.
func TestFilterPluginHangs(t *testing.T) {
	bin, err := testfilterBin()
	if err != nil {
		t.Fatal(err)
	}
	sum, err := plugintest.Checksum(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, policy := range []string{"closed", "open"} {
		t.Run(policy, func(t *testing.T) {
			h := startHost(t, fmt.Sprintf(`  - name: hanger
    kind: filter
    command: %s
    sha256: %x
    failurePolicy: %s
    timeout: 300ms
`, bin, sum, policy))
			c := startCluster(t, h)
			if err := c.CreateTopic("Hang", 1); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			p, err := client.NewProducer("hang-producer", client.WithNameServers(c.NamesrvAddr))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				if _, err := p.Send(ctx, &client.Message{Topic: "Hang", Body: fmt.Appendf(nil, "m-%d", i), Tag: "T"}); err != nil {
					t.Fatal(err)
				}
			}
			p.Close(ctx)
			st := c.Broker.Store()
			if err := st.WaitDispatched(ctx, st.CommitLogMaxOffset()); err != nil {
				t.Fatal(err)
			}
			rc := remoting.NewClient(remoting.ClientOptions{})
			defer rc.Close()
			pull := func(group, typ, expr string) (remoting.Code, int64, int) {
				hd := protocol.PullMessageHeader{ConsumerGroup: group, Topic: "Hang", MaxMsgNums: 32, SysFlag: 1 << 2, Subscription: expr, ExpressionType: typ}
				resp, err := rc.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(remoting.PullMessage, hd.Encode(), nil))
				if err != nil {
					t.Fatal(err)
				}
				var rh protocol.PullMessageResponseHeader
				if err := rh.Decode(resp); err != nil {
					t.Fatalf("%v %s", remoting.Code(resp.Code), resp.Remark)
				}
				return remoting.Code(resp.Code), rh.NextBeginOffset, strings.Count(string(resp.Body), "m-")
			}
			for range 3 {
				code, next, n := pull("hangs", "TEST", "hang")
				switch policy {
				case "closed":
					if code != remoting.PullNotFound || next != 0 || n != 0 {
						t.Fatalf("hung filter, closed: %v next %d with %d messages, want PULL_NOT_FOUND at 0", code, next, n)
					}
				case "open":
					if code != remoting.Success || next != 5 || n != 5 {
						t.Fatalf("hung filter, open: %v next %d with %d messages, want all 5", code, next, n)
					}
				}
				if code, _, n := pull("tagged", "TAG", "T"); code != remoting.Success || n != 5 {
					t.Fatalf("TAG group while the plugin hangs: %v with %d messages", code, n)
				}
			}
			if err := h.WaitFor(ctx, "hanger", func(s host.PluginStats) bool { return s.Restarts >= 1 && s.Timeouts >= 2 }); err != nil {
				t.Fatalf("the host did not restart the hung plugin: %v", err)
			}
		})
	}
}
