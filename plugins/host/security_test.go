package host

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ternmq/tern/sdk/plugin"
)

// TestChecksumPinnedAcrossRestarts: the checksum is checked at every launch, not only the
// first. An executable replaced while its plugin runs is refused when the process must be
// started again, and the replacement never runs.
func TestChecksumPinnedAcrossRestarts(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "pinned")
	orig, err := os.ReadFile(testfilter)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, orig, 0o755); err != nil {
		t.Fatal(err)
	}
	p := external("pinned", nil)
	p.Command = exe
	opts := testOptions(newRecorder())
	opts.HealthInterval = 20 * time.Millisecond
	h, err := start(t, opts, p)
	if err != nil {
		t.Fatal(err)
	}
	first := pid(t, stats(t, h, "pinned"))

	// Replace the executable (as an attacker or a botched deploy would), then kill the
	// process: the supervisor must not start what is there now.
	changed := append(slices.Clone(orig), []byte("tampered")...)
	tmp := exe + ".new"
	if err := os.WriteFile(tmp, changed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, exe); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitFor(ctx(t), "pinned", func(s PluginStats) bool { return s.State == StateRefused }); err != nil {
		t.Fatalf("%v: %+v", err, stats(t, h, "pinned"))
	}
	s := stats(t, h, "pinned")
	if !strings.Contains(s.Err, "checksum mismatch") || s.SHA256 != checksumOf(changed) || s.Restarts != 0 {
		t.Fatalf("after the executable changed: %+v", s)
	}
	f, _ := h.Filter("TEST")
	if _, err := f.Match(ctx(t), sub("TEST", "a"), msgs("a")); !errors.Is(err, plugin.ErrUnavailable) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("Match on the refused plugin: %v", err)
	}
}

// TestAutoMTLS: the plugin is started with go-plugin's automatic mutual TLS. It receives the
// host's client certificate (PLUGIN_CLIENT_CERT), and its gRPC server, reachable by anyone
// who can open its socket, answers neither a plaintext client nor a TLS client without the
// host's certificate, while the host's own calls succeed.
func TestAutoMTLS(t *testing.T) {
	h, err := start(t, testOptions(newRecorder()), external("mtls", nil))
	if err != nil {
		t.Fatal(err)
	}
	s := stats(t, h, "mtls")
	_, env, _ := strings.Cut(s.Version, ";env=")
	env, _, _ = strings.Cut(env, ";")
	if !slices.Contains(strings.Split(env, ","), "PLUGIN_CLIENT_CERT") {
		t.Fatalf("the plugin was not given a client certificate to trust: env %q", env)
	}
	f, _ := h.Filter("TEST")
	if got, err := f.Match(ctx(t), sub("TEST", "a"), msgs("a", "b")); err != nil || !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("the host's call over mTLS: %v %v", got, err)
	}

	var addr net.Addr
	for _, in := range h.plugins {
		if in.spec.Name == "mtls" {
			in.mu.Lock()
			if rc := in.client.ReattachConfig(); rc != nil {
				addr = rc.Addr
			}
			in.mu.Unlock()
		}
	}
	if addr == nil {
		t.Fatal("no address for the plugin's process")
	}
	check := func(creds credentials.TransportCredentials) error {
		conn, err := grpc.NewClient("passthrough:///plugin", grpc.WithTransportCredentials(creds),
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, addr.Network(), addr.String())
			}))
		if err != nil {
			return err
		}
		defer conn.Close()
		c, cancel := context.WithTimeout(ctx(t), 3*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(c, &healthpb.HealthCheckRequest{Service: "plugin"})
		return err
	}
	if err := check(insecure.NewCredentials()); err == nil {
		t.Error("the plugin answered a plaintext client")
	}
	if err := check(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})); err == nil {
		t.Error("the plugin answered a TLS client without a certificate")
	}
	stranger := selfSigned(t)
	if err := check(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{stranger}})); err == nil {
		t.Error("the plugin answered a TLS client with a certificate the host did not give it")
	}
	if s := stats(t, h, "mtls"); s.State != StateUp {
		t.Fatalf("the plugin after the refused connections: %+v", s)
	}
}

// selfSigned returns a client certificate nobody trusts.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
