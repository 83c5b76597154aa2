package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/sdk/client"
)

// TestSDKNamedFilterPlugin: a sdk/client push consumer subscribes with the expression type of
// an external filter plugin (client.Expr), which passes through to the broker and selects by
// JSON body field.
func TestSDKNamedFilterPlugin(t *testing.T) {
	h := startHost(t, `  - name: jsonfield
    kind: filter
    command: {{bin}}
    sha256: {{sha256}}
`)
	c := startCluster(t, h)
	if err := c.CreateTopic("Orders", 2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := client.NewProducer("orders-producer", client.WithNameServers(c.NamesrvAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	want := map[string]bool{}
	for i := range 40 {
		country := []string{"DE", "FR", "US", "JP"}[i%4]
		body := fmt.Sprintf(`{"id":"o-%d","customer":{"country":%q}}`, i, country)
		if _, err := p.Send(ctx, &client.Message{Topic: "Orders", Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
		if country == "DE" || country == "FR" {
			want[body] = true
		}
	}
	var mu sync.Mutex
	got := map[string]bool{}
	done := make(chan struct{})
	cons, err := client.NewPushConsumer("eu-orders", client.WithNameServers(c.NamesrvAddr),
		client.WithConsumeFrom(client.ConsumeFromFirstOffset), client.WithLogger(brokertest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	err = cons.Subscribe("Orders", client.Expr("JSONFIELD", `customer.country in ["DE","FR"]`),
		func(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				got[string(m.Body)] = true
			}
			if len(got) >= len(want) {
				select {
				case <-done:
				default:
					close(done)
				}
			}
			return client.ConsumeSuccess, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer cons.Close(context.Background())
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	for body := range got {
		if !want[body] {
			t.Errorf("delivered %s", body)
		}
		if !strings.Contains(body, `"DE"`) && !strings.Contains(body, `"FR"`) {
			t.Errorf("not an EU order: %s", body)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d of the %d EU orders", len(got), len(want))
	}
}
