package remoting

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Server defaults (see ServerOptions).
const (
	DefaultIdleTimeout        = 120 * time.Second // RocketMQ's serverChannelMaxIdleTimeSeconds
	DefaultWriteQueue         = 1024
	DefaultMaxInflightPerConn = 1024
	DefaultMaxInflight        = 4096
	DefaultMaxConnections     = 10000
	DefaultHandshakeTimeout   = 10 * time.Second
)

// ErrServerClosed is returned by Serve and Listen after Close.
var ErrServerClosed = errors.New("remoting: server closed")

// ServerOptions configures a Server. Zero values take the defaults.
type ServerOptions struct {
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
	// MaxFrameSize is the largest frame length field accepted (DefaultMaxFrameSize, 16 MiB). A
	// larger frame closes its connection.
	MaxFrameSize int
	// MaxInflightPerConn bounds the requests of one connection whose handlers are running
	// (DefaultMaxInflightPerConn); more get SYSTEM_BUSY at once. The default, as many as the
	// write queue holds, lets one asynchronous producer at 10,000 msgs/s ride out a 100 ms
	// stall of the broker (a synchronous flush on a busy disk); with 256 a 25 ms stall made it
	// fail sends. RocketMQ's broker queues up to 10,000 sends and refuses those that waited
	// 200 ms.
	MaxInflightPerConn int
	// MaxInflight bounds the requests of all connections whose handlers are running
	// (DefaultMaxInflight); more get SYSTEM_BUSY at once.
	MaxInflight int
	// IdleTimeout closes a connection without traffic in either direction for this long
	// (DefaultIdleTimeout); negative: never. It also bounds each write, which has 1 to 1.5
	// times it to finish.
	IdleTimeout time.Duration
	// WriteQueue is the number of frames a connection queues for writing (DefaultWriteQueue);
	// senders block while it is full.
	WriteQueue int
	// OnConnect is called with each accepted connection before its first request is served.
	OnConnect func(*Conn)
	// OnDisconnect is called once a connection has closed, from its reader goroutine.
	OnDisconnect func(*Conn)

	// MaxConnections bounds the open connections (DefaultMaxConnections); negative: no limit.
	// A connection over it is accepted, its first request answered SYSTEM_BUSY with
	// RemarkTooManyConnections, then closed; it is counted (RefusedConns) and logged at most
	// every 10 s.
	MaxConnections int
	// TLS is the server side of TLS listeners (certificates, client authentication); it must
	// be set for any TLSMode other than TLSDisabled.
	TLS *tls.Config
	// TLSMode is the mode of Listen and Serve (ListenMode and ServeMode choose per listener).
	TLSMode TLSMode
	// HandshakeTimeout bounds telling TLS from plaintext, the TLS handshake and the answer to a
	// refused connection (DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
}

// Server accepts connections and serves their requests with one Handler.
type Server struct {
	opts   ServerOptions
	cfg    connConfig
	log    *slog.Logger
	ctx    context.Context // parent of every connection's ctx; cancelled by Close
	cancel context.CancelFunc
	track  sync.WaitGroup // accept loops and every connection goroutine

	mu        sync.Mutex // guards the fields below
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	pending   map[net.Conn]bool // accepted, not yet started: true if being refused
	refusing  int               // the pending being refused

	maxConns     int           // <= 0: no limit
	handshake    time.Duration // HandshakeTimeout
	refused      atomic.Uint64
	refuseLog    rateLog
	handshakeLog rateLog
}

// NewServer returns a server that serves requests with h (nil: every request gets
// REQUEST_CODE_NOT_SUPPORTED).
func NewServer(opts ServerOptions, h Handler) *Server {
	if opts.MaxInflight <= 0 {
		opts.MaxInflight = DefaultMaxInflight
	}
	if opts.MaxConnections == 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	s := &Server{
		opts:         opts,
		listeners:    make(map[net.Listener]struct{}),
		conns:        make(map[*Conn]struct{}),
		pending:      make(map[net.Conn]bool),
		maxConns:     opts.MaxConnections,
		handshake:    opts.HandshakeTimeout,
		refuseLog:    rateLog{interval: 10 * time.Second},
		handshakeLog: rateLog{interval: 10 * time.Second},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cfg = connConfig{
		logger:      opts.Logger,
		maxFrame:    opts.MaxFrameSize,
		idle:        opts.IdleTimeout,
		writeQueue:  opts.WriteQueue,
		maxInflight: opts.MaxInflightPerConn,
		global:      make(chan struct{}, opts.MaxInflight),
		handler:     h,
		track:       &s.track,
		workers:     newWorkers(s.ctx.Done(), &s.track),
		onClose:     s.removeConn,
	}.withDefaults(DefaultMaxInflightPerConn)
	s.log = s.cfg.logger
	return s
}

// Listen listens on addr ("127.0.0.1:0" picks a free port) in ServerOptions.TLSMode and serves
// it in the background until Close. It returns the address listened on.
func (s *Server) Listen(addr string) (net.Addr, error) { return s.ListenMode(addr, s.opts.TLSMode) }

// ListenMode is Listen with the listener's own TLS mode: one server may listen plaintext on one
// address and TLS on another.
func (s *Server) ListenMode(addr string, mode TLSMode) (net.Addr, error) {
	if mode != TLSDisabled && s.opts.TLS == nil {
		return nil, errNoTLSConfig
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("remoting: listen: %w", err)
	}
	if err := s.addListener(ln); err != nil {
		ln.Close()
		return nil, err
	}
	go func() {
		defer s.track.Done()
		if err := s.accept(ln, mode); err != nil && !errors.Is(err, ErrServerClosed) {
			s.log.Error("remoting: accept failed, no longer listening", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return ln.Addr(), nil
}

// Serve accepts connections on ln in ServerOptions.TLSMode until Close, then returns
// ErrServerClosed, or until ln fails. It closes ln.
func (s *Server) Serve(ln net.Listener) error { return s.ServeMode(ln, s.opts.TLSMode) }

// ServeMode is Serve with the listener's own TLS mode.
func (s *Server) ServeMode(ln net.Listener, mode TLSMode) error {
	if mode != TLSDisabled && s.opts.TLS == nil {
		ln.Close()
		return errNoTLSConfig
	}
	if err := s.addListener(ln); err != nil {
		ln.Close()
		return err
	}
	defer s.track.Done()
	return s.accept(ln, mode)
}

// addListener registers ln and counts its accept loop in track.
func (s *Server) addListener(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.track.Add(1)
	return nil
}

// accept runs the accept loop of ln. Temporary errors (out of file descriptors) back off from
// 5 ms up to 1 s, as net/http does.
func (s *Server) accept(ln net.Listener, mode TLSMode) error {
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("remoting: accept failed, retrying", "err", err, "backoff", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-s.ctx.Done():
					t.Stop()
				}
				continue
			}
			return fmt.Errorf("remoting: accept: %w", err)
		}
		backoff = 0
		s.admit(nc, mode)
	}
}

// isTemporary reports errors worth retrying Accept after (EMFILE and the like).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// startConn serves nc; raw, when not nil, is the accepted connection nc wraps, which leaves
// pending. The caller is counted in track.
func (s *Server) startConn(nc, raw net.Conn) {
	s.mu.Lock()
	if raw != nil {
		delete(s.pending, raw)
	}
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	c := newConn(s.ctx, nc, &s.cfg)
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.log.Debug("remoting: connection accepted", "remote", c.RemoteAddr())
	if s.opts.OnConnect != nil {
		s.opts.OnConnect(c)
	}
	c.start() // the accept loop is counted in track
}

func (s *Server) removeConn(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if s.opts.OnDisconnect != nil {
		s.opts.OnDisconnect(c)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Conns returns a snapshot of the open connections.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Close stops accepting, closes every connection, cancels the handlers' ctx and waits for every
// goroutine of the server until ctx ends (a handler that ignores its ctx is then left running
// and Close returns ctx's error). Close is idempotent.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for nc := range s.pending {
		nc.Close() // its prepare goroutine fails and returns
	}
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel()
	for _, c := range conns {
		c.shutdown(nil)
	}
	return waitGroup(ctx, &s.track)
}

// waitGroup waits for wg until ctx ends.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("remoting: close: %w", context.Cause(ctx))
	}
}
