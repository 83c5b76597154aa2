package namesrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ternmq/tern/core/remoting"
)

// Server is a NameServer: a RouteInfo (or, with Config.Backend, a discovery backend) behind the
// remoting protocol, plus the loop that expires silent brokers.
//
// Goroutines: Start launches the remoting server's (owned and stopped by it) and the expiry
// loop; Close stops both and waits for them.
type Server struct {
	cfg    Config
	log    *slog.Logger
	routes *RouteInfo // nil with a backend
	reg    registry
	srv    *remoting.Server
	tlsErr error // reading the TLS files failed: Start returns it

	mu      sync.Mutex // guards the fields below
	started bool
	addr    net.Addr
	stop    chan struct{} // closed by Close
	loop    sync.WaitGroup
}

// New returns a NameServer configured by cfg; Start listens and serves. A nil logger
// discards.
func New(cfg Config, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: logger, stop: make(chan struct{})}
	if cfg.Backend != nil {
		s.reg = newBackendRegistry(cfg.Backend, logger)
	} else {
		s.routes = NewRouteInfo(RouteOptions{DeleteTopicWithBrokerRegistration: cfg.DeleteTopicWithBrokerRegistration})
		s.reg = memRegistry{s.routes}
	}
	m := remoting.NewMux()
	s.register(m)
	mode, tcfg, err := cfg.TLS.Server(false)
	if err != nil {
		mode, tcfg, s.tlsErr = remoting.TLSDisabled, nil, fmt.Errorf("namesrv: %w", err)
	}
	s.srv = remoting.NewServer(remoting.ServerOptions{
		Logger: logger, OnDisconnect: s.connClosed, MaxConnections: cfg.MaxConnections, TLS: tcfg, TLSMode: mode,
	}, m)
	return s
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// Routes returns the in-memory registry, or nil when a discovery backend holds the routes.
func (s *Server) Routes() *RouteInfo { return s.routes }

// Start validates the configuration, listens on ListenAddr and serves in the background until
// Close.
func (s *Server) Start() error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	if s.tlsErr != nil {
		return s.tlsErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("namesrv: already started")
	}
	select {
	case <-s.stop:
		return errors.New("namesrv: closed")
	default:
	}
	addr, err := s.srv.Listen(s.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("namesrv: %w", err)
	}
	s.started, s.addr = true, addr
	s.loop.Add(1)
	go s.expiryLoop()
	s.log.Info("namesrv listening", "addr", addr.String(), "backend", s.cfg.Backend != nil, "tls_mode", tlsModeName(s.cfg.TLS.Mode))
	return nil
}

// Addr returns the address listened on, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close stops serving, closes every connection and waits for the server's goroutines until
// ctx ends. It is idempotent.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	err := s.srv.Close(ctx)
	s.loop.Wait()
	return err
}

// expiryLoop runs ExpireBrokers every ScanNotActiveBrokerInterval until Close.
func (s *Server) expiryLoop() {
	defer s.loop.Done()
	t := time.NewTicker(s.cfg.ScanNotActiveBrokerInterval.D())
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.ExpireBrokers()
		}
	}
}

// ExpireBrokers removes the brokers that have not registered for their heartbeat timeout
// (REGISTER_BROKER's heartbeatTimeoutMillis, else BrokerChannelExpiredTime) and closes the
// connections they registered on, as RocketMQ does; with a backend, it unregisters them there.
// The expiry loop calls it; tests may too.
func (s *Server) ExpireBrokers() {
	ctx, cancel := context.WithTimeout(context.Background(), backendCallTimeout)
	defer cancel()
	for _, e := range s.reg.expire(ctx, s.now(), s.cfg.BrokerChannelExpiredTime.D()) {
		s.log.Warn("broker expired: no registration", "broker", e.Addr, "default_timeout", s.cfg.BrokerChannelExpiredTime.D())
		if c, ok := e.Conn.(*remoting.Conn); ok {
			c.Close()
		}
	}
}

// connClosed drops the brokers that registered on a connection that closed, unless the
// NameServer is closing: closing one of several NameServers sharing a backend must not
// unregister the brokers from all of them.
func (s *Server) connClosed(c *remoting.Conn) {
	select {
	case <-s.stop:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), backendCallTimeout)
	defer cancel()
	for _, addr := range s.reg.connClosed(ctx, c) {
		s.log.Info("broker connection closed: broker removed", "broker", addr, "remote", c.RemoteAddr())
	}
}

// tlsModeName names a tlsMode setting for the log ("disabled" when unset).
func tlsModeName(s string) string {
	m, _ := remoting.ParseTLSMode(s)
	return m.String()
}

// RefusedConns returns how many connections were refused over MaxConnections.
func (s *Server) RefusedConns() uint64 { return s.srv.RefusedConns() }
