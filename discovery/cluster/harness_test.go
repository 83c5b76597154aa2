package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/discovery/etcd"
	"github.com/ternmq/tern/discovery/etcd/etcdtest"
	"github.com/ternmq/tern/discovery/namesrv"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// waitLimit bounds every wait for something that must happen.
const waitLimit = 60 * time.Second

func logger() *slog.Logger { return brokertest.Logger() }

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond every 20 ms until it holds, failing the test after limit. It returns how
// long it took.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// env is a cluster's discovery: the NameServers clients ask, and how a broker process gets a
// discovery backend of its own.
type env struct {
	namesrvs []*namesrv.Server
	// newDiscovery returns a new broker's own backend, closed at the test's end.
	newDiscovery func(t *testing.T) discovery.Discovery
}

func (e *env) addrs() []string {
	var out []string
	for _, s := range e.namesrvs {
		out = append(out, s.Addr().String())
	}
	return out
}

func startNamesrv(t *testing.T, configure func(*namesrv.Config)) *namesrv.Server {
	t.Helper()
	cfg := namesrv.DefaultConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	if configure != nil {
		configure(&cfg)
	}
	s := namesrv.New(cfg, logger().With("component", "namesrv"))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

// namesrvEnv is one in-memory NameServer; brokers register with a namesrv.Client of it.
func namesrvEnv(t *testing.T, configure func(*namesrv.Config)) *env {
	t.Helper()
	ns := startNamesrv(t, configure)
	return &env{namesrvs: []*namesrv.Server{ns}, newDiscovery: func(t *testing.T) discovery.Discovery {
		c := namesrv.NewClient(namesrv.ClientOptions{Addrs: []string{ns.Addr().String()}, Logger: logger()})
		t.Cleanup(func() { c.Close() })
		return c
	}}
}

// etcdCluster is an embedded etcd and what restarts it.
type etcdCluster struct {
	endpoint, prefix string
	ttl              time.Duration
	stop, restart    func()
}

// open returns a new backend of the cluster's registry, closed at the test's end.
func (c *etcdCluster) open(t *testing.T) *etcd.Backend {
	t.Helper()
	b, err := etcd.Open(testCtx(t, waitLimit), etcd.Config{
		Endpoints: []string{c.endpoint}, Prefix: c.prefix, TTL: c.ttl, DialTimeout: 2 * time.Second,
		Logger: logger().With("component", "etcd"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// etcdEnv is an embedded etcd and two stateless NameServers on it, each with a backend of
// its own; every broker gets one too. ttl is the lease TTL.
func etcdEnv(t *testing.T, ttl time.Duration) (*env, *etcdCluster) {
	t.Helper()
	ec := &etcdCluster{prefix: "/tern-test", ttl: ttl}
	ec.endpoint, ec.stop, ec.restart = etcdtest.Start(t)
	e := &env{newDiscovery: func(t *testing.T) discovery.Discovery { return ec.open(t) }}
	for range 2 {
		backend := ec.open(t)
		e.namesrvs = append(e.namesrvs, startNamesrv(t, func(c *namesrv.Config) { c.Backend = backend }))
	}
	return e, ec
}

// startBroker starts a broker named name that registers through d, and closes it at the
// test's end.
func startBroker(t *testing.T, name string, d broker.Registrar, configure func(*broker.Config)) *broker.Broker {
	t.Helper()
	cfg := broker.DefaultConfig(t.TempDir())
	cfg.BrokerName = name
	cfg.ListenAddr, cfg.BrokerAddr, cfg.NamesrvAddr = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.Discovery = d
	cfg.RegisterNameServerPeriod = config.Millis(10 * time.Second) // the shortest period brokers use
	cfg.Store.MappedFileSizeCommitLog = 16 << 20
	cfg.Store.MappedFileSizeConsumeQueue = 20 * 100_000
	cfg.Store.MaxHashSlotNum, cfg.Store.MaxIndexNum = 10_000, 100_000
	cfg.Store.DiskUsage = func(string) (float64, error) { return 0.1, nil }
	if configure != nil {
		configure(&cfg)
	}
	b, err := broker.New(cfg, logger().With("component", "broker", "broker_name", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(testCtx(t, waitLimit)); err != nil {
		b.Close(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() { closeBroker(t, b) })
	return b
}

// closeBroker closes a broker cleanly; closing it again is a no-op.
func closeBroker(t *testing.T, b *broker.Broker) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Errorf("close broker: %v", err)
	}
}

// crashable wraps a broker's discovery backend. Once crashed, the broker can no longer reach
// it: registrations fail and unregistering does nothing, as if its process was killed or hung.
type crashable struct {
	discovery.Discovery
	down atomic.Bool
}

var errCrashed = errors.New("cluster test: broker crashed")

func (c *crashable) Register(ctx context.Context, reg discovery.Registration) (discovery.RegisterResult, error) {
	if c.down.Load() {
		return discovery.RegisterResult{}, errCrashed
	}
	return c.Discovery.Register(ctx, reg)
}

func (c *crashable) Unregister(ctx context.Context, k discovery.BrokerKey) error {
	if c.down.Load() {
		return nil
	}
	return c.Discovery.Unregister(ctx, k)
}

// createTopic creates topic with n queues on every broker (each registers it at once).
func createTopic(t *testing.T, topic string, n int, brokers ...*broker.Broker) {
	t.Helper()
	for _, b := range brokers {
		if err := b.CreateTopic(testCtx(t, waitLimit), topic, n, n); err != nil {
			t.Fatal(err)
		}
	}
}

// routeOf returns a NameServer's raw GET_ROUTEINFO_BY_TOPIC answer: its body, or "" for
// TOPIC_NOT_EXIST.
func routeOf(t *testing.T, rc *remoting.Client, ns, topic string) string {
	t.Helper()
	req := remoting.NewRequest(remoting.GetRouteInfoByTopic, (&protocol.GetRouteInfoHeader{Topic: topic}).Encode(), nil)
	resp, err := rc.Invoke(testCtx(t, waitLimit), ns, req)
	if err != nil {
		t.Fatalf("route of %s at %s: %v", topic, ns, err)
	}
	switch remoting.Code(resp.Code) {
	case remoting.Success:
		return string(resp.Body)
	case remoting.TopicNotExist:
		return ""
	}
	t.Fatalf("route of %s at %s: code %d %q", topic, ns, resp.Code, resp.Remark)
	return ""
}

// routeBrokers returns the broker names of a route body, sorted.
func routeBrokers(t *testing.T, body string) []string {
	t.Helper()
	if body == "" {
		return nil
	}
	var rd protocol.TopicRouteData
	if err := protocol.Unmarshal([]byte(body), &rd); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range rd.BrokerDatas {
		names = append(names, b.BrokerName)
	}
	slices.Sort(names)
	return names
}

// waitRoutes waits until every NameServer of e routes topic to exactly brokers, with the same
// bytes, and returns how long it took.
func waitRoutes(t *testing.T, e *env, topic string, limit time.Duration, brokers ...string) time.Duration {
	t.Helper()
	return waitRoutesAt(t, e.addrs(), topic, limit, brokers...)
}

// waitRoutesAt is waitRoutes for NameServers by address.
func waitRoutesAt(t *testing.T, nameServers []string, topic string, limit time.Duration, brokers ...string) time.Duration {
	t.Helper()
	rc := remoting.NewClient(remoting.ClientOptions{})
	defer rc.Close()
	slices.Sort(brokers)
	return waitFor(t, fmt.Sprintf("every NameServer to route %s to %v", topic, brokers), limit, func() bool {
		first := ""
		for i, ns := range nameServers {
			body := routeOf(t, rc, ns, topic)
			if !slices.Equal(routeBrokers(t, body), brokers) || (i > 0 && body != first) {
				return false
			}
			first = body
		}
		return true
	})
}
