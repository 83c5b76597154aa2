package broker_test

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/remoting/tlsconf/tlstest"
)

// runtimeInfo asks addr for GET_BROKER_RUNTIME_INFO with a new client (cfg nil: plaintext).
func runtimeInfo(t *testing.T, addr string, cfg *tls.Config) (*remoting.Command, error) {
	t.Helper()
	cl := remoting.NewClient(remoting.ClientOptions{TLS: cfg})
	t.Cleanup(func() { cl.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, remoting.NewRequest(remoting.GetBrokerRuntimeInfo, nil, nil))
	if err != nil {
		return nil, err
	}
	return resp, remoting.ResponseErr(resp)
}

func setAll(t *testing.T, c *broker.Config, kvs ...string) {
	t.Helper()
	for _, kv := range kvs {
		if err := c.Set(kv); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTLSListenAddr serves plaintext on listenAddr and TLS only on tlsListenAddr at once.
func TestTLSListenAddr(t *testing.T) {
	certs := tlstest.New(t)
	c := brokertest.Start(t, func(c *broker.Config) {
		setAll(t, c, "tlsListenAddr=127.0.0.1:0", "tlsServerCertPath="+certs.ServerCert, "tlsServerKeyPath="+certs.ServerKey)
	})
	tlsAddr := c.Broker.TLSAddr()
	if tlsAddr == "" {
		t.Fatal("no TLS port")
	}
	if _, err := runtimeInfo(t, c.BrokerAddr, nil); err != nil {
		t.Fatalf("plaintext on listenAddr: %v", err)
	}
	if _, err := runtimeInfo(t, tlsAddr, certs.ClientConfig(t, false)); err != nil {
		t.Fatalf("TLS on tlsListenAddr: %v", err)
	}
	resp, err := runtimeInfo(t, tlsAddr, nil)
	if !errors.Is(err, remoting.ErrSystemError) || resp.Remark != remoting.RemarkTLSRequired {
		t.Fatalf("plaintext on tlsListenAddr: %v", err)
	}
	if _, err := runtimeInfo(t, c.BrokerAddr, certs.ClientConfig(t, false)); err == nil {
		t.Fatal("TLS on the plaintext listenAddr succeeded")
	}
}

// TestMaxConnections refuses the connection over maxConnections with SYSTEM_BUSY.
func TestMaxConnections(t *testing.T) {
	c := brokertest.Start(t, func(c *broker.Config) { setAll(t, c, "maxConnections=1") })
	if _, err := runtimeInfo(t, c.BrokerAddr, nil); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	resp, err := runtimeInfo(t, c.BrokerAddr, nil)
	if !errors.Is(err, remoting.ErrSystemBusy) || resp.Remark != remoting.RemarkTooManyConnections {
		t.Fatalf("second connection: %v", err)
	}
	if n := c.Broker.RefusedConns(); n != 1 {
		t.Fatalf("RefusedConns %d, want 1", n)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	certs := tlstest.New(t)
	tests := []struct {
		name string
		kvs  []string
	}{
		{"enforcing without certificate", []string{"tlsMode=enforcing"}},
		{"tls port without certificate", []string{"tlsListenAddr=127.0.0.1:0"}},
		{"unknown mode", []string{"tlsMode=strict"}},
		{"unreadable key", []string{"tlsMode=permissive", "tlsServerCertPath=" + certs.ServerCert, "tlsServerKeyPath=" + certs.ServerCert}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := broker.DefaultConfig(t.TempDir())
			cfg.ListenAddr, cfg.BrokerAddr, cfg.NamesrvAddr = "127.0.0.1:0", "127.0.0.1:0", ""
			setAll(t, &cfg, tc.kvs...)
			b, err := broker.New(cfg, nil)
			if err == nil {
				b.Close(context.Background())
				t.Fatal("the broker started")
			}
		})
	}
}
