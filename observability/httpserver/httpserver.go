// Package httpserver is the broker's HTTP port (--http-addr): /metrics, /healthz and /readyz.
//
//	GET /metrics  the metrics in the Prometheus text format (Options.Metrics; 404 without)
//	GET /healthz  200 "ok" while the process serves HTTP at all (liveness)
//	GET /readyz   200 "ready" when Options.Ready returns nil, else 503 with its error as a
//	              one-line text body (readiness: clients can use the broker)
//	GET /debug/pprof/...  Go's runtime profiles (net/http/pprof), only with Options.Pprof
//
// Start listens and serves on one goroutine, which Close stops and waits for. The server is
// meant for loopback or a trusted network: it has no authentication.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Options configure a Server.
type Options struct {
	// Addr is the address to listen on (host:port; port 0 picks one, see Server.Addr).
	Addr string
	// Metrics serves /metrics; nil: /metrics answers 404.
	Metrics http.Handler
	// Ready reports nil when the service is ready, else why not; nil: always ready.
	Ready func() error
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Pprof serves Go's profiles under /debug/pprof/ (CPU, heap, goroutines, mutex, ...).
	Pprof bool
}

// Disabled reports whether addr turns the HTTP port off: empty or "off".
func Disabled(addr string) bool { return addr == "" || addr == "off" }

// Server is a running HTTP server.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	log  *slog.Logger
	done chan struct{} // closed when the serving goroutine returns
}

// Start listens on opts.Addr and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("httpserver: listen %s: %w", opts.Addr, err)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           NewMux(opts),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		},
		ln: ln, log: opts.Logger, done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s, nil
}

// NewMux returns the server's routes, for callers that serve them themselves.
func NewMux(opts Options) *http.ServeMux {
	mux := http.NewServeMux()
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		text(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if opts.Ready != nil {
			if err := opts.Ready(); err != nil {
				text(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
				return
			}
		}
		text(w, http.StatusOK, "ready")
	})
	if opts.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func text(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting, waits for the requests in flight until ctx ends (then closes their
// connections) and waits for the serving goroutine.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	<-s.done
	if err != nil {
		return fmt.Errorf("httpserver: close: %w", err)
	}
	return nil
}
