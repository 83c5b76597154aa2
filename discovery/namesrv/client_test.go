package namesrv

import (
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

func newDiscoveryClient(t *testing.T, addrs ...string) *Client {
	t.Helper()
	c := NewClient(ClientOptions{Addrs: addrs, CallTimeout: waitLimit})
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func brokerReg(name, addr string, ver int64, topics ...discovery.TopicConfig) discovery.Registration {
	return discovery.Registration{
		Broker:    discovery.BrokerKey{Cluster: "DefaultCluster", BrokerName: name, Address: addr},
		HAAddress: addr, Topics: topics, DataVersion: discovery.DataVersion{Counter: ver, Timestamp: 1000 + ver},
	}
}

func dtc(name string, queues int32) discovery.TopicConfig {
	return discovery.TopicConfig{Name: name, ReadQueueNums: queues, WriteQueueNums: queues, Perm: 6}
}

// TestClient: a Client registers at every NameServer, one of them down, and reads routes,
// brokers and topic lists back.
func TestClient(t *testing.T) {
	s1, s2 := startServer(t, nil), startServer(t, nil)
	ctx := testCtx(t)
	c := newDiscoveryClient(t, closedAddr(t), s1.Addr().String(), s2.Addr().String())
	if info, err := c.Init(ctx, nil); err != nil || info.Name != "namesrv" {
		t.Fatalf("init: %+v %v", info, err)
	}
	if _, err := c.Register(ctx, brokerReg("broker-a", "10.0.0.5:10911", 1, dtc("T", 4), dtc("U", 2))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, brokerReg("broker-b", "10.0.0.6:10911", 1, dtc("T", 8))); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Server{s1, s2} {
		if got := routeJSON(t, s.Routes(), "U"); got == "" {
			t.Fatalf("%s has no route of U", s.Addr())
		}
	}

	r, err := c.Route(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	want := discovery.Route{
		Queues: []discovery.QueueData{
			{BrokerName: "broker-a", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6},
			{BrokerName: "broker-b", ReadQueueNums: 8, WriteQueueNums: 8, Perm: 6},
		},
		Brokers: []discovery.BrokerData{
			{Cluster: "DefaultCluster", BrokerName: "broker-a", Addresses: map[int64]string{0: "10.0.0.5:10911"}},
			{Cluster: "DefaultCluster", BrokerName: "broker-b", Addresses: map[int64]string{0: "10.0.0.6:10911"}},
		},
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("route\n got %+v\nwant %+v", r, want)
	}
	if _, err := c.Route(ctx, "missing"); !errors.Is(err, plugin.ErrNotFound) {
		t.Fatalf("route of an unknown topic: %v", err)
	}
	ci, err := c.Brokers(ctx)
	if err != nil || !reflect.DeepEqual(ci.Clusters, map[string][]string{"DefaultCluster": {"broker-a", "broker-b"}}) || len(ci.Brokers) != 2 {
		t.Fatalf("brokers %+v %v", ci, err)
	}
	if ts, err := c.Topics(ctx); err != nil || !reflect.DeepEqual(ts, []string{"T", "U"}) {
		t.Fatalf("topics %v %v", ts, err)
	}
	if ts, err := c.TopicsByCluster(ctx, "DefaultCluster"); err != nil || !reflect.DeepEqual(ts, []string{"T", "U"}) {
		t.Fatalf("cluster topics %v %v", ts, err)
	}
	if err := c.Watch(ctx, "", func(discovery.Event) error { return nil }); !errors.Is(err, plugin.ErrUnsupported) {
		t.Fatalf("watch: %v", err)
	}

	if err := c.Unregister(ctx, discovery.BrokerKey{Cluster: "DefaultCluster", BrokerName: "broker-a", Address: "10.0.0.5:10911"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Route(ctx, "U"); !errors.Is(err, plugin.ErrNotFound) {
		t.Fatalf("route of U after broker-a left: %v", err)
	}
}

// TestClientUnavailable: with no NameServer up every call wraps plugin.ErrUnavailable.
func TestClientUnavailable(t *testing.T) {
	ctx := testCtx(t)
	c := newDiscoveryClient(t, closedAddr(t))
	if _, err := c.Register(ctx, brokerReg("broker-a", "10.0.0.5:10911", 1)); !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("register: %v", err)
	}
	if _, err := c.Route(ctx, "T"); !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("route: %v", err)
	}
	if err := c.Unregister(ctx, discovery.BrokerKey{BrokerName: "a", Address: "10.0.0.5:10911"}); !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("unregister: %v", err)
	}
	if _, err := newDiscoveryClient(t).Brokers(ctx); !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("brokers without addresses: %v", err)
	}
}

func TestClientInit(t *testing.T) {
	ctx := testCtx(t)
	c := newDiscoveryClient(t)
	if _, err := c.Init(ctx, map[string]any{"namesrvAddr": " 10.0.0.1:9876; ;10.0.0.2:9876"}); err != nil {
		t.Fatal(err)
	}
	if got := c.Addrs(); !reflect.DeepEqual(got, []string{"10.0.0.1:9876", "10.0.0.2:9876"}) {
		t.Fatalf("addrs %v", got)
	}
	for _, bad := range []any{"", " ; ", 42} {
		if _, err := c.Init(ctx, map[string]any{"namesrvAddr": bad}); !errors.Is(err, plugin.ErrInvalidArgument) {
			t.Fatalf("init with %v: %v", bad, err)
		}
	}
}

// TestClientHeartbeatTimeout: Registration.TTL reaches the NameServer as heartbeatTimeoutMillis
// and the broker expires after it, not after brokerChannelExpiredTime.
func TestClientHeartbeatTimeout(t *testing.T) {
	clock := &fakeClock{now: t0}
	s := startServer(t, func(c *Config) {
		c.Now = clock.Now
		c.ScanNotActiveBrokerInterval = config.Millis(time.Hour) // the test calls ExpireBrokers
	})
	ctx := testCtx(t)
	short := brokerReg("broker-a", "10.0.0.5:10911", 1, dtc("T", 4))
	short.TTL = 2 * time.Second
	long := brokerReg("broker-b", "10.0.0.6:10911", 1, dtc("U", 4))
	for _, r := range []discovery.Registration{short, long} {
		// A connection each, as brokers have: an expired broker's connection is closed.
		if _, err := newDiscoveryClient(t, s.Addr().String()).Register(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Second)
	s.ExpireBrokers()
	if routeJSON(t, s.Routes(), "T") == "" {
		t.Fatal("expired at its timeout, not after it")
	}
	clock.Advance(time.Millisecond)
	s.ExpireBrokers()
	if routeJSON(t, s.Routes(), "T") != "" || routeJSON(t, s.Routes(), "U") == "" {
		t.Fatal("want broker-a expired after its 2 s timeout and broker-b alive")
	}
	clock.Advance(120 * time.Second)
	s.ExpireBrokers()
	if routeJSON(t, s.Routes(), "U") != "" {
		t.Fatal("broker-b outlived brokerChannelExpiredTime")
	}
}

// TestClientRegisterChanged: RegisterChanged sends only the changed topics to a NameServer
// that has the broker, and the whole table to one that refuses them: one that has not seen the
// broker (restarted), and one forwarding to a discovery backend. Every NameServer ends with
// every topic.
func TestClientRegisterChanged(t *testing.T) {
	known, fresh := startServer(t, nil), startServer(t, nil)
	backed, store := startBacked(t, nil)
	ctx := testCtx(t)
	all := brokerReg("broker-a", "10.0.0.5:10911", 1, dtc("T", 4), dtc("U", 2))
	if _, err := newDiscoveryClient(t, known.Addr().String()).Register(ctx, all); err != nil {
		t.Fatal(err)
	}

	c := newDiscoveryClient(t, known.Addr().String(), fresh.Addr().String(), backed.Addr().String())
	changed := brokerReg("broker-a", "10.0.0.5:10911", 2, dtc("V", 8))
	whole := brokerReg("broker-a", "10.0.0.5:10911", 2, dtc("T", 4), dtc("U", 2), dtc("V", 8))
	wholes := 0
	if _, err := c.RegisterChanged(ctx, changed, func() discovery.Registration { wholes++; return whole }); err != nil {
		t.Fatal(err)
	}
	if wholes != 1 {
		t.Fatalf("whole table asked for %d times, want once (for the two NameServers that refuse a change)", wholes)
	}
	for name, s := range map[string]*Server{"known": known, "fresh": fresh, "backend's store": store} {
		for _, topic := range []string{"T", "U", "V"} {
			if routeJSON(t, s.Routes(), topic) == "" {
				t.Fatalf("%s NameServer has no route of %s", name, topic)
			}
		}
	}
	// The known NameServer merged the change: it kept the data version of the whole
	// registration before it.
	if v := dataVersion(known.Routes(), "10.0.0.5:10911"); v != 1 {
		t.Fatalf("the known NameServer holds version %d, want 1 (the change merged, not registered whole)", v)
	}
	if v := dataVersion(fresh.Routes(), "10.0.0.5:10911"); v != 2 {
		t.Fatalf("the fresh NameServer holds version %d, want 2 (registered whole)", v)
	}
}

// dataVersion is the data version counter r holds for the broker at addr (-1: none).
func dataVersion(r *RouteInfo, addr string) int64 {
	if _, v, ok := r.Registered(addr); ok {
		return v.Counter
	}
	return -1
}
