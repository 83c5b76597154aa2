package remoting

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Client defaults (see ClientOptions).
const (
	DefaultDialTimeout       = 3 * time.Second
	DefaultClientMaxInflight = 64
)

// ErrClientClosed is returned by a Client's calls after Close.
var ErrClientClosed = errors.New("remoting: client closed")

// ClientOptions configures a Client. Zero values take the defaults.
type ClientOptions struct {
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
	// DialTimeout bounds each dial (DefaultDialTimeout), within the caller's ctx.
	DialTimeout time.Duration
	// MaxFrameSize is the largest frame length field accepted (DefaultMaxFrameSize).
	MaxFrameSize int
	// IdleTimeout closes a connection without traffic in either direction for this long
	// (DefaultIdleTimeout); negative: never. It also bounds each write, which has 1 to 1.5
	// times it to finish.
	IdleTimeout time.Duration
	// WriteQueue is the number of frames a connection queues for writing (DefaultWriteQueue).
	WriteQueue int
	// MaxInflight bounds the requests from servers whose Handler is running, per connection
	// (DefaultClientMaxInflight); more get SYSTEM_BUSY.
	MaxInflight int
	// Handler serves the requests servers send on the client's connections; nil answers
	// REQUEST_CODE_NOT_SUPPORTED. Its ctx ends when the connection or the client closes.
	Handler Handler
	// TLS, when set, makes every connection TLS with this configuration; an empty ServerName
	// is taken from each address's host. The handshake is bounded by DialTimeout.
	TLS *tls.Config
}

// Client invokes servers by address over one cached connection per address.
type Client struct {
	opts   ClientOptions
	cfg    connConfig
	ctx    context.Context // parent of every connection's ctx; cancelled by Close
	cancel context.CancelFunc
	track  sync.WaitGroup // every connection goroutine

	mu     sync.Mutex // guards the fields below
	closed bool
	conns  map[string]*dialing
}

// dialing is the connection of one address: ready is closed once the dial has ended with conn
// or err.
type dialing struct {
	ready      chan struct{}
	conn       *Conn
	err        error
	callerGone bool // the dial failed because the dialling caller's ctx ended
}

// NewClient returns a client.
func NewClient(opts ClientOptions) *Client {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	cl := &Client{opts: opts, conns: make(map[string]*dialing)}
	cl.ctx, cl.cancel = context.WithCancel(context.Background())
	cl.cfg = connConfig{
		logger:      opts.Logger,
		maxFrame:    opts.MaxFrameSize,
		idle:        opts.IdleTimeout,
		writeQueue:  opts.WriteQueue,
		maxInflight: opts.MaxInflight,
		handler:     opts.Handler,
		track:       &cl.track,
		workers:     newWorkers(cl.ctx.Done(), &cl.track),
		onClose:     cl.removeConn,
	}.withDefaults(DefaultClientMaxInflight)
	return cl
}

// Invoke sends req to addr and waits for the response (see Conn.Invoke).
func (cl *Client) Invoke(ctx context.Context, addr string, req *Command) (*Command, error) {
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	return c.Invoke(ctx, req)
}

// InvokeOneway sends req to addr as a oneway request (see Conn.InvokeOneway).
func (cl *Client) InvokeOneway(ctx context.Context, addr string, req *Command) error {
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		return err
	}
	return c.InvokeOneway(ctx, req)
}

// Conn returns the connection to addr, dialling it if there is none or it has closed.
// Concurrent first calls dial once and share its result (a caller whose own ctx is still live
// dials again if the dial failed because the dialling caller's ctx ended).
func (cl *Client) Conn(ctx context.Context, addr string) (*Conn, error) {
	for {
		cl.mu.Lock()
		if cl.closed {
			cl.mu.Unlock()
			return nil, ErrClientClosed
		}
		d := cl.conns[addr]
		if d == nil {
			d = &dialing{ready: make(chan struct{})}
			cl.conns[addr] = d
			cl.mu.Unlock()
			cl.dial(ctx, addr, d)
			return d.conn, d.err
		}
		cl.mu.Unlock()
		select {
		case <-d.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("remoting: connect %s: %w", addr, context.Cause(ctx))
		}
		if c := d.open(); c != nil {
			return c, nil
		}
		if d.err == nil {
			cl.forget(addr, d) // closed, not yet removed: dial again
			continue
		}
		if d.callerGone && ctx.Err() == nil {
			continue // the dialling caller's ctx ended, not ours: dial again
		}
		return nil, d.err
	}
}

// Open returns the open connection to addr, or nil when there is none: never dialled, being
// dialled, failed or closing (Conn dials it then). It never waits.
func (cl *Client) Open(addr string) *Conn {
	cl.mu.Lock()
	d := cl.conns[addr]
	cl.mu.Unlock()
	if d == nil {
		return nil
	}
	select {
	case <-d.ready:
		return d.open()
	default:
		return nil
	}
}

// open returns the connection of a finished dial if it succeeded and the connection is not
// closing, else nil.
func (d *dialing) open() *Conn {
	if d.err != nil {
		return nil
	}
	select {
	case <-d.conn.closing:
		return nil
	default:
		return d.conn
	}
}

// dial connects d to addr and closes d.ready. A failed dial is forgotten, so the next call
// dials again.
func (cl *Client) dial(ctx context.Context, addr string, d *dialing) {
	defer close(d.ready)
	dctx, cancel := context.WithTimeout(ctx, cl.opts.DialTimeout)
	defer cancel()
	var dialer net.Dialer
	nc, err := dialer.DialContext(dctx, "tcp", addr)
	if err != nil {
		d.err = fmt.Errorf("remoting: connect %s: %w", addr, err)
		d.callerGone = ctx.Err() != nil
		cl.forget(addr, d)
		return
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if cl.opts.TLS != nil {
		if nc, err = cl.handshake(dctx, nc, addr); err != nil {
			d.err = err
			d.callerGone = ctx.Err() != nil
			cl.forget(addr, d)
			return
		}
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		nc.Close()
		d.err = ErrClientClosed
		return
	}
	d.conn = newConn(cl.ctx, nc, &cl.cfg)
	d.conn.start() // under mu while open: Close has not started waiting
}

// handshake runs the TLS handshake on nc; nc is closed when it fails.
func (cl *Client) handshake(ctx context.Context, nc net.Conn, addr string) (net.Conn, error) {
	cfg := cl.opts.TLS
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("remoting: tls handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// forget removes d from the cache if it is still addr's entry.
func (cl *Client) forget(addr string, d *dialing) {
	cl.mu.Lock()
	if cl.conns[addr] == d {
		delete(cl.conns, addr)
	}
	cl.mu.Unlock()
}

// removeConn forgets a closed connection.
func (cl *Client) removeConn(c *Conn) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for addr, d := range cl.conns {
		if d.conn == c {
			delete(cl.conns, addr)
			return
		}
	}
}

// CloseConn closes the connection to addr, if any, and waits for its reader and writer.
func (cl *Client) CloseConn(addr string) {
	cl.mu.Lock()
	d := cl.conns[addr]
	delete(cl.conns, addr)
	cl.mu.Unlock()
	if d == nil {
		return
	}
	<-d.ready
	if d.conn != nil {
		d.conn.Close()
	}
}

// Close closes every connection and waits for all their goroutines, handlers included (the
// handlers' ctx is cancelled first). Later calls fail with ErrClientClosed.
func (cl *Client) Close() error {
	cl.mu.Lock()
	cl.closed = true
	ds := make([]*dialing, 0, len(cl.conns))
	for _, d := range cl.conns {
		ds = append(ds, d)
	}
	clear(cl.conns)
	cl.mu.Unlock()
	cl.cancel()
	for _, d := range ds {
		<-d.ready
		if d.conn != nil {
			d.conn.shutdown(nil)
		}
	}
	cl.track.Wait()
	return nil
}
