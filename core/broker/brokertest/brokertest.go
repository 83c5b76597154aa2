// Package brokertest starts a NameServer and a broker in the test process, on ephemeral
// loopback ports and a temporary data directory, for integration tests of the broker, the SDK
// and the tools. Like `tern dev`, the broker evaluates subscriptions with the built-in filter
// plugins of the default manifest (TAG, CEL, SQL92), in process.
package brokertest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/discovery/namesrv"
	"github.com/ternmq/tern/plugins/builtin"
	"github.com/ternmq/tern/plugins/host"
	"github.com/ternmq/tern/plugins/manifest"
)

// Cluster is a running NameServer and broker.
type Cluster struct {
	NS          *namesrv.Server
	Broker      *broker.Broker
	NamesrvAddr string
	BrokerAddr  string
	Config      broker.Config
}

// Logger returns a logger for tests: warnings and errors on stderr, or everything with
// TERN_TEST_LOG=debug.
func Logger() *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv("TERN_TEST_LOG") == "debug" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// Start starts a NameServer and a broker with small files; configure may change the broker's
// configuration first. Both stop when the test ends.
func Start(t testing.TB, configure func(*broker.Config)) *Cluster {
	t.Helper()
	return StartConfigured(t, nil, configure)
}

// StartConfigured is Start with the NameServer's configuration changed by configureNS first
// (TLS settings, connection limits).
func StartConfigured(t testing.TB, configureNS func(*namesrv.Config), configure func(*broker.Config)) *Cluster {
	t.Helper()
	log := Logger()
	nscfg := namesrv.DefaultConfig()
	nscfg.ListenAddr = "127.0.0.1:0"
	if configureNS != nil {
		configureNS(&nscfg)
	}
	ns := namesrv.New(nscfg, log.With("component", "namesrv"))
	if err := ns.Start(); err != nil {
		t.Fatalf("start namesrv: %v", err)
	}
	t.Cleanup(func() { ns.Close(context.Background()) })
	c := &Cluster{NS: ns, NamesrvAddr: ns.Addr().String()}
	c.Config = broker.DefaultConfig(t.TempDir())
	c.Config.ListenAddr, c.Config.BrokerAddr, c.Config.NamesrvAddr = "127.0.0.1:0", "127.0.0.1:0", c.NamesrvAddr
	c.Config.Store.MappedFileSizeCommitLog = 64 << 20
	c.Config.Store.MappedFileSizeConsumeQueue = 20 * 100_000
	c.Config.Store.MaxHashSlotNum, c.Config.Store.MaxIndexNum = 10_000, 100_000
	c.Config.Store.DiskUsage = func(string) (float64, error) { return 0.1, nil }
	h := builtinPlugins(t, log)
	c.Config.Filters = broker.FiltersOf(h.Filter)
	c.Config.Schedulers = broker.SchedulersOf(h.Schedulers())
	if tc, ok := h.TxChecker(); ok {
		c.Config.TxChecker = tc
	}
	if configure != nil {
		configure(&c.Config)
	}
	c.startBroker(t)
	return c
}

func (c *Cluster) startBroker(t testing.TB) {
	t.Helper()
	b, err := broker.New(c.Config, Logger().With("component", "broker"))
	if err != nil {
		t.Fatalf("new broker: %v", err)
	}
	if err := b.Start(context.Background()); err != nil {
		b.Close(context.Background())
		t.Fatalf("start broker: %v", err)
	}
	c.Broker, c.BrokerAddr = b, b.AdvertisedAddr()
	t.Cleanup(func() { c.StopBroker(t) })
}

// StopBroker closes the broker (cleanly) if it runs.
func (c *Cluster) StopBroker(t testing.TB) {
	if c.Broker == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Broker.Close(ctx); err != nil {
		t.Errorf("close broker: %v", err)
	}
	c.Broker = nil
}

// RestartBroker stops the broker and starts it again on the same data and address.
func (c *Cluster) RestartBroker(t testing.TB) {
	t.Helper()
	c.StopBroker(t)
	c.Config.ListenAddr, c.Config.BrokerAddr = c.BrokerAddr, c.BrokerAddr
	c.startBroker(t)
}

// CreateTopic creates (or updates) a topic with n read and write queues on the broker, as
// `tern admin topic create` does, and registers it at the NameServer at once.
func (c *Cluster) CreateTopic(topic string, n int) error {
	return c.Broker.CreateTopic(context.Background(), topic, n, n)
}

// builtinPlugins starts a plugin host with the default manifest's built-ins (filters, the
// levels scheduler, the producer transaction checker), closed when the test ends.
func builtinPlugins(t testing.TB, log *slog.Logger) *host.Host {
	t.Helper()
	h := host.New(manifest.Default(), host.Options{Logger: log.With("component", "plugins"), Builtins: builtin.Registry()})
	if err := h.Start(context.Background()); err != nil {
		t.Fatalf("start the built-in plugins: %v", err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// StartSlave starts a slave of c's broker (brokerRole SLAVE, brokerId 1, the same broker name
// and segment sizes) registering with c's NameServer; configure may change its configuration
// first. It stops when the test ends.
func (c *Cluster) StartSlave(t testing.TB, configure func(*broker.Config)) *Cluster {
	t.Helper()
	s := &Cluster{NS: c.NS, NamesrvAddr: c.NamesrvAddr}
	s.Config = c.Config
	s.Config.Store = c.Config.Store
	s.Config.Store.StorePathRootDir = t.TempDir()
	s.Config.ConfigDir = ""
	s.Config.ListenAddr, s.Config.BrokerAddr = "127.0.0.1:0", "127.0.0.1:0"
	s.Config.BrokerRole, s.Config.BrokerID, s.Config.HAListenAddr = broker.RoleSlave, 1, "off"
	if configure != nil {
		configure(&s.Config)
	}
	s.startBroker(t)
	return s
}

// WaitFor polls cond, state that brokers running in this process reach through their own
// goroutines (a slave in sync, an election won), until it holds; it fails t after limit.
func WaitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond) // polling: the brokers get there on their own
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		<-tick.C
	}
}
