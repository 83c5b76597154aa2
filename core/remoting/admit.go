package remoting

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// TLSMode says what a listener accepts, RocketMQ's tlsMode.
type TLSMode int

// TLS modes.
const (
	// TLSDisabled serves plaintext only: a TLS client's handshake record reads as a frame too
	// large and closes its connection.
	TLSDisabled TLSMode = iota
	// TLSPermissive serves TLS and plaintext on one port, told apart by the first byte.
	TLSPermissive
	// TLSEnforcing serves TLS only: a plaintext client's first request is answered
	// SYSTEM_ERROR with remark RemarkTLSRequired, then its connection is closed.
	TLSEnforcing
)

// tlsHandshakeByte is the first byte of a TLS connection: the content type of a handshake
// record. A remoting frame starts with the high byte of its length field, which is 0 or 1 for
// any length up to MaxFrameSize's 16 MiB ceiling of the defaults, and below 0x16 for any
// length under 352 MiB, so one byte tells them apart.
const tlsHandshakeByte = 0x16

// Refusal remarks: what a client whose connection is refused reads in the response to its
// first request before the connection closes.
const (
	// RemarkTooManyConnections answers SYSTEM_BUSY over Server's MaxConnections.
	RemarkTooManyConnections = "[OVERLOAD] too many connections, connection refused"
	// RemarkTLSRequired answers SYSTEM_ERROR to plaintext on a TLSEnforcing listener.
	RemarkTLSRequired = "[TLS] this port accepts only TLS connections (tlsMode enforcing)"
)

// maxRefusing bounds the connections being answered a refusal at once; more are closed
// without an answer. refuseFrameMax bounds the first request such an answer reads: a larger one
// is not read and its connection is closed without an answer.
const (
	maxRefusing    = 64
	refuseFrameMax = 64 << 10
)

// ParseTLSMode reads "disabled", "permissive" or "enforcing" ("" is disabled).
func ParseTLSMode(s string) (TLSMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "disabled":
		return TLSDisabled, nil
	case "permissive":
		return TLSPermissive, nil
	case "enforcing":
		return TLSEnforcing, nil
	}
	return TLSDisabled, fmt.Errorf("remoting: tlsMode %q: want disabled, permissive or enforcing", s)
}

func (m TLSMode) String() string {
	switch m {
	case TLSDisabled:
		return "disabled"
	case TLSPermissive:
		return "permissive"
	case TLSEnforcing:
		return "enforcing"
	}
	return fmt.Sprintf("TLSMode(%d)", int(m))
}

// admit takes one accepted connection: plaintext within the limit starts at once; the others
// (a TLS mode, or over MaxConnections) are prepared in a goroutine of their own, counted in
// track and kept in pending so that Close can abort them.
func (s *Server) admit(nc net.Conn, mode TLSMode) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	over := s.maxConns > 0 && len(s.conns)+len(s.pending)-s.refusing >= s.maxConns
	switch {
	case over && s.refusing >= maxRefusing:
		s.mu.Unlock()
		nc.Close()
		s.noteRefused(nc, "refusing too many at once: closed without an answer")
		return
	case !over && mode == TLSDisabled:
		s.mu.Unlock()
		s.startConn(nc, nil)
		return
	}
	if over {
		s.refusing++
	}
	s.pending[nc] = over
	s.track.Add(1) // under mu while open: Close has not started waiting
	s.mu.Unlock()
	go s.prepare(nc, mode, over)
}

// prepare tells TLS from plaintext, completes the handshake and starts the connection, or
// refuses it; every step is bounded by HandshakeTimeout.
func (s *Server) prepare(nc net.Conn, mode TLSMode, over bool) {
	defer s.track.Done()
	nc.SetDeadline(time.Now().Add(s.handshake))
	conn, plain, err := s.secure(nc, mode)
	switch {
	case err != nil:
		s.drop(nc)
		nc.Close()
		s.handshakeLog.log(s.log, "remoting: tls handshake failed", "remote", nc.RemoteAddr().String(), "mode", mode.String(), "err", err)
	case over:
		s.noteRefused(nc, "answered SYSTEM_BUSY")
		s.refuse(conn, SystemBusy, RemarkTooManyConnections)
		s.drop(nc)
	case plain && mode == TLSEnforcing:
		s.handshakeLog.log(s.log, "remoting: plaintext connection refused: tls required", "remote", nc.RemoteAddr().String())
		s.refuse(conn, SystemError, RemarkTLSRequired)
		s.drop(nc)
	default:
		conn.SetDeadline(time.Time{})
		s.startConn(conn, nc)
	}
}

// secure returns the connection to serve: nc itself in plaintext, else its TLS side after the
// handshake. plain reports a plaintext peer (told by its first byte when mode is not disabled).
func (s *Server) secure(nc net.Conn, mode TLSMode) (conn net.Conn, plain bool, err error) {
	if mode == TLSDisabled {
		return nc, true, nil
	}
	var first [1]byte
	if _, err := nc.Read(first[:]); err != nil {
		return nil, false, fmt.Errorf("read first byte: %w", err)
	}
	pc := &prefixConn{Conn: nc, prefix: first[:]}
	if first[0] != tlsHandshakeByte {
		return pc, true, nil
	}
	tc := tls.Server(pc, s.opts.TLS)
	if err := tc.Handshake(); err != nil {
		return nil, false, err
	}
	return tc, false, nil
}

// refuse reads the connection's first request and answers it code with remark (oneway
// requests get nothing), then closes the connection.
func (s *Server) refuse(conn net.Conn, code Code, remark string) {
	defer conn.Close()
	req, err := NewFrameReader(bufio.NewReaderSize(conn, 512), refuseFrameMax).Read()
	if err != nil || req.IsResponse() || req.IsOneway() {
		return
	}
	b, err := AppendFrame(nil, NewResponse(req, int16(code), remark))
	if err == nil {
		conn.Write(b)
	}
}

// drop forgets a connection admit put in pending.
func (s *Server) drop(nc net.Conn) {
	s.mu.Lock()
	if s.pending[nc] {
		s.refusing--
	}
	delete(s.pending, nc)
	s.mu.Unlock()
}

// noteRefused counts a connection refused over MaxConnections and logs it, rate-limited.
func (s *Server) noteRefused(nc net.Conn, how string) {
	s.refused.Add(1)
	s.refuseLog.log(s.log, "remoting: connection refused: too many connections", "remote", nc.RemoteAddr().String(),
		"max_connections", s.maxConns, "how", how, "refused_total", s.refused.Load())
}

// RefusedConns returns how many connections were refused over MaxConnections.
func (s *Server) RefusedConns() uint64 { return s.refused.Load() }

// prefixConn is a connection whose first bytes were read already: Read returns them first.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// rateLog logs a warning at most once per interval and says how many it suppressed.
type rateLog struct {
	interval time.Duration

	mu         sync.Mutex // guards the fields below
	last       time.Time
	suppressed int
}

func (r *rateLog) log(l interface {
	Warn(string, ...any)
}, msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	if !r.last.IsZero() && now.Sub(r.last) < r.interval {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	l.Warn(msg, append(args, "suppressed", n)...)
}

// errNoTLSConfig is a TLS mode without ServerOptions.TLS.
var errNoTLSConfig = errors.New("remoting: a tls mode other than disabled needs ServerOptions.TLS")

// writeTarget is what a connection's frames are written to: a prefixConn's socket itself, so
// that net.Buffers still goes out with one writev (only reads see the prefix).
func writeTarget(nc net.Conn) net.Conn {
	if p, ok := nc.(*prefixConn); ok {
		return p.Conn
	}
	return nc
}
