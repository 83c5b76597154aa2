package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// instance is what every client value owns (RocketMQ's MQClientInstance, one per value rather
// than one per process): the connections, the route cache, the heartbeat, and the goroutines
// that keep them fresh. Producers and consumers build on it.
type instance struct {
	cfg  commonConfig
	log  *slog.Logger
	id   string // client id: ip@instance
	ip   netip.Addr
	rc   *remoting.Client
	uniq *message.UniqIDGenerator

	heartbeat func() protocol.HeartbeatData // what to announce; set before start
	hbKick    chan struct{}                 // capacity 1: heartbeat now (a new broker connection)

	ctx    context.Context // ends at close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.RWMutex // guards the fields below
	routes   map[string]*topicRoute
	brokers  map[string]map[int64]string // broker name → broker id → address
	nsNext   int                         // the NameServer tried first next time
	closed   bool
	hbFailed map[string]bool // brokers whose last heartbeat failed (logged once)
	// conns is the connection each broker was last reached on. A new one (first contact, or a
	// reconnect after the broker restarted) kicks a heartbeat, so the broker knows the client's
	// groups at once (transaction checks, consumer lists) rather than at the next period.
	conns map[string]*remoting.Conn
}

// newInstance builds an instance whose connections serve the server-initiated requests in
// handlers (CHECK_TRANSACTION_STATE, NOTIFY_CONSUMER_IDS_CHANGED, …). It starts nothing.
func newInstance(cfg commonConfig, handlers map[int16]remoting.Handler) (*instance, error) {
	cfg = cfg.withDefaults()
	if len(cfg.nameServers) == 0 {
		return nil, ErrNoNameServer
	}
	if cfg.headers != remoting.JSON && cfg.headers != remoting.RocketMQ {
		return nil, fmt.Errorf("client: header encoding %d is neither remoting.JSON nor remoting.RocketMQ", cfg.headers)
	}
	ip := localIP()
	name := cfg.instanceName
	if name == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		name = strconv.Itoa(os.Getpid()) + "#" + hex.EncodeToString(b[:])
	}
	mux := remoting.NewMux()
	for code, h := range handlers {
		mux.Handle(code, h)
	}
	in := &instance{
		cfg:      cfg,
		log:      cfg.logger,
		id:       ip.String() + "@" + name,
		ip:       ip,
		uniq:     message.NewUniqIDGenerator(ip, os.Getpid(), time.Now),
		routes:   make(map[string]*topicRoute),
		brokers:  make(map[string]map[int64]string),
		hbFailed: make(map[string]bool),
		conns:    make(map[string]*remoting.Conn),
		hbKick:   make(chan struct{}, 1),
	}
	in.rc = remoting.NewClient(remoting.ClientOptions{Logger: cfg.logger, Handler: mux, TLS: cfg.tls})
	in.ctx, in.cancel = context.WithCancel(context.Background())
	return in, nil
}

// localIP returns the first non-loopback IPv4 address of the host, or 127.0.0.1.
func localIP() netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if p, ok := a.(*net.IPNet); ok && !p.IP.IsLoopback() {
				if ip, ok := netip.AddrFromSlice(p.IP.To4()); ok && p.IP.To4() != nil {
					return ip
				}
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// start launches the route refresh and heartbeat loops.
func (in *instance) start() {
	in.every(in.cfg.routeRefresh, in.refreshRoutes)
	in.every(in.cfg.heartbeatInterval, func(ctx context.Context) { in.sendHeartbeat(ctx) })
	in.goFunc(func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case <-in.hbKick:
				in.sendHeartbeat(ctx)
			}
		}
	})
}

// noteConn records that broker addr is reached on conn, and kicks a heartbeat when that is a
// new connection.
func (in *instance) noteConn(addr string, conn *remoting.Conn) {
	in.mu.Lock()
	old := in.conns[addr]
	if old != conn {
		in.conns[addr] = conn
	}
	in.mu.Unlock()
	if old != conn {
		select {
		case in.hbKick <- struct{}{}:
		default: // a heartbeat is already due
		}
	}
}

// contacted returns the brokers the client has reached.
func (in *instance) contacted() []string {
	in.mu.RLock()
	defer in.mu.RUnlock()
	out := make([]string, 0, len(in.conns))
	for addr := range in.conns {
		out = append(out, addr)
	}
	return out
}

// every runs f every d on an owned goroutine until close.
func (in *instance) every(d time.Duration, f func(context.Context)) {
	in.goFunc(func(ctx context.Context) { tick(ctx, d, f) })
}

// goFunc runs f on a goroutine owned by the instance; f must return once ctx ends.
func (in *instance) goFunc(f func(ctx context.Context)) {
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		f(in.ctx)
	}()
}

// close stops every goroutine and connection of the instance and waits for them, or returns
// ctx's error when ctx ends first.
func (in *instance) close(ctx context.Context) error {
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	in.cancel()
	done := make(chan struct{})
	go func() {
		in.wg.Wait()
		_ = in.rc.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// isClosed reports whether close has begun.
func (in *instance) isClosed() bool {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return in.closed
}

// callCtx bounds ctx by timeout, and ends it when the instance closes.
func (in *instance) callCtx(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := withTimeout(ctx, timeout)
	stop := context.AfterFunc(in.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// withTimeout is context.WithTimeout, without a new context (and its timer) when ctx already
// ends by then: a send's attempts share the send's deadline.
func withTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
}

// withDeadline is context.WithDeadline, without a new context for the zero deadline (none).
func withDeadline(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if deadline.IsZero() {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, deadline)
}

// invoke sends req to addr and waits for its response, within the call timeout. A transport
// failure is an error; a non-success response is returned as is for the caller to judge.
func (in *instance) invoke(ctx context.Context, addr string, req *remoting.Command) (*remoting.Command, error) {
	return in.invokeFor(ctx, addr, req, in.cfg.callTimeout)
}

// invokeFor is invoke with its own timeout instead of the call timeout (long polls).
func (in *instance) invokeFor(ctx context.Context, addr string, req *remoting.Command, timeout time.Duration) (*remoting.Command, error) {
	return in.invokeUntil(ctx, addr, req, time.Now().Add(timeout))
}

// invokeUntil is invoke ending at deadline instead of after the call timeout. The deadline is
// not a context: the call's recycled timer ends it (remoting.Conn.InvokeUntil), as it does a
// send's attempts, for whom a context with a timeout per call cost about 5 % of the client's
// CPU.
func (in *instance) invokeUntil(ctx context.Context, addr string, req *remoting.Command, deadline time.Time) (*remoting.Command, error) {
	if in.isClosed() {
		return nil, ErrClosed
	}
	req = in.cfg.signer.sign(req)
	req.Serialize = in.cfg.headers
	// The call also ends when the instance closes (in.ctx), without a context of its own.
	resp, err := in.connFor(ctx, addr, req.Code, deadline, func(c *remoting.Conn) (*remoting.Command, error) {
		return c.InvokeUntil(ctx, in.ctx.Done(), deadline, req)
	})
	if err != nil {
		if in.isClosed() {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("%s to %s: %w", requestName(req.Code), addr, err)
	}
	return resp, nil
}

// connFor runs call on the connection to addr, noting broker connections (noteConn) for
// every request but heartbeats and NameServer calls. Dialling, when there is no open
// connection, also ends at deadline (the zero time: only ctx and the dial timeout bound it).
func (in *instance) connFor(ctx context.Context, addr string, code int16, deadline time.Time, call func(*remoting.Conn) (*remoting.Command, error)) (*remoting.Command, error) {
	c := in.rc.Open(addr)
	if c == nil {
		dctx, cancel := withDeadline(ctx, deadline)
		defer cancel()
		var err error
		if c, err = in.rc.Conn(dctx, addr); err != nil {
			return nil, err
		}
	}
	if code != remoting.HeartBeat && !slices.Contains(in.cfg.nameServers, addr) {
		in.noteConn(addr, c)
	}
	return call(c)
}

// invokeOK is invoke for calls where anything but SUCCESS is an error.
func (in *instance) invokeOK(ctx context.Context, addr string, req *remoting.Command) (*remoting.Command, error) {
	resp, err := in.invoke(ctx, addr, req)
	if err != nil {
		return nil, err
	}
	if err := brokerError(resp); err != nil {
		return nil, fmt.Errorf("%s to %s: %w", requestName(req.Code), addr, err)
	}
	return resp, nil
}

// invokeOneway sends req to addr without waiting for an answer.
func (in *instance) invokeOneway(ctx context.Context, addr string, req *remoting.Command) error {
	if in.isClosed() {
		return ErrClosed
	}
	ctx, cancel := in.callCtx(ctx, in.cfg.callTimeout)
	defer cancel()
	req = in.cfg.signer.sign(req)
	req.Serialize = in.cfg.headers
	_, err := in.connFor(ctx, addr, req.Code, time.Time{}, func(c *remoting.Conn) (*remoting.Command, error) { return nil, c.InvokeOneway(ctx, req) })
	if err != nil {
		return fmt.Errorf("%s to %s: %w", requestName(req.Code), addr, err)
	}
	return nil
}

// invokeNameServer sends req to the NameServers in turn, starting after the one used last,
// until one answers.
func (in *instance) invokeNameServer(ctx context.Context, req func() *remoting.Command) (*remoting.Command, error) {
	in.mu.Lock()
	first := in.nsNext
	in.mu.Unlock()
	ns := in.cfg.nameServers
	var errs []error
	for i := range ns {
		addr := ns[(first+i)%len(ns)]
		resp, err := in.invoke(ctx, addr, req())
		if err == nil {
			in.mu.Lock()
			in.nsNext = (first + i) % len(ns)
			in.mu.Unlock()
			return resp, nil
		}
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// requestName names a request code for error messages.
func requestName(code int16) string {
	switch code {
	case remoting.SendMessage, remoting.SendMessageV2:
		return "send"
	case remoting.SendBatchMessage:
		return "send batch"
	case remoting.PullMessage:
		return "pull"
	case remoting.HeartBeat:
		return "heartbeat"
	case remoting.GetRouteInfoByTopic:
		return "route"
	}
	return "request " + strconv.Itoa(int(code))
}

// sendHeartbeat announces the client's groups to every broker it knows.
func (in *instance) sendHeartbeat(ctx context.Context) {
	if in.heartbeat == nil {
		return
	}
	hb := in.heartbeat()
	hb.ClientID = in.id
	body, err := json.Marshal(hb)
	if err != nil {
		in.log.Error("heartbeat encode failed", "err", err)
		return
	}
	for _, addr := range in.brokerAddrs() {
		_, err := in.invokeOK(ctx, addr, remoting.NewRequest(remoting.HeartBeat, nil, body))
		in.mu.Lock()
		was := in.hbFailed[addr]
		in.hbFailed[addr] = err != nil
		in.mu.Unlock()
		switch {
		case err != nil && !was && ctx.Err() == nil:
			in.log.Warn("heartbeat failed", "broker", addr, "err", err)
		case err == nil && was:
			in.log.Info("heartbeat ok again", "broker", addr)
		}
	}
}

// brokerAddrs returns the addresses of every broker the cached routes name.
func (in *instance) brokerAddrs() []string {
	in.mu.RLock()
	defer in.mu.RUnlock()
	var out []string
	for _, ids := range in.brokers {
		for _, addr := range ids {
			out = append(out, addr)
		}
	}
	return out
}

// brokerAddr returns the address of broker id of brokerName.
func (in *instance) brokerAddr(brokerName string, id int64) (string, bool) {
	in.mu.RLock()
	defer in.mu.RUnlock()
	addr, ok := in.brokers[brokerName][id]
	return addr, ok
}

// masterAddr returns the master's address of brokerName.
func (in *instance) masterAddr(brokerName string) (string, bool) {
	return in.brokerAddr(brokerName, protocol.MasterID)
}

// replicaAddr returns the master's address of brokerName, or, when the route has no master
// (it died), its slave with the lowest id: reads and offsets go there until a master is back,
// as RocketMQ clients do.
func (in *instance) replicaAddr(brokerName string) (string, bool) {
	in.mu.RLock()
	defer in.mu.RUnlock()
	ids := in.brokers[brokerName]
	if addr, ok := ids[protocol.MasterID]; ok {
		return addr, true
	}
	best, addr := int64(-1), ""
	for id, a := range ids {
		if best < 0 || id < best {
			best, addr = id, a
		}
	}
	return addr, best >= 0
}

// brokerNames returns every broker name the cached routes name.
func (in *instance) brokerNames() []string {
	in.mu.RLock()
	defer in.mu.RUnlock()
	out := make([]string, 0, len(in.brokers))
	for name := range in.brokers {
		out = append(out, name)
	}
	return out
}

// nextUniqID returns a new client unique message id (UNIQ_KEY).
func (in *instance) nextUniqID() string { return in.uniq.Next() }
