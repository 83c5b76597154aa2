// Package tlstest makes throwaway certificates for tests: a CA, a server certificate for
// 127.0.0.1 and localhost and a client certificate signed by it, and a second, unrelated CA
// with its own client certificate, written as PEM files to a test's temporary directory.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs are the files of one set of test certificates.
type Certs struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
	// OtherCA signs OtherClientCert; it is trusted by nothing.
	OtherCA, OtherClientCert, OtherClientKey string
}

// New writes a fresh set of certificates to t.TempDir().
func New(t testing.TB) *Certs {
	t.Helper()
	dir := t.TempDir()
	c := &Certs{}
	ca, caKey := authority(t, "tern test CA")
	other, otherKey := authority(t, "unrelated CA")
	c.CA = writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	c.OtherCA = writePEM(t, dir, "other-ca.pem", "CERTIFICATE", other.Raw)
	c.ServerCert, c.ServerKey = leaf(t, dir, "server", ca, caKey, x509.ExtKeyUsageServerAuth)
	c.ClientCert, c.ClientKey = leaf(t, dir, "client", ca, caKey, x509.ExtKeyUsageClientAuth)
	c.OtherClientCert, c.OtherClientKey = leaf(t, dir, "other-client", other, otherKey, x509.ExtKeyUsageClientAuth)
	return c
}

// ClientConfig returns a client configuration trusting the CA, with the client certificate
// when withCert.
func (c *Certs) ClientConfig(t testing.TB, withCert bool) *tls.Config {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.pool(t, c.CA)}
	if withCert {
		pair, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			t.Fatalf("tlstest: client pair: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

func template(cn string) *x509.Certificate {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
}

func authority(t testing.TB, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := newKey(t)
	tmpl := template(cn)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("tlstest: create CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: parse CA: %v", err)
	}
	return cert, key
}

// leaf writes a certificate for 127.0.0.1 and localhost signed by ca, and its key.
func leaf(t testing.TB, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage) (certPath, keyPath string) {
	t.Helper()
	key := newKey(t)
	tmpl := template("tern " + name)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	tmpl.DNSNames = []string{"localhost"}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("tlstest: create %s certificate: %v", name, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("tlstest: marshal %s key: %v", name, err)
	}
	return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "PRIVATE KEY", kder)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: generate key: %v", err)
	}
	return key
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("tlstest: write %s: %v", name, err)
	}
	return path
}

// ServerConfig returns a server configuration with the server certificate, verifying client
// certificates against the CA as auth says.
func (c *Certs) ServerConfig(t testing.TB, auth tls.ClientAuthType) *tls.Config {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(c.ServerCert, c.ServerKey)
	if err != nil {
		t.Fatalf("tlstest: server pair: %v", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, ClientAuth: auth, ClientCAs: c.pool(t, c.CA)}
}

// OtherClientConfig returns a client configuration trusting the CA that presents the
// unrelated CA's client certificate.
func (c *Certs) OtherClientConfig(t testing.TB) *tls.Config {
	t.Helper()
	cfg := c.ClientConfig(t, false)
	pair, err := tls.LoadX509KeyPair(c.OtherClientCert, c.OtherClientKey)
	if err != nil {
		t.Fatalf("tlstest: other client pair: %v", err)
	}
	cfg.Certificates = []tls.Certificate{pair}
	return cfg
}

// WrongCAConfig returns a client configuration that trusts only the unrelated CA.
func (c *Certs) WrongCAConfig(t testing.TB) *tls.Config {
	t.Helper()
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.pool(t, c.OtherCA)}
}

func (c *Certs) pool(t testing.TB, path string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	b, err := os.ReadFile(path)
	if err != nil || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("tlstest: read %s: %v", path, err)
	}
	return pool
}
