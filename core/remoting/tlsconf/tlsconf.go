// Package tlsconf builds the crypto/tls configurations of remoting servers and clients from
// PEM files, with RocketMQ's setting names: tlsServerCertPath, tlsServerKeyPath,
// tlsServerTrustCertPath and tlsServerNeedClientAuth on the server side; a trust path and an
// optional certificate pair on the client side.
//
// A server's certificate pair is read when the configuration is built (so a bad file is an
// error at start) and again on a handshake after either file's size or modification time has
// changed: replacing the files rotates the certificate without a restart. A pair that fails to
// load then keeps the previous one serving. The CA bundle is read once.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ternmq/tern/core/remoting"
)

// Server is the server side's files.
type Server struct {
	// CertPath and KeyPath are the server's PEM certificate chain and key (required).
	CertPath, KeyPath string
	// TrustCertPath is a PEM bundle of the CAs that client certificates are verified against;
	// needed by ClientAuth optional and require.
	TrustCertPath string
	// ClientAuth is none (the default), optional (a certificate, if sent, must verify) or
	// require (a client without a verified certificate fails the handshake).
	ClientAuth string
}

// ParseClientAuth reads none, optional or require ("" is none).
func ParseClientAuth(s string) (tls.ClientAuthType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return tls.NoClientCert, nil
	case "optional":
		return tls.VerifyClientCertIfGiven, nil
	case "require":
		return tls.RequireAndVerifyClientCert, nil
	}
	return tls.NoClientCert, fmt.Errorf("tlsconf: tlsServerNeedClientAuth %q: want none, optional or require", s)
}

// Config returns the server configuration (TLS 1.2 and later).
func (s Server) Config() (*tls.Config, error) {
	if s.CertPath == "" || s.KeyPath == "" {
		return nil, errors.New("tlsconf: tlsServerCertPath and tlsServerKeyPath must both be set")
	}
	auth, err := ParseClientAuth(s.ClientAuth)
	if err != nil {
		return nil, err
	}
	if auth != tls.NoClientCert && s.TrustCertPath == "" {
		return nil, fmt.Errorf("tlsconf: tlsServerNeedClientAuth %s needs tlsServerTrustCertPath", s.ClientAuth)
	}
	pair := &pairCache{certPath: s.CertPath, keyPath: s.KeyPath}
	if err := pair.load(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		ClientAuth:     auth,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return pair.get(), nil },
	}
	if s.TrustCertPath != "" {
		if cfg.ClientCAs, err = loadPool(s.TrustCertPath); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// Client is the client side's files.
type Client struct {
	// TrustCertPath is a PEM bundle of the CAs that server certificates are verified against;
	// empty: the system's roots.
	TrustCertPath string `yaml:"tlsClientTrustCertPath"`
	// CertPath and KeyPath are the client's certificate pair for servers that ask for one
	// (both or neither).
	CertPath string `yaml:"tlsClientCertPath"`
	KeyPath  string `yaml:"tlsClientKeyPath"`
	// ServerName is the name the server certificate must carry; empty: the host dialled.
	ServerName string `yaml:"tlsClientServerName"`
}

// Config returns the client configuration (TLS 1.2 and later).
func (c Client) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	var err error
	if c.TrustCertPath != "" {
		if cfg.RootCAs, err = loadPool(c.TrustCertPath); err != nil {
			return nil, err
		}
	}
	if (c.CertPath == "") != (c.KeyPath == "") {
		return nil, errors.New("tlsconf: a client certificate needs both its certificate and key files")
	}
	if c.CertPath != "" {
		pair, err := tls.LoadX509KeyPair(c.CertPath, c.KeyPath)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: trust certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tlsconf: trust certificates: no PEM certificate in %s", path)
	}
	return pool, nil
}

// pairCache is a certificate pair reloaded when its files change.
type pairCache struct {
	certPath, keyPath string

	mu    sync.Mutex // guards the fields below
	stamp [2]fileStamp
	pair  *tls.Certificate
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.Size(), fi.ModTime()}
}

// load reads the pair unconditionally.
func (p *pairCache) load() error {
	stamp := [2]fileStamp{stampOf(p.certPath), stampOf(p.keyPath)}
	pair, err := tls.LoadX509KeyPair(p.certPath, p.keyPath)
	if err != nil {
		return fmt.Errorf("tlsconf: server certificate: %w", err)
	}
	p.mu.Lock()
	p.pair, p.stamp = &pair, stamp
	p.mu.Unlock()
	return nil
}

// get returns the pair, reloaded first if a file changed since it was read.
func (p *pairCache) get() *tls.Certificate {
	stamp := [2]fileStamp{stampOf(p.certPath), stampOf(p.keyPath)}
	p.mu.Lock()
	changed := stamp != p.stamp
	p.mu.Unlock()
	if changed {
		_ = p.load() // keep serving the previous pair when the new one does not load
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pair
}

// Listener is the TLS settings of a broker's or NameServer's remoting port, with RocketMQ's
// key names; it is inlined in their configurations.
type Listener struct {
	// Mode is the port's tlsMode: disabled (the default), permissive (TLS and plaintext on
	// one port) or enforcing (TLS only).
	Mode           string `yaml:"tlsMode"`
	CertPath       string `yaml:"tlsServerCertPath"`
	KeyPath        string `yaml:"tlsServerKeyPath"`
	TrustCertPath  string `yaml:"tlsServerTrustCertPath"`
	NeedClientAuth string `yaml:"tlsServerNeedClientAuth"` // none, optional or require
}

// Validate checks the settings without reading the files; needTLS says whether some listener
// serves TLS whatever the mode says (a dedicated TLS port).
func (l Listener) Validate(needTLS bool) error {
	mode, err := remoting.ParseTLSMode(l.Mode)
	if err != nil {
		return err
	}
	if _, err := ParseClientAuth(l.NeedClientAuth); err != nil {
		return err
	}
	if (mode != remoting.TLSDisabled || needTLS) && (l.CertPath == "" || l.KeyPath == "") {
		return fmt.Errorf("tlsconf: tlsMode %s needs tlsServerCertPath and tlsServerKeyPath", mode)
	}
	return nil
}

// Server returns the mode and, when it is not disabled or needTLS, the configuration built
// from the files (nil otherwise).
func (l Listener) Server(needTLS bool) (remoting.TLSMode, *tls.Config, error) {
	if err := l.Validate(needTLS); err != nil {
		return remoting.TLSDisabled, nil, err
	}
	mode, _ := remoting.ParseTLSMode(l.Mode)
	if mode == remoting.TLSDisabled && !needTLS {
		return mode, nil, nil
	}
	cfg, err := Server{CertPath: l.CertPath, KeyPath: l.KeyPath, TrustCertPath: l.TrustCertPath, ClientAuth: l.NeedClientAuth}.Config()
	return mode, cfg, err
}
