package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/ternmq/tern/core/remoting"
)

// listeners is the broker's remoting ports: listenAddr in tlsMode, and tlsListenAddr (TLS
// only) when configured, with what the remoting server needs to serve them.
type listeners struct {
	main, tls net.Listener // tls nil without tlsListenAddr
	mode      remoting.TLSMode
	config    *tls.Config // nil when no port serves TLS
	namesrv   *tls.Config // the NameServer client's, nil for plaintext
}

// openListeners reads the TLS files and listens on the broker's ports.
func openListeners(cfg *Config) (*listeners, error) {
	mode, tcfg, err := cfg.TLS.Server(cfg.TLSListenAddr != "")
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	ls := &listeners{mode: mode, config: tcfg}
	if cfg.NamesrvTLSEnable {
		if ls.namesrv, err = cfg.NamesrvTLS.Config(); err != nil {
			return nil, fmt.Errorf("broker: namesrvTLSEnable: %w", err)
		}
	}
	if ls.main, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
		return nil, fmt.Errorf("broker: listen %s: %w", cfg.ListenAddr, err)
	}
	if cfg.TLSListenAddr != "" {
		if ls.tls, err = net.Listen("tcp", cfg.TLSListenAddr); err != nil {
			ls.main.Close()
			return nil, fmt.Errorf("broker: listen %s (tlsListenAddr): %w", cfg.TLSListenAddr, err)
		}
	}
	return ls, nil
}

// serverOptions sets the connection limit and TLS of the remoting server.
func (ls *listeners) serverOptions(cfg *Config, opts remoting.ServerOptions) remoting.ServerOptions {
	opts.MaxConnections = cfg.MaxConnections
	opts.TLS, opts.TLSMode = ls.config, ls.mode
	return opts
}

// Close closes the ports not yet served (Serve closes the others).
func (ls *listeners) Close() {
	ls.main.Close()
	if ls.tls != nil {
		ls.tls.Close()
	}
}

// serve serves every port until the server closes; it runs in b.wg.
func (b *Broker) serve(ls *listeners) {
	serve := func(ln net.Listener, mode remoting.TLSMode) {
		defer b.wg.Done()
		if err := b.server.ServeMode(ln, mode); err != nil && !errors.Is(err, remoting.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			b.log.Error("remoting server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}
	b.wg.Add(1)
	go serve(ls.main, ls.mode)
	if ls.tls != nil {
		b.wg.Add(1)
		go serve(ls.tls, remoting.TLSEnforcing)
	}
}

// TLSAddr returns the address of the TLS-only port (tlsListenAddr), or "" without one.
func (b *Broker) TLSAddr() string {
	if b.ls.tls == nil {
		return ""
	}
	return b.ls.tls.Addr().String()
}

// RefusedConns returns how many connections were refused over maxConnections.
func (b *Broker) RefusedConns() uint64 { return b.server.RefusedConns() }
