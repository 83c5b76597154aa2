// Package audit is the broker's audit log: a slog stream of its own, apart from the operational
// log, that records admin operations and denied requests as JSON lines.
//
// Every line carries "stream":"audit" and an "event": "admin" (an admin request and its
// outcome), "acl_reload" (the ACL file was reloaded, or refused) or "denied" (a request the
// ACL refused), with snake_case keys (access_key, remote_addr, request_code, resource,
// reason, result_code, …).
//
// Denied requests are rate-limited, so that a flood of refused requests cannot fill the disk:
// at most DeniedPerSecond lines per second of the injected clock; the rest are counted and
// reported in one "denied_suppressed" line (key suppressed) when the next second's first
// denial is written, or at Close. Admin lines are never dropped.
package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultDeniedPerSecond is Options.DeniedPerSecond's default.
const DefaultDeniedPerSecond = 20

// Stderr, as Options.Path, writes the stream to standard error.
const Stderr = "-"

// Options configures a Log.
type Options struct {
	// Path is the file the lines are appended to (created with its directory, mode 0600), or
	// Stderr.
	Path string
	// DeniedPerSecond caps the denied-request lines per second (DefaultDeniedPerSecond).
	DeniedPerSecond int
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Log is an audit stream. Its methods are safe for concurrent use; a nil *Log records
// nothing.
type Log struct {
	log   *slog.Logger
	out   io.Closer // the file, or nil for stderr
	now   func() time.Time
	limit int

	mu         sync.Mutex // guards the fields below
	window     int64      // the second (Unix) being counted
	count      int        // denied lines written in window
	suppressed int        // denied lines dropped since the last report
}

// Open opens the stream.
func Open(opts Options) (*Log, error) {
	if opts.DeniedPerSecond <= 0 {
		opts.DeniedPerSecond = DefaultDeniedPerSecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Log{now: opts.Now, limit: opts.DeniedPerSecond}
	var w io.Writer = os.Stderr
	if opts.Path != Stderr {
		if err := os.MkdirAll(filepath.Dir(opts.Path), 0o755); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		f, err := os.OpenFile(opts.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		w, l.out = f, f
	}
	l.log = slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey { // the injected clock's time, not the handler's
				return slog.Attr{}
			}
			return a
		},
	})).With("stream", "audit")
	return l, nil
}

// write logs one line stamped with the injected clock.
func (l *Log) write(msg string, attrs ...slog.Attr) {
	attrs = append([]slog.Attr{slog.Time("ts", l.now())}, attrs...)
	l.log.LogAttrs(context.Background(), slog.LevelInfo, msg, attrs...)
}

// Admin records an admin request: who sent it, from where, what it touched and its result.
func (l *Log) Admin(accessKey, remoteAddr string, code int16, resource string, resultCode int16, remark string) {
	if l == nil {
		return
	}
	l.write("admin operation", slog.String("event", "admin"), slog.String("access_key", accessKey),
		slog.String("remote_addr", remoteAddr), slog.Int("request_code", int(code)), slog.String("resource", resource),
		slog.Int("result_code", int(resultCode)), slog.String("remark", remark))
}

// ACLReload records a reload of the ACL file, or its refusal (err).
func (l *Log) ACLReload(path string, accounts int, err error) {
	if l == nil {
		return
	}
	attrs := []slog.Attr{slog.String("event", "acl_reload"), slog.String("path", path), slog.Int("accounts", accounts)}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	l.write("acl reload", attrs...)
}

// Denied records a refused request, within the rate limit.
func (l *Log) Denied(accessKey, remoteAddr string, code int16, resource, reason string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	sec := l.now().Unix()
	if sec != l.window {
		l.flushSuppressed()
		l.window, l.count = sec, 0
	}
	if l.count >= l.limit {
		l.suppressed++
		return
	}
	l.count++
	l.write("request denied", slog.String("event", "denied"), slog.String("access_key", accessKey),
		slog.String("remote_addr", remoteAddr), slog.Int("request_code", int(code)), slog.String("resource", resource),
		slog.String("reason", reason))
}

// flushSuppressed reports the dropped denied lines. l.mu is held.
func (l *Log) flushSuppressed() {
	if l.suppressed == 0 {
		return
	}
	l.write("denied requests suppressed", slog.String("event", "denied_suppressed"), slog.Int("suppressed", l.suppressed))
	l.suppressed = 0
}

// Close reports what is still suppressed and closes the file.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	l.flushSuppressed()
	l.mu.Unlock()
	if l.out != nil {
		return l.out.Close()
	}
	return nil
}
