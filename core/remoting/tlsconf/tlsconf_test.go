package tlsconf_test

import (
	"crypto/tls"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/remoting/tlsconf"
	"github.com/ternmq/tern/core/remoting/tlsconf/tlstest"
)

func TestListenerValidate(t *testing.T) {
	c := tlstest.New(t)
	files := tlsconf.Listener{CertPath: c.ServerCert, KeyPath: c.ServerKey, TrustCertPath: c.CA}
	with := func(f func(*tlsconf.Listener)) tlsconf.Listener { l := files; f(&l); return l }
	tests := []struct {
		name     string
		l        tlsconf.Listener
		needTLS  bool
		wantMode remoting.TLSMode
		wantCfg  bool
		wantErr  string
	}{
		{"unset is disabled", tlsconf.Listener{}, false, remoting.TLSDisabled, false, ""},
		{"disabled with files", files, false, remoting.TLSDisabled, false, ""},
		{"disabled with a TLS port", files, true, remoting.TLSDisabled, true, ""},
		{"permissive", with(func(l *tlsconf.Listener) { l.Mode = "permissive" }), false, remoting.TLSPermissive, true, ""},
		{"enforcing with mTLS", with(func(l *tlsconf.Listener) { l.Mode, l.NeedClientAuth = "enforcing", "require" }), false, remoting.TLSEnforcing, true, ""},
		{"bad mode", with(func(l *tlsconf.Listener) { l.Mode = "on" }), false, 0, false, "want disabled, permissive or enforcing"},
		{"bad client auth", with(func(l *tlsconf.Listener) { l.NeedClientAuth = "yes" }), false, 0, false, "want none, optional or require"},
		{"no certificate", tlsconf.Listener{Mode: "enforcing"}, false, 0, false, "needs tlsServerCertPath and tlsServerKeyPath"},
		{"client auth without CA", with(func(l *tlsconf.Listener) { l.Mode, l.NeedClientAuth, l.TrustCertPath = "permissive", "optional", "" }), false, 0, false, "needs tlsServerTrustCertPath"},
		{"missing file", with(func(l *tlsconf.Listener) { l.Mode, l.KeyPath = "permissive", c.ServerKey+".gone" }), false, 0, false, "no such file"},
		{"key of another certificate", with(func(l *tlsconf.Listener) { l.Mode, l.KeyPath = "permissive", c.ClientKey }), false, 0, false, "private key does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mode, cfg, err := tc.l.Server(tc.needTLS)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || mode != tc.wantMode || (cfg != nil) != tc.wantCfg {
				t.Fatalf("got %v, config %v, %v; want %v, config %v", mode, cfg != nil, err, tc.wantMode, tc.wantCfg)
			}
		})
	}
}

// TestCertificateReload replaces the server's files: the next handshake gets the new pair, and
// a pair that does not load leaves the previous one serving.
func TestCertificateReload(t *testing.T) {
	a, b := tlstest.New(t), tlstest.New(t)
	dir := t.TempDir()
	cert, key := dir+"/server.pem", dir+"/server-key.pem"
	install := func(certFrom, keyFrom string, stamp time.Time) {
		t.Helper()
		for _, f := range [][2]string{{certFrom, cert}, {keyFrom, key}} {
			data, err := os.ReadFile(f[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f[1], data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(f[1], stamp, stamp); err != nil { // a new stamp whatever the clock's resolution
				t.Fatal(err)
			}
		}
	}
	leaf := func(cfg *tls.Config) string {
		t.Helper()
		pair, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return string(pair.Certificate[0])
	}
	serial := func(c *tlstest.Certs) string {
		t.Helper()
		pair, err := tls.LoadX509KeyPair(c.ServerCert, c.ServerKey)
		if err != nil {
			t.Fatal(err)
		}
		return string(pair.Certificate[0])
	}
	base := time.Now().Add(-time.Hour)
	install(a.ServerCert, a.ServerKey, base)
	cfg, err := tlsconf.Server{CertPath: cert, KeyPath: key}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if leaf(cfg) != serial(a) {
		t.Fatal("not serving the installed pair")
	}
	install(b.ServerCert, b.ServerKey, base.Add(time.Minute))
	if leaf(cfg) != serial(b) {
		t.Fatal("the replaced pair was not reloaded")
	}
	install(a.ServerCert, b.ServerKey, base.Add(2*time.Minute)) // half-way through a rotation
	if leaf(cfg) != serial(b) {
		t.Fatal("a pair that does not load replaced the serving one")
	}
}

func TestClientConfig(t *testing.T) {
	c := tlstest.New(t)
	cfg, err := tlsconf.Client{TrustCertPath: c.CA, CertPath: c.ClientCert, KeyPath: c.ClientKey}.Config()
	if err != nil || cfg.RootCAs == nil || len(cfg.Certificates) != 1 {
		t.Fatalf("client config: %v", err)
	}
	if _, err := (tlsconf.Client{CertPath: c.ClientCert}).Config(); err == nil {
		t.Fatal("a certificate without its key was accepted")
	}
	if _, err := (tlsconf.Client{TrustCertPath: c.ClientKey}).Config(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("a key as trust bundle: %v", err)
	}
}
