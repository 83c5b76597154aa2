package main

import (
	"bytes"
	"context"
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

// TestAdminTLS drives a cluster that requires mutual TLS with --tls-ca/--tls-cert/--tls-key.
func TestAdminTLS(t *testing.T) {
	certs := tlstest.New(t)
	ls := tlsconf.Listener{Mode: "enforcing", CertPath: certs.ServerCert, KeyPath: certs.ServerKey, TrustCertPath: certs.CA, NeedClientAuth: "require"}
	c := brokertest.StartConfigured(t, func(c *namesrv.Config) { c.TLS = ls }, func(c *broker.Config) {
		c.TLS = ls
		c.NamesrvTLSEnable = true
		c.NamesrvTLS = tlsconf.Client{TrustCertPath: certs.CA, CertPath: certs.ClientCert, KeyPath: certs.ClientKey}
	})
	flags := []string{"admin", "--namesrv=" + c.NamesrvAddr, "--tls-ca", certs.CA, "--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey}
	run(t, append(flags, "topic", "create", "Secure", "-q", "1")...)
	run(t, append(flags, "send", "Secure", "over-tls")...)
	if out := run(t, append(flags, "consume", "Secure", "-n", "1")...); !strings.Contains(out, "over-tls") {
		t.Fatalf("consume over TLS:\n%s", out)
	}

	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"admin", "--namesrv=" + c.NamesrvAddr, "topic", "list"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cmd.ExecuteContext(ctx); err == nil || !strings.Contains(err.Error(), remoting.RemarkTLSRequired) {
		t.Fatalf("plaintext admin against enforcing: %v", err)
	}
}
