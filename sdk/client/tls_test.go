package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/remoting/tlsconf"
	"github.com/ternmq/tern/core/remoting/tlsconf/tlstest"
	"github.com/ternmq/tern/discovery/namesrv"
)

// tlsCluster starts a NameServer and a broker that accept only TLS from clients with a
// certificate of certs' CA; the broker registers over TLS with its own client certificate.
func tlsCluster(t *testing.T, certs *tlstest.Certs) *brokertest.Cluster {
	t.Helper()
	server := tlsconf.Listener{Mode: "enforcing", CertPath: certs.ServerCert, KeyPath: certs.ServerKey, TrustCertPath: certs.CA, NeedClientAuth: "require"}
	return brokertest.StartConfigured(t, func(c *namesrv.Config) { c.TLS = server }, func(c *broker.Config) {
		for _, kv := range []string{
			"tlsMode=enforcing", "tlsServerNeedClientAuth=require",
			"tlsServerCertPath=" + certs.ServerCert, "tlsServerKeyPath=" + certs.ServerKey, "tlsServerTrustCertPath=" + certs.CA,
			"namesrvTLSEnable=true", "tlsClientTrustCertPath=" + certs.CA,
			"tlsClientCertPath=" + certs.ClientCert, "tlsClientKeyPath=" + certs.ClientKey,
		} {
			if err := c.Set(kv); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestTLSEndToEnd runs a producer and a push consumer against a NameServer and a broker that
// require mutual TLS; the broker itself registers over TLS.
func TestTLSEndToEnd(t *testing.T) {
	certs := tlstest.New(t)
	c := tlsCluster(t, certs)
	topic := prodName(t, "tls")
	if err := c.CreateTopic(topic, 2); err != nil {
		t.Fatal(err)
	}
	tlsOpt := WithTLS(certs.ClientConfig(t, true))
	p := prodNew(t, c.NamesrvAddr, tlsOpt)
	const n = 20
	for i := range n {
		if _, err := p.Send(prodCtx(t, 10*time.Second), &Message{Topic: topic, Body: []byte(fmt.Sprintf("tls-%d", i))}); err != nil {
			t.Fatalf("send %d over TLS: %v", i, err)
		}
	}
	col := newConsCollector()
	consStart(t, c, consName("cg-tls"), topic, Tag("*"), col.handler, tlsOpt)
	col.waitDistinct(t, n, 30*time.Second)
	col.requireBodies(t, "tls", n)
}

// TestTLSRefusals checks what clients that do not meet a mutual-TLS cluster's terms see.
func TestTLSRefusals(t *testing.T) {
	certs := tlstest.New(t)
	c := tlsCluster(t, certs)
	tests := []struct {
		name    string
		tls     *tls.Config // nil: plaintext
		wantErr string
	}{
		{"plaintext", nil, remoting.RemarkTLSRequired},
		{"no client certificate", certs.ClientConfig(t, false), "certificate required"},
		{"wrong CA", certs.WrongCAConfig(t), "certificate signed by unknown authority"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := []ProducerOption{}
			if tc.tls != nil {
				opts = append(opts, WithTLS(tc.tls))
			}
			p := prodNew(t, c.NamesrvAddr, opts...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := p.Send(ctx, &Message{Topic: "TLSRefused", Body: []byte("x")})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
