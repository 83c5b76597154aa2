package etcd

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ternmq/tern/discovery/etcd/etcdtest"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// Etcd-specific tests: what the conformance suite cannot say through the interface.

const waitLong = 30 * time.Second

func masterKey(name, addr string) discovery.BrokerKey {
	return discovery.BrokerKey{Cluster: "c1", BrokerName: name, Address: addr}
}

func regOf(k discovery.BrokerKey, version int64, topics ...string) discovery.Registration {
	r := discovery.Registration{Broker: k, HAAddress: "ha-" + k.Address, DataVersion: discovery.DataVersion{Counter: version}}
	for _, name := range topics {
		r.Topics = append(r.Topics, discovery.TopicConfig{Name: name, ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6})
	}
	return r
}

func mustRegister(t *testing.T, b *Backend, r discovery.Registration) {
	t.Helper()
	if _, err := b.Register(t.Context(), r); err != nil {
		t.Fatalf("Register %s: %v", r.Broker.Address, err)
	}
}

// poll calls cond every 20 ms until it is true, failing the test after within.
func poll(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatalf("%s: test ended", what)
		}
	}
}

func hasRoute(b *Backend, topic string) bool {
	_, err := b.Route(context.Background(), topic)
	return err == nil
}

// leaseOf returns the lease a backend keeps alive for a broker (0: none, or lost).
func leaseOf(b *Backend, k discovery.BrokerKey) clientv3.LeaseID {
	b.mu.Lock()
	kp := b.keepers[k]
	b.mu.Unlock()
	if kp == nil {
		return clientv3.NoLease
	}
	return kp.leaseID()
}

func newClient(t *testing.T, ep string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// TestEtcdLostAndBack: while etcd is down the cache keeps answering and Register fails as
// unavailable; when etcd has been down longer than the TTL and comes back, the backend
// restores the registration under a new lease by itself, and it outlives the old lease.
func TestEtcdLostAndBack(t *testing.T) {
	ep, stop, restart := etcdtest.Start(t)
	cfg := Config{Endpoints: []string{ep}, Prefix: "/lost", TTL: 2 * time.Second, DialTimeout: time.Second}
	b := openTest(t, cfg)
	k := masterKey("broker-a", "127.0.0.1:10911")
	mustRegister(t, b, regOf(k, 1, "Orders"))
	old := leaseOf(b, k)
	if old == clientv3.NoLease {
		t.Fatal("no lease kept alive after Register")
	}

	stop()
	short, cancel := context.WithTimeout(t.Context(), time.Second)
	_, err := b.Register(short, regOf(masterKey("broker-b", "127.0.0.1:10921"), 1, "Other"))
	cancel()
	if !errors.Is(err, plugin.ErrUnavailable) {
		t.Errorf("Register with etcd down: %v, want an error wrapping ErrUnavailable", err)
	}
	poll(t, waitLong, "keepalive gives the lease up", func() bool { return leaseOf(b, k) == clientv3.NoLease })
	if !hasRoute(b, "Orders") {
		t.Error("Route from the cache failed while etcd is down")
	}
	if ci, err := b.Brokers(t.Context()); err != nil || len(ci.Brokers) != 1 {
		t.Errorf("Brokers from the cache while etcd is down = %+v, %v", ci, err)
	}

	restart()
	poll(t, waitLong, "registration restored under a new lease", func() bool {
		l := leaseOf(b, k)
		return l != clientv3.NoLease && l != old
	})
	cli := newClient(t, ep)
	poll(t, waitLong, "the old lease lapses", func() bool {
		ttl, err := cli.TimeToLive(t.Context(), old)
		return err == nil && ttl.TTL == -1
	})
	resp, err := cli.Get(t.Context(), b.keys.broker("broker-a", 0))
	if err != nil || len(resp.Kvs) != 1 || clientv3.LeaseID(resp.Kvs[0].Lease) != leaseOf(b, k) {
		t.Fatalf("broker key after the old lease lapsed: %+v, %v; want it under lease %x", resp, err, leaseOf(b, k))
	}
	fresh := openTest(t, cfg)
	if !hasRoute(fresh, "Orders") || !hasRoute(b, "Orders") {
		t.Fatal("no route of Orders after etcd came back")
	}
	// b's cache follows etcd again.
	mustRegister(t, fresh, regOf(masterKey("broker-c", "127.0.0.1:10931"), 1, "AfterRestart"))
	poll(t, waitLong, "a registration after the restart reaches the first backend", func() bool { return hasRoute(b, "AfterRestart") })
}

// TestTwoBackendsAgree: two backends on one prefix (two stateless NameServers) at one revision
// give identical answers, whichever registered what.
func TestTwoBackendsAgree(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	cfg := Config{Endpoints: []string{ep}, Prefix: "/agree"}
	x, y := openTest(t, cfg), openTest(t, cfg)
	slave := discovery.BrokerKey{Cluster: "c1", BrokerName: "broker-a", BrokerID: 1, Address: "127.0.0.1:10912"}
	other := discovery.BrokerKey{Cluster: "c2", BrokerName: "broker-z", Address: "127.0.0.1:10931"}
	mustRegister(t, x, regOf(masterKey("broker-a", "127.0.0.1:10911"), 1, "T1", "T2"))
	mustRegister(t, y, regOf(masterKey("broker-b", "127.0.0.1:10921"), 1, "T1", "T3"))
	mustRegister(t, y, regOf(slave, 1))
	mustRegister(t, x, regOf(other, 1, "T4"))
	mustRegister(t, x, regOf(masterKey("broker-c", "127.0.0.1:10941"), 1, "T1"))
	if err := y.Unregister(t.Context(), masterKey("broker-c", "127.0.0.1:10941")); err != nil {
		t.Fatal(err)
	}
	head, err := newClient(t, ep).Get(t.Context(), "/agree/none")
	if err != nil {
		t.Fatal(err)
	}
	poll(t, waitLong, "both caches at the newest revision", func() bool {
		return x.Revision() == y.Revision() && x.Revision() >= head.Header.Revision
	})

	ctx := t.Context()
	snap := func(b *Backend) []any {
		out := []any{b.Revision()}
		ci, err := b.Brokers(ctx)
		topics, err2 := b.Topics(ctx)
		c1, err3 := b.TopicsByCluster(ctx, "c1")
		out = append(out, ci, topics, c1, errors.Join(err, err2, err3))
		for _, topic := range []string{"T1", "T2", "T3", "T4", "nope"} {
			r, err := b.Route(ctx, topic)
			out = append(out, r, fmt.Sprint(err))
		}
		return out
	}
	sx, sy := snap(x), snap(y)
	if !reflect.DeepEqual(sx, sy) {
		t.Fatalf("backends at one revision differ:\n%+v\n%+v", sx, sy)
	}
	r, err := x.Route(ctx, "T1")
	if err != nil || len(r.Queues) != 2 || len(r.Brokers) != 2 || len(r.Brokers[0].Addresses) != 2 {
		t.Fatalf("Route(T1) = %+v, %v; want broker-a (master and slave) and broker-b", r, err)
	}
}
