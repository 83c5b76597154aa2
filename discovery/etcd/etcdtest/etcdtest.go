// Package etcdtest runs a real, single-member etcd server inside a test process
// (go.etcd.io/etcd/server/v3/embed) on 127.0.0.1, with its data in t.TempDir(), written
// without fsync.
//
// Clients reach it through a TCP proxy on an ephemeral port, the endpoint Start returns. stop
// cuts every client connection at once, as a crash or a network failure would, then stops the
// server (so it takes well under a second, where a graceful stop of an etcd with open watch
// streams takes seven); restart starts the server again on the same data dir and the proxy on
// the same endpoint, so connected clients reconnect by themselves and the keys and leases
// survive (etcd extends the leases' deadlines when it starts, as after any leader change).
//
// NewProxy puts a proxy of its own in front of an endpoint, to cut one client off (Cut) and
// let it back (Heal) while others keep their connections: a network partition.
//
// The server is stopped at the test's cleanup. Every goroutine etcdtest starts has ended when
// stop returns, so tests can check for leaks with goleak.
package etcdtest

import (
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// readyTimeout bounds a start or restart.
const readyTimeout = 30 * time.Second

// Start starts an etcd server and returns its client endpoint ("127.0.0.1:PORT"), a stop
// func, and a restart func that starts it again (after stopping it, if it runs) on the same
// data dir and endpoint. stop and restart may be called any number of times, from one
// goroutine at a time; a failed restart fails the test.
func Start(t testing.TB) (endpoint string, stop func(), restart func()) {
	t.Helper()
	s := &server{dir: t.TempDir(), proxy: &proxy{addr: "127.0.0.1:0"}}
	if err := s.start(); err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(s.stop)
	return s.proxy.addr, s.stop, func() {
		t.Helper()
		s.stop()
		if err := s.start(); err != nil {
			t.Fatalf("etcdtest: restart: %v", err)
		}
	}
}

// server is one embedded etcd, its proxy, and what a restart needs.
type server struct {
	dir      string
	proxy    *proxy
	stopping atomic.Bool // silences etcd's log while it stops

	mu sync.Mutex
	e  *embed.Etcd // nil while stopped
}

func (s *server) start() error {
	local, _ := url.Parse("http://127.0.0.1:0")
	cfg := embed.NewConfig()
	cfg.Name = "etcdtest"
	cfg.Dir = s.dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*local}, []url.URL{*local}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*local}, []url.URL{*local}
	cfg.InitialCluster = cfg.Name + "=" + local.String()
	cfg.LogLevel = "error"
	// No fsync: the tests never crash the machine under etcd, and `go test ./...` runs them
	// beside packages that fsync gigabytes. A WAL fsync stuck behind that writeback held lease
	// renewals for seconds (CI of d181308: TestFailover's new master fenced itself, "no
	// keepalive answered in time", and its group was left with one replica).
	cfg.UnsafeNoFsync = true
	s.stopping.Store(false)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(quietCore{
		Core:     zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.Lock(os.Stderr), zapcore.ErrorLevel),
		stopping: &s.stopping,
	}))
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start etcd in %s: %w", s.dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		s.close(e)
		return fmt.Errorf("etcd in %s failed: %w", s.dir, err)
	case <-time.After(readyTimeout):
		s.close(e)
		return fmt.Errorf("etcd in %s not ready after %v", s.dir, readyTimeout)
	}
	if err := s.proxy.start(e.Clients[0].Addr().String()); err != nil {
		s.close(e)
		return err
	}
	s.mu.Lock()
	s.e = e
	s.mu.Unlock()
	return nil
}

func (s *server) stop() {
	s.mu.Lock()
	e := s.e
	s.e = nil
	s.mu.Unlock()
	if e != nil {
		s.proxy.stop()
		s.close(e)
	}
}

func (s *server) close(e *embed.Etcd) {
	s.stopping.Store(true) // its listeners log errors as they close
	e.Close()
}

// quietCore is etcd's log: errors to stderr, nothing once the server is stopping.
type quietCore struct {
	zapcore.Core
	stopping *atomic.Bool
}

func (c quietCore) With(fields []zapcore.Field) zapcore.Core {
	return quietCore{Core: c.Core.With(fields), stopping: c.stopping}
}

func (c quietCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.stopping.Load() {
		return ce
	}
	return c.Core.Check(ent, ce)
}
