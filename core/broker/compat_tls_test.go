//go:build !race

package broker_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/remoting/tlsconf"
	"github.com/ternmq/tern/core/remoting/tlsconf/tlstest"
	"github.com/ternmq/tern/discovery/namesrv"
)

// TestOfficialClientPermissiveTLS: the official client, which speaks plaintext, sends and
// consumes through a NameServer and a broker in tlsMode permissive.
func TestOfficialClientPermissiveTLS(t *testing.T) {
	t.Parallel()
	certs := tlstest.New(t)
	ls := tlsconf.Listener{Mode: "permissive", CertPath: certs.ServerCert, KeyPath: certs.ServerKey}
	c := brokertest.StartConfigured(t, func(c *namesrv.Config) { c.TLS = ls }, func(c *broker.Config) { c.TLS = ls })
	createTopic(t, c, "PermissiveTLS", 2)
	p := newProducer(t, c)
	for i := range 5 {
		res, err := p.SendSync(context.Background(), primitive.NewMessage("PermissiveTLS", []byte("plain-"+strconv.Itoa(i))))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send: %v %v", res, err)
		}
	}
	col := newCollector()
	pc := newPushConsumer(t, c, "cg-"+instance(t))
	if err := pc.Subscribe("PermissiveTLS", consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		col.add(msgs...)
		return consumer.ConsumeSuccess, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Shutdown() })
	col.wait(t, 5, 60*time.Second)
}
