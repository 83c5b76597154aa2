package remoting

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrConnClosed is the error of a call on a closed connection, and of an Invoke whose
// connection closed before the response came. The errors wrap it, and the cause when known.
var ErrConnClosed = errors.New("remoting: connection closed")

// errIdle is the cause of a connection closed after IdleTimeout without traffic.
var errIdle = errors.New("remoting: idle timeout")

// busyRemark is the remark of the SYSTEM_BUSY answer to a request over an in-flight limit.
const busyRemark = "[OVERLOAD] system busy, too many requests in flight, start flow control for a while"

// connConfig is what a Conn gets from its owner, a Server or a Client. The owner's track counts
// every goroutine of the connection (reader, writer, handlers), so that the owner can wait for
// them all.
type connConfig struct {
	logger      *slog.Logger
	maxFrame    int
	idle        time.Duration // <= 0: never closed for idleness
	writeQueue  int
	maxInflight int           // requests running handlers on one connection
	global      chan struct{} // in-flight slots shared by the owner's connections; nil: none
	handler     Handler
	track       *sync.WaitGroup
	workers     *workers    // run the handlers
	onClose     func(*Conn) // called once, from the reader goroutine, after Done is closed
}

// withDefaults returns cfg with zero values replaced by the defaults (maxInflight by
// defaultInflight).
func (cfg connConfig) withDefaults(defaultInflight int) connConfig {
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.maxFrame <= 0 {
		cfg.maxFrame = DefaultMaxFrameSize
	}
	if cfg.idle == 0 {
		cfg.idle = DefaultIdleTimeout
	}
	if cfg.writeQueue <= 0 {
		cfg.writeQueue = DefaultWriteQueue
	}
	if cfg.maxInflight <= 0 {
		cfg.maxInflight = defaultInflight
	}
	if cfg.handler == nil {
		cfg.handler = NewMux() // answers every code REQUEST_CODE_NOT_SUPPORTED
	}
	return cfg
}

// Conn is one TCP connection, client or server side alike: both sides may send requests on it.
// See the package doc for its goroutines and queues.
type Conn struct {
	nc         net.Conn
	cfg        *connConfig
	log        *slog.Logger
	remote     string
	local      string
	ctx        context.Context // the handlers'; cancelled when the connection closes
	cancel     context.CancelFunc
	queue      chan outFrame   // the bounded write queue
	inflight   chan struct{}   // per-connection in-flight slots
	closing    chan struct{}   // closed when the connection starts closing
	writerDone chan struct{}   // closed when the writer has exited
	done       chan struct{}   // closed when reader and writer have exited
	opaque     atomic.Int32    // the last opaque given to a request
	lastIO     atomic.Int64    // unix nanoseconds of the last read or write
	raw        syscall.RawConn // the TCP socket's, for writeNow; nil for other connections (TLS)
	queued     atomic.Int64    // frames in the write queue, and a head, not yet written
	direct     atomic.Int32    // frames writeNow wrote (for the tests)
	partial    atomic.Int32    // how many times writeNow left a head (for the tests)

	// wmu serializes the writes to the socket (the writer goroutine's and writeNow's) and
	// guards the fields below.
	wmu           sync.Mutex
	writeDeadline time.Time   // the socket's write deadline
	bufs          net.Buffers // the buffers of one writev
	head          []byte      // what writeNow could not write: the writer writes it first

	mu       sync.Mutex // guards the fields below
	closed   bool
	cause    error           // why the connection closed; nil if closed by Close
	pending  map[int32]*call // Invokes waiting for their response, by opaque
	answered int             // responses the reader handed to their calls since the last push
	values   map[any]any
	enqueues sync.WaitGroup // enqueue calls in progress; Add only under mu while !closed
}

// newConn returns the Conn of nc; start starts it.
func newConn(ctx context.Context, nc net.Conn, cfg *connConfig) *Conn {
	c := &Conn{
		nc:         nc,
		cfg:        cfg,
		remote:     nc.RemoteAddr().String(),
		local:      nc.LocalAddr().String(),
		queue:      make(chan outFrame, cfg.writeQueue),
		inflight:   make(chan struct{}, cfg.maxInflight),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
		done:       make(chan struct{}),
		pending:    make(map[int32]*call),
	}
	c.log = cfg.logger.With("remote", c.remote)
	if tc, ok := writeTarget(nc).(*net.TCPConn); ok {
		c.raw, _ = tc.SyscallConn() // nil on failure: every frame goes through the writer
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	return c
}

// start starts the reader and writer; the caller must hold the right to Add to cfg.track (its
// own goroutine is counted there, or it holds the owner's lock while the owner is open).
func (c *Conn) start() {
	now := time.Now()
	c.lastIO.Store(now.UnixNano())
	if c.cfg.idle > 0 {
		c.nc.SetReadDeadline(now.Add(c.cfg.idle)) // moved by connReader when it fires
	}
	c.cfg.track.Add(2)
	go c.writeLoop()
	go c.readLoop()
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() string { return c.remote }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() string { return c.local }

// Done is closed once the connection is closed and its reader and writer have exited.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection closed: nil while open or after Close, else the read or write
// error, or the idle timeout.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// SetValue attaches v to the connection under key (nil v removes it); the broker tags a
// connection with its client's id this way. Keys follow the context.WithValue conventions.
func (c *Conn) SetValue(key, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v == nil {
		delete(c.values, key)
		return
	}
	if c.values == nil {
		c.values = make(map[any]any)
	}
	c.values[key] = v
}

// Value returns the value attached under key, or nil.
func (c *Conn) Value(key any) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.values[key]
}

// Close closes the connection and waits for its reader and writer; pending Invokes fail with
// ErrConnClosed, queued commands are dropped, handlers see their ctx cancelled (the owner waits
// for them). Close is idempotent and may be called from a handler.
func (c *Conn) Close() error {
	c.shutdown(nil)
	<-c.done
	return nil
}

// shutdown starts closing the connection for cause (nil: closed locally) without waiting.
func (c *Conn) shutdown(cause error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.cause = cause
	for op, k := range c.pending {
		delete(c.pending, op)
		k.done <- closedResp
	}
	c.mu.Unlock()
	close(c.closing)
	c.cancel()
	c.nc.Close()
}

// closedErr returns the error of a call on the closed connection.
func (c *Conn) closedErr() error {
	c.mu.Lock()
	cause := c.cause
	c.mu.Unlock()
	if cause == nil {
		return fmt.Errorf("%w: %s", ErrConnClosed, c.remote)
	}
	return fmt.Errorf("%w: %s: %w", ErrConnClosed, c.remote, cause)
}

// Invoke sends req and waits for its response. It sets req's opaque and clears its response and
// oneway flags. It fails when ctx ends (the error wraps ctx's) or the connection closes (the
// error wraps ErrConnClosed); a late response is then dropped. A non-success response code is
// not an error here: see ResponseErr.
func (c *Conn) Invoke(ctx context.Context, req *Command) (*Command, error) {
	return c.InvokeStop(ctx, nil, req)
}

// ErrStopped is the error of an InvokeStop whose stop channel closed first.
var ErrStopped = errors.New("remoting: invoke stopped")

// InvokeStop is Invoke that also gives up when stop closes (a nil stop never does), with an
// error wrapping ErrStopped: a client that closes ends its calls in flight this way without a
// context per call.
func (c *Conn) InvokeStop(ctx context.Context, stop <-chan struct{}, req *Command) (*Command, error) {
	return c.InvokeUntil(ctx, stop, time.Time{}, req)
}

// InvokeUntil is InvokeStop that also gives up at deadline (the zero time never does), with an
// error wrapping context.DeadlineExceeded, while the request waits for room in the write queue
// or for its response; a request whose deadline has passed is not sent. It bounds a call by a
// timeout without a context of its own per call (and that context's timer and allocations):
// a recycled timer hands the call its timeout as the reader would its response (see call).
func (c *Conn) InvokeUntil(ctx context.Context, stop <-chan struct{}, deadline time.Time, req *Command) (*Command, error) {
	req.Flag &^= FlagResponse | FlagOneway
	var left time.Duration
	if !deadline.IsZero() {
		if left = time.Until(deadline); left <= 0 {
			releaseCmd(req)
			return nil, fmt.Errorf("remoting: invoke code %d on %s: deadline passed before sending: %w", req.Code, c.remote, context.DeadlineExceeded)
		}
	}
	k := calls.Get().(*call)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		calls.Put(k)
		releaseCmd(req)
		return nil, c.closedErr()
	}
	op := c.opaque.Add(1)
	for c.pending[op] != nil { // only after 2^32 requests, around a stuck one
		op = c.opaque.Add(1)
	}
	req.Opaque = op
	k.c, k.op = c, op
	c.pending[op] = k
	c.mu.Unlock()
	if left > 0 {
		k.armed = true
		k.timer.Reset(left) // before the request is queued, so before any response
	}

	if err := c.push(ctx, deadline, req, pushWait); err != nil {
		k.abandon()
		return nil, err
	}
	var resp *Command
	if done := ctx.Done(); done == nil && stop == nil {
		resp = <-k.done
	} else {
		select {
		case resp = <-k.done:
		case <-done:
			k.abandon()
			return nil, fmt.Errorf("remoting: invoke code %d on %s: %w", req.Code, c.remote, context.Cause(ctx))
		case <-stop:
			k.abandon()
			return nil, fmt.Errorf("%w: code %d on %s", ErrStopped, req.Code, c.remote)
		}
	}
	switch resp {
	case expiredResp: // k's timer has run: k is left to the collector
		return nil, fmt.Errorf("remoting: invoke code %d on %s: no response in time: %w", req.Code, c.remote, context.DeadlineExceeded)
	case closedResp:
		k.stop()
		return nil, c.closedErr()
	}
	k.stop()
	return resp, nil
}

// call is one Invoke waiting for its response. Whoever removes it from its connection's
// pending map first hands it its one outcome on done: the reader the response, the deadline's
// timer expiredResp, the connection's shutdown closedResp. The caller so waits on one channel,
// without a select over a timer's channel and the connection's: that select was about a tenth
// of a producer's CPU.
type call struct {
	c     *Conn
	op    int32
	done  chan *Command // buffered for the one outcome
	timer *time.Timer   // runs expire at the deadline
	armed bool          // the timer was set for this call
}

// expiredResp and closedResp are the outcomes of a call that timed out and of one whose
// connection closed; neither is ever sent on the wire.
var expiredResp, closedResp = new(Command), new(Command)

// calls recycles calls with their channel and timer. A call goes back only through stop, once
// it is out of pending with its outcome taken (or none to come) and its timer can no longer
// run: nothing can send on it or read it again. Any other call is left to the collector, since
// the reader, the shutdown or the timer may still hold it.
var calls = sync.Pool{New: func() any {
	k := &call{done: make(chan *Command, 1)}
	k.timer = time.AfterFunc(time.Hour, k.expire)
	k.timer.Stop()
	return k
}}

// expire hands k expiredResp if it still waits for its response.
func (k *call) expire() {
	if k.c.forget(k) {
		k.done <- expiredResp
	}
}

// abandon takes k, given up by its caller, out of pending, and recycles it unless someone
// else took it out first (and may still hand it an outcome).
func (k *call) abandon() {
	if k.c.forget(k) {
		k.stop()
	}
}

// stop recycles k, which is out of pending with no outcome left in done, unless its timer has
// run or is running: expire may still read k.
func (k *call) stop() {
	if k.armed && !k.timer.Stop() {
		return
	}
	k.c, k.armed = nil, false
	calls.Put(k)
}

// InvokeOneway sends req with the oneway flag and its own opaque; no response is expected. It
// returns once req is queued for writing.
func (c *Conn) InvokeOneway(ctx context.Context, req *Command) error {
	req.Flag = req.Flag&^FlagResponse | FlagOneway
	req.Opaque = c.opaque.Add(1)
	return c.enqueue(ctx, req)
}

// Send queues resp, a response made with NewResponse for a request the handler kept (a long
// poll), and returns without waiting for the write. It sets the response flag. When the write
// queue is full it blocks until there is room or the connection closes; a peer that stops
// reading closes the connection within 1.5 IdleTimeout, so the wait is bounded.
func (c *Conn) Send(resp *Command) error {
	resp.Flag |= FlagResponse
	return c.enqueue(context.Background(), resp)
}

// forget removes k from the pending calls and reports whether it was there: only then may the
// caller hand k its outcome.
func (c *Conn) forget(k *call) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[k.op] != k {
		return false
	}
	delete(c.pending, k.op)
	return true
}

// readLoop reads frames until the connection fails or closes, hands responses to their Invoke
// and requests to the handler, then closes the connection and calls the owner's onClose.
func (c *Conn) readLoop() {
	defer c.cfg.track.Done()
	fr := NewFrameReader(connReader{c}, c.cfg.maxFrame)
	var err error
	for {
		var cmd *Command
		if cmd, err = fr.Read(); err != nil {
			break
		}
		if cmd.IsResponse() {
			c.deliver(cmd)
		} else {
			c.dispatch(cmd)
		}
	}
	c.logReadErr(err)
	if errors.Is(err, io.EOF) {
		err = io.EOF // closed by the peer between frames
	}
	c.shutdown(err)
	<-c.writerDone
	close(c.done)
	if c.cfg.onClose != nil {
		c.cfg.onClose(c)
	}
}

func (c *Conn) logReadErr(err error) {
	c.mu.Lock()
	local := c.closed && c.cause == nil
	c.mu.Unlock()
	switch {
	case local:
		c.log.Debug("remoting: connection closed")
	case errors.Is(err, ErrBadFrame), errors.Is(err, ErrFrameTooLarge):
		c.log.Warn("remoting: closing connection: bad frame", "err", err)
	case errors.Is(err, errIdle):
		c.log.Info("remoting: closing idle connection", "idle", c.cfg.idle)
	case errors.Is(err, io.EOF):
		c.log.Debug("remoting: connection closed by peer")
	default:
		c.log.Debug("remoting: connection failed", "err", err)
	}
}

// deliver hands a response to the Invoke waiting for its opaque, or drops it.
func (c *Conn) deliver(resp *Command) {
	c.mu.Lock()
	k := c.pending[resp.Opaque]
	delete(c.pending, resp.Opaque)
	if k != nil {
		c.answered++
	}
	c.mu.Unlock()
	if k == nil {
		c.log.Debug("remoting: dropping response with unknown opaque", "opaque", resp.Opaque, "code", resp.Code)
		return
	}
	k.done <- resp // buffered for this one outcome
}

// dispatch runs the handler for req on a worker goroutine if an in-flight slot of the connection
// and one of the owner are free; else it answers SYSTEM_BUSY at once.
func (c *Conn) dispatch(req *Command) {
	if !tryAcquire(c.inflight) {
		c.busy(req)
		return
	}
	if c.cfg.global != nil && !tryAcquire(c.cfg.global) {
		<-c.inflight
		c.busy(req)
		return
	}
	c.cfg.workers.run(task{c, req})
}

func tryAcquire(sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
		return false
	}
}

func (c *Conn) busy(req *Command) {
	c.log.Debug("remoting: too many requests in flight", "code", req.Code)
	if req.IsOneway() {
		return
	}
	// Never wait here: a reader blocked on a full queue stops reading, and a peer doing the same
	// would deadlock both connections until the write timeout.
	if err := c.tryEnqueue(NewResponse(req, int16(SystemBusy), busyRemark)); err != nil {
		c.log.Debug("remoting: send busy response", "err", err)
	}
}

// serve runs the handler for req and queues its response.
func (c *Conn) serve(req *Command) {
	resp := c.call(req)
	if req.detached { // answered, and its slots freed, by Detach's answer
		if resp != nil {
			releaseCmd(resp)
		}
		return
	}
	if resp == nil || req.IsOneway() {
		c.release()
		if resp != nil {
			releaseCmd(resp)
		}
		return
	}
	resp.freeSlots = c.release
	resp.Opaque = req.Opaque
	resp.Flag |= FlagResponse
	resp.Serialize = req.Serialize
	if err := c.enqueue(c.ctx, resp); err != nil {
		c.log.Debug("remoting: send response", "code", req.Code, "err", err)
	}
}

// release frees the in-flight slots of a request that has been served.
func (c *Conn) release() {
	<-c.inflight
	if c.cfg.global != nil {
		<-c.cfg.global
	}
}

// Detach lets the handler serving req answer it after returning: the handler returns nil, and
// calls answer exactly once, from any goroutine, with the response (NewResponse; dropped if
// req is oneway). answer queues it without blocking: when the write queue is full a goroutine
// of its own waits for room. req keeps its in-flight slots until its answer is written (or
// dropped), so the requests a connection has waiting count against its limits as those being
// handled do. A store's flusher answers the sends a flush acknowledged this way.
func (c *Conn) Detach(req *Command) (answer func(resp *Command)) {
	req.detached = true
	oneway, code, opaque, ser := req.IsOneway(), req.Code, req.Opaque, req.Serialize
	return func(resp *Command) {
		if oneway {
			c.release()
			releaseCmd(resp)
			return
		}
		resp.freeSlots = c.release
		resp.Opaque, resp.Serialize = opaque, ser
		resp.Flag |= FlagResponse
		if err := c.push(c.ctx, time.Time{}, resp, pushSpill); err != nil {
			c.log.Debug("remoting: send response", "code", code, "err", err)
		}
	}
}

// call runs the handler; a panic is logged and answered with SYSTEM_ERROR.
func (c *Conn) call(req *Command) (resp *Command) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("remoting: handler panicked", "code", req.Code, "panic", r)
			resp = NewResponse(req, int16(SystemError), fmt.Sprintf("handler panic: %v", r))
		}
	}()
	return c.cfg.handler.ServeRemoting(c.ctx, c, req)
}

// connReader reads from the connection, recording traffic for the idle timeout. The read
// deadline is only moved when it fires: if there was traffic within IdleTimeout it is pushed to
// lastIO+IdleTimeout and the read goes on; else the read fails with errIdle.
type connReader struct{ c *Conn }

func (r connReader) Read(p []byte) (int, error) {
	c := r.c
	for {
		n, err := c.nc.Read(p)
		if n > 0 {
			c.lastIO.Store(time.Now().UnixNano())
			return n, err
		}
		var ne net.Error
		if c.cfg.idle <= 0 || !errors.As(err, &ne) || !ne.Timeout() {
			return n, err
		}
		deadline := time.Unix(0, c.lastIO.Load()).Add(c.cfg.idle)
		if !time.Now().Before(deadline) {
			return 0, errIdle
		}
		if err := c.nc.SetReadDeadline(deadline); err != nil {
			return 0, err
		}
	}
}
