package etcd

import (
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/ternmq/tern/discovery/etcd/etcdtest"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// TestKilledBrokerLeaves: a broker process that dies without unregistering (its Backend
// closed: no more keepalives, leases not revoked) leaves the routes within the TTL, and a
// watcher is told.
func TestKilledBrokerLeaves(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	cfg := Config{Endpoints: []string{ep}, Prefix: "/killed", TTL: 2 * time.Second}
	reader, proc := openTest(t, cfg), openTest(t, cfg)
	events := make(chan discovery.Event, 128)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- reader.Watch(ctx, "", func(ev discovery.Event) error {
			select {
			case events <- ev:
			case <-ctx.Done():
			}
			return nil
		})
	}()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch: %v", err)
		}
	}()

	k := masterKey("broker-k", "127.0.0.1:10911")
	mustRegister(t, proc, regOf(k, 1, "Killed"))
	poll(t, waitLong, "route visible to the reader", func() bool { return hasRoute(reader, "Killed") })
	if err := proc.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(waitLong)
	for {
		select {
		case ev := <-events:
			if ev.Type == discovery.EventBrokerUnregistered && ev.Broker == k {
				if hasRoute(reader, "Killed") {
					t.Fatal("route still there after the broker's unregistered event")
				}
				return
			}
		case <-deadline:
			t.Fatal("no BROKER_UNREGISTERED after the broker's backend closed")
		}
	}
}

// TestUnregisterElsewhere: a broker registered through one backend and unregistered through
// another (stateless NameServers) is gone from both, and the first does not restore it.
func TestUnregisterElsewhere(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	cfg := Config{Endpoints: []string{ep}, Prefix: "/elsewhere", TTL: 2 * time.Second}
	x, y := openTest(t, cfg), openTest(t, cfg)
	k := masterKey("broker-a", "127.0.0.1:10911")
	mustRegister(t, x, regOf(k, 1, "Orders"))
	poll(t, waitLong, "route visible through y", func() bool { return hasRoute(y, "Orders") })
	if err := y.Unregister(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	if hasRoute(y, "Orders") {
		t.Fatal("route still there after Unregister returned")
	}
	poll(t, waitLong, "x drops the keeper of the revoked lease", func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		return len(x.keepers) == 0
	})
	if hasRoute(x, "Orders") || hasRoute(y, "Orders") {
		t.Fatal("the unregistered broker came back")
	}
}

// TestExpiry: with Config.Expiry, a broker that stops registering is dropped and its lease
// revoked, while one that keeps registering stays.
func TestExpiry(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	b := openTest(t, Config{Endpoints: []string{ep}, Prefix: "/expiry", TTL: 10 * time.Second, Expiry: time.Second})
	quiet, busy := masterKey("broker-quiet", "127.0.0.1:10911"), masterKey("broker-busy", "127.0.0.1:10921")
	mustRegister(t, b, regOf(quiet, 1, "Quiet"))
	mustRegister(t, b, regOf(busy, 1, "Busy"))
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitLong)
	for hasRoute(b, "Quiet") {
		select {
		case <-tick.C:
			mustRegister(t, b, regOf(busy, 1, "Busy")) // the busy broker's 30 s re-registration
		case <-deadline:
			t.Fatal("the quiet broker did not expire")
		}
	}
	if !hasRoute(b, "Busy") {
		t.Fatal("the busy broker expired")
	}
	if leaseOf(b, quiet) != 0 || leaseOf(b, busy) == 0 {
		t.Fatalf("leases kept: quiet %x, busy %x", leaseOf(b, quiet), leaseOf(b, busy))
	}
}

// TestPromotedSlave: an address registering under another id of its broker name leaves the
// old id, as in the NameServer.
func TestPromotedSlave(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	b := openTest(t, Config{Endpoints: []string{ep}, Prefix: "/promoted"})
	slave := discovery.BrokerKey{Cluster: "c1", BrokerName: "broker-a", BrokerID: 1, Address: "127.0.0.1:10912"}
	mustRegister(t, b, regOf(slave, 1))
	promoted := slave
	promoted.BrokerID = 0
	mustRegister(t, b, regOf(promoted, 2, "Orders"))
	ci, err := b.Brokers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ci.Brokers["broker-a"].Addresses, map[int64]string{0: slave.Address}; !reflect.DeepEqual(got, want) {
		t.Fatalf("addresses after promotion = %v, want %v", got, want)
	}
	b.mu.Lock()
	_, stale := b.keepers[slave]
	b.mu.Unlock()
	if stale {
		t.Fatal("the slave's keeper still runs after its promotion")
	}
}

// TestOmittedTopics: a master's new table keeps the topics it omits (a Java 4.x broker
// registers a new topic alone), unless DeleteTopicWithBrokerRegistration.
func TestOmittedTopics(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	for _, drop := range []bool{false, true} {
		b := openTest(t, Config{Endpoints: []string{ep}, Prefix: "/omitted/" + map[bool]string{false: "keep", true: "drop"}[drop], DeleteTopicWithBrokerRegistration: drop})
		k := masterKey("broker-a", "127.0.0.1:10911")
		mustRegister(t, b, regOf(k, 1, "Old"))
		mustRegister(t, b, regOf(k, 2, "New"))
		if !hasRoute(b, "New") || hasRoute(b, "Old") != !drop {
			t.Errorf("drop=%v: routes New %v, Old %v", drop, hasRoute(b, "New"), hasRoute(b, "Old"))
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	_, err = Open(t.Context(), Config{Endpoints: []string{addr}, DialTimeout: 300 * time.Millisecond})
	if !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("Open of an unreachable etcd: %v, want an error wrapping ErrUnavailable", err)
	}
	if _, err := Open(t.Context(), Config{}); !errors.Is(err, plugin.ErrInvalidArgument) {
		t.Fatalf("Open without endpoints: %v, want ErrInvalidArgument", err)
	}
}

func TestInit(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	b := New(nil)
	t.Cleanup(func() { _ = b.Close() })
	if _, err := b.Route(t.Context(), "T"); !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("Route before Init: %v, want ErrUnavailable", err)
	}
	if _, err := b.Init(t.Context(), map[string]any{"endpoints": ep, "bogus": 1}); !errors.Is(err, plugin.ErrInvalidArgument) {
		t.Fatalf("Init with an unknown key: %v", err)
	}
	info, err := b.Init(t.Context(), map[string]any{"endpoints": []any{ep}, "prefix": "/init", "ttl": "3s"})
	if err != nil || info != (discovery.Info{Name: Name, Version: Version}) {
		t.Fatalf("Init = %+v, %v", info, err)
	}
	if _, err := b.Init(t.Context(), map[string]any{"endpoints": ep}); err == nil {
		t.Fatal("second Init succeeded")
	}
	mustRegister(t, b, regOf(masterKey("broker-a", "127.0.0.1:10911"), 1, "T"))
	if !hasRoute(b, "T") {
		t.Fatal("no route after Register")
	}
	if got := b.cfg.TTL; got != 3*time.Second {
		t.Fatalf("TTL = %v, want 3s", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Route(t.Context(), "T"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Route after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Register(t.Context(), regOf(masterKey("broker-a", "127.0.0.1:10911"), 1)); !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("Register after Close: %v, want ErrUnavailable", err)
	}
}
