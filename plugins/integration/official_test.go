//go:build !race

package integration

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// The official RocketMQ Go client v2.1.2 has data races of its own; these tests build only
// without -race (.ci/run runs them in a separate step).

// TestOfficialClientSQL92AndCEL subscribes official push consumers with SQL92 (RocketMQ's
// syntax, translated to CEL by the broker) and with CEL (the expression type passes through the
// client unchanged) to one topic, and checks each receives exactly its selection.
func TestOfficialClientSQL92AndCEL(t *testing.T) {
	rlog.SetLogLevel("error")
	h := startHost(t, "  - {name: cel, kind: filter, builtin: cel}\n")
	c := startCluster(t, h)
	if err := c.CreateTopic("Payments", 4); err != nil {
		t.Fatal(err)
	}
	p, err := rocketmq.NewProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NamesrvAddr})),
		producer.WithGroupName("pg-sql92"), producer.WithInstanceName("sql92-"+t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()
	const n = 60
	for i := range n {
		m := primitive.NewMessage("Payments", []byte(strconv.Itoa(i))).WithTag([]string{"card", "wire"}[i%2])
		m.WithProperty("amount", strconv.Itoa(i*10))
		if i%3 != 0 { // every third message has no region: NULL in SQL92, absent in CEL
			m.WithProperty("region", []string{"eu", "us"}[i%2])
		}
		if _, err := p.SendSync(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, typ, expr string
		want            func(i int) bool
	}{
		{"sql92", "SQL92", "amount > 300 AND region = 'eu'", func(i int) bool { return i*10 > 300 && i%3 != 0 && i%2 == 0 }},
		{"sql92-null", "SQL92", "region IS NULL OR amount BETWEEN 100 AND 150", func(i int) bool { return i%3 == 0 || i*10 >= 100 && i*10 <= 150 }},
		{"sql92-not-in", "SQL92", "region NOT IN ('eu')", func(i int) bool { return i%3 != 0 && i%2 == 1 }},
		{"cel", "CEL", `"wire" in tags && int(props.amount) < 200`, func(i int) bool { return i%2 == 1 && i*10 < 200 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := map[int]bool{}
			for i := range n {
				if tc.want(i) {
					want[i] = true
				}
			}
			var mu sync.Mutex
			got := map[int]bool{}
			done := make(chan struct{})
			pc, err := rocketmq.NewPushConsumer(
				consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{c.NamesrvAddr})),
				consumer.WithGroupName("cg-"+tc.name), consumer.WithInstance("cg-"+tc.name),
				consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
			if err != nil {
				t.Fatal(err)
			}
			err = pc.Subscribe("Payments", consumer.MessageSelector{Type: consumer.ExpressionType(tc.typ), Expression: tc.expr},
				func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
					mu.Lock()
					defer mu.Unlock()
					for _, m := range msgs {
						i, _ := strconv.Atoi(string(m.Body))
						got[i] = true
					}
					if len(got) >= len(want) {
						select {
						case <-done:
						default:
							close(done)
						}
					}
					return consumer.ConsumeSuccess, nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if err := pc.Start(); err != nil {
				t.Fatal(err)
			}
			defer pc.Shutdown()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
			}
			mu.Lock()
			defer mu.Unlock()
			t.Logf("%s %q: %d selected of %d, want %d", tc.typ, tc.expr, len(got), n, len(want))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s %q selected %v, want %v", tc.typ, tc.expr, keys(got), keys(want))
			}
		})
	}
}

func keys(m map[int]bool) []int {
	var out []int
	for i := range 1000 {
		if m[i] {
			out = append(out, i)
		}
	}
	return out
}
