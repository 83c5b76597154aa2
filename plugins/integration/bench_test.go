package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/sdk/client"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
)

// BenchmarkFilteredPull measures pull throughput through each kind of filter on one broker: the
// tag hash path, CEL and SQL92 in process, and the jsonfield plugin out of process (batched, one
// gRPC call per pull). Half of the messages match. msgs/s counts messages scanned (delivered or
// filtered out), the rate the filter keeps up with.
//
//	go test -run '^$' -bench FilteredPull -count 6 ./plugins/integration/ | tee new.txt
//	benchstat new.txt
func BenchmarkFilteredPull(b *testing.B) {
	addr := benchCluster(b, `  - {name: cel, kind: filter, builtin: cel}
  - name: jsonfield
    kind: filter
    command: {{bin}}
    sha256: {{sha256}}
    failurePolicy: closed
`)
	rc := remoting.NewClient(remoting.ClientOptions{})
	defer rc.Close()
	for _, bc := range []struct{ name, typ, expr string }{
		{"tag", "TAG", "paid"},
		{"cel", "CEL", `props.status == "paid"`},
		{"sql92", "SQL92", "status = 'paid'"},
		{"jsonfield-external", "JSONFIELD", `status == "paid"`},
	} {
		b.Run(bc.name, func(b *testing.B) { benchPull(b, rc, addr, bc.typ, bc.expr, benchMessages) })
	}
}

// BenchmarkFilteredPullExternalCEL is the cel sub-benchmark of BenchmarkFilteredPull with the
// built-in run out of process (`tern plugin serve cel`): the cost of the boundary for a filter
// that reads properties.
func BenchmarkFilteredPullExternalCEL(b *testing.B) {
	tern, err := buildInto(binDir, "github.com/ternmq/tern/cmd/tern")
	if err != nil {
		b.Fatal(err)
	}
	sum, err := plugintest.Checksum(tern)
	if err != nil {
		b.Fatal(err)
	}
	addr := benchCluster(b, fmt.Sprintf(`  - name: cel
    kind: filter
    command: %s
    args: [plugin, serve, cel]
    sha256: %x
`, tern, sum))
	rc := remoting.NewClient(remoting.ClientOptions{})
	defer rc.Close()
	benchPull(b, rc, addr, "CEL", `props.status == "paid"`, benchMessages)
}

// benchMessages is the number of messages benchCluster stores.
const benchMessages = 10_000

// benchCluster starts a broker with the plugins of entries and stores benchMessages JSON
// orders in topic Bench (one queue), half of them paid (tag, property and body say so). It
// returns the broker's address.
func benchCluster(b *testing.B, entries string) string {
	h := startHost(b, entries)
	c := startCluster(b, h)
	if err := c.CreateTopic("Bench", 1); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := client.NewProducer("bench-producer", client.WithNameServers(c.NamesrvAddr))
	if err != nil {
		b.Fatal(err)
	}
	for i := range benchMessages {
		paid := i%2 == 0
		m := &client.Message{Topic: "Bench", Body: benchBody(i, paid), Tag: "open"}
		if paid {
			m.Tag = "paid"
		}
		m.SetProperty("status", m.Tag)
		if _, err := p.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	p.Close(ctx)
	st := c.Broker.Store()
	if err := st.WaitDispatched(ctx, st.CommitLogMaxOffset()); err != nil {
		b.Fatal(err)
	}
	return c.BrokerAddr
}

// benchPull pulls the queue from start to end in batches of 32 with the given subscription,
// over and over, b.N batches in all.
func benchPull(b *testing.B, rc *remoting.Client, addr, typ, expr string, end int64) {
	ctx := context.Background()
	offset, scanned, delivered := int64(0), 0, 0
	b.ResetTimer()
	for range b.N {
		h := protocol.PullMessageHeader{ConsumerGroup: "bench-" + strings.ToLower(typ), Topic: "Bench", QueueOffset: offset,
			MaxMsgNums: 32, SysFlag: 1 << 2, Subscription: expr, ExpressionType: typ}
		resp, err := rc.Invoke(ctx, addr, remoting.NewRequest(remoting.PullMessage, h.Encode(), nil))
		if err != nil {
			b.Fatal(err)
		}
		var rh protocol.PullMessageResponseHeader
		if err := rh.Decode(resp); err != nil {
			b.Fatal(err)
		}
		if c := remoting.Code(resp.Code); c != remoting.Success && c != remoting.PullRetryImmediately {
			b.Fatalf("pull: %v %s", c, resp.Remark)
		}
		scanned += int(rh.NextBeginOffset - offset)
		delivered += len(resp.Body)
		offset = rh.NextBeginOffset
		if offset >= end {
			offset = 0
		}
	}
	b.ReportMetric(float64(scanned)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(scanned)/float64(b.N), "msgs/pull")
	_ = delivered
}

// benchBody is a ~200-byte JSON order.
func benchBody(i int, paid bool) []byte {
	status := "open"
	if paid {
		status = "paid"
	}
	return fmt.Appendf(nil, `{"id":"order-%06d","status":%q,"amount":%d,"customer":{"country":"DE","vip":false},"note":"%s"}`,
		i, status, i%1000, strings.Repeat("x", 80))
}
