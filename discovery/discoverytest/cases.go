package discoverytest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/sdk/plugin/discovery"
)

const (
	addrA  = "127.0.0.1:10911"
	addrA1 = "127.0.0.1:10921" // broker-a's slave
	addrB  = "127.0.0.1:10931"
)

func testRegisterMaster(t *testing.T, h Harness) {
	ctx := ctxOf(t)
	res := register(t, h.D, reg(master("broker-a", addrA), 1, topic("Orders", 4), topic("Payments", 8)))
	if res != (discovery.RegisterResult{}) {
		t.Errorf("Register of a master = %+v, want the zero result", res)
	}
	bd := brokerData("broker-a", map[int64]string{0: addrA})
	eventually(t, h, visibleWithin, func() error {
		if err := routeIs(ctx, h.D, "Orders", discovery.Route{Queues: []discovery.QueueData{queue("broker-a", 4)}, Brokers: []discovery.BrokerData{bd}}); err != nil {
			return err
		}
		if err := routeIs(ctx, h.D, "Payments", discovery.Route{Queues: []discovery.QueueData{queue("broker-a", 8)}, Brokers: []discovery.BrokerData{bd}}); err != nil {
			return err
		}
		return brokersAre(ctx, h.D, discovery.ClusterInfo{
			Brokers:  map[string]discovery.BrokerData{"broker-a": bd},
			Clusters: map[string][]string{cluster: {"broker-a"}},
		})
	})
}

func testUnknownTopic(t *testing.T, h Harness) {
	ctx := ctxOf(t)
	if err := routeNotFound(ctx, h.D, "NoSuchTopic"); err != nil {
		t.Fatal(err)
	}
	if err := brokersAre(ctx, h.D, discovery.ClusterInfo{}); err != nil {
		t.Fatalf("empty registry: %v", err)
	}
	register(t, h.D, reg(master("broker-a", addrA), 1, topic("Orders", 4)))
	eventually(t, h, visibleWithin, func() error { return routeIsSome(ctx, h.D, "Orders") })
	if err := routeNotFound(ctx, h.D, "NoSuchTopic"); err != nil {
		t.Fatal(err)
	}
}

// routeIsSome checks that a topic has a route.
func routeIsSome(ctx context.Context, d discovery.Discovery, topic string) error {
	_, err := d.Route(ctx, topic)
	return err
}

func testTwoBrokerNames(t *testing.T, h Harness) {
	ctx := ctxOf(t)
	register(t, h.D, reg(master("broker-b", addrB), 1, topic("Orders", 2), topic("OnlyB", 1)))
	register(t, h.D, reg(master("broker-a", addrA), 1, topic("Orders", 4)))
	a := brokerData("broker-a", map[int64]string{0: addrA})
	b := brokerData("broker-b", map[int64]string{0: addrB})
	eventually(t, h, visibleWithin, func() error {
		if err := routeIs(ctx, h.D, "Orders", discovery.Route{
			Queues:  []discovery.QueueData{queue("broker-a", 4), queue("broker-b", 2)},
			Brokers: []discovery.BrokerData{a, b},
		}); err != nil {
			return err
		}
		if err := routeIs(ctx, h.D, "OnlyB", discovery.Route{Queues: []discovery.QueueData{queue("broker-b", 1)}, Brokers: []discovery.BrokerData{b}}); err != nil {
			return err
		}
		return brokersAre(ctx, h.D, discovery.ClusterInfo{
			Brokers:  map[string]discovery.BrokerData{"broker-a": a, "broker-b": b},
			Clusters: map[string][]string{cluster: {"broker-a", "broker-b"}},
		})
	})
}

func testReRegister(t *testing.T, h Harness) {
	ctx := ctxOf(t)
	k := master("broker-a", addrA)
	register(t, h.D, reg(k, 1, topic("Orders", 4)))
	bd := []discovery.BrokerData{brokerData("broker-a", map[int64]string{0: addrA})}
	eventually(t, h, visibleWithin, func() error {
		return routeIs(ctx, h.D, "Orders", discovery.Route{Queues: []discovery.QueueData{queue("broker-a", 4)}, Brokers: bd})
	})
	// A new data version with the topic changed and one added.
	register(t, h.D, reg(k, 2, topic("Orders", 8), topic("Refunds", 2)))
	eventually(t, h, visibleWithin, func() error {
		if err := routeIs(ctx, h.D, "Orders", discovery.Route{Queues: []discovery.QueueData{queue("broker-a", 8)}, Brokers: bd}); err != nil {
			return err
		}
		return routeIs(ctx, h.D, "Refunds", discovery.Route{Queues: []discovery.QueueData{queue("broker-a", 2)}, Brokers: bd})
	})
	// A refresh: same data version, same table.
	register(t, h.D, reg(k, 2, topic("Orders", 8), topic("Refunds", 2)))
	eventually(t, h, visibleWithin, func() error {
		return routeIs(ctx, h.D, "Orders", discovery.Route{Queues: []discovery.QueueData{queue("broker-a", 8)}, Brokers: bd})
	})
}

func testSlave(t *testing.T, h Harness) {
	ctx := ctxOf(t)
	register(t, h.D, reg(master("broker-a", addrA), 1, topic("Orders", 4)))
	slave := discovery.BrokerKey{Cluster: cluster, BrokerName: "broker-a", BrokerID: 1, Address: addrA1}
	var res discovery.RegisterResult
	eventually(t, h, visibleWithin, func() error {
		// A backend may answer a slave from what it has read of the master so far.
		res = register(t, h.D, reg(slave, 1, topic("Orders", 4)))
		if want := (discovery.RegisterResult{MasterAddress: addrA, HAAddress: haOf(addrA)}); res != want {
			return fmt.Errorf("Register of the slave = %+v, want %+v", res, want)
		}
		return nil
	})
	bd := brokerData("broker-a", map[int64]string{0: addrA, 1: addrA1})
	eventually(t, h, visibleWithin, func() error {
		if err := routeIs(ctx, h.D, "Orders", discovery.Route{Queues: []discovery.QueueData{queue("broker-a", 4)}, Brokers: []discovery.BrokerData{bd}}); err != nil {
			return err
		}
		return brokersAre(ctx, h.D, discovery.ClusterInfo{
			Brokers:  map[string]discovery.BrokerData{"broker-a": bd},
			Clusters: map[string][]string{cluster: {"broker-a"}},
		})
	})
}

func testSlaveTopicsIgnored(t *testing.T, h Harness) {
	ctx := ctxOf(t)
	slave := discovery.BrokerKey{Cluster: cluster, BrokerName: "broker-a", BrokerID: 1, Address: addrA1}
	register(t, h.D, reg(slave, 1, topic("SlaveOnly", 4)))
	register(t, h.D, reg(master("broker-b", addrB), 1, topic("Marker", 1)))
	eventually(t, h, visibleWithin, func() error {
		return brokersAre(ctx, h.D, discovery.ClusterInfo{
			Brokers: map[string]discovery.BrokerData{
				"broker-a": brokerData("broker-a", map[int64]string{1: addrA1}),
				"broker-b": brokerData("broker-b", map[int64]string{0: addrB}),
			},
			Clusters: map[string][]string{cluster: {"broker-a", "broker-b"}},
		})
	})
	eventually(t, h, visibleWithin, func() error { return routeIsSome(ctx, h.D, "Marker") })
	if err := routeNotFound(ctx, h.D, "SlaveOnly"); err != nil {
		t.Fatal(err)
	}
}

func testUnregister(t *testing.T, h Harness) {
	ctx := ctxOf(t)
	a, b := master("broker-a", addrA), master("broker-b", addrB)
	register(t, h.D, reg(a, 1, topic("Orders", 4)))
	register(t, h.D, reg(b, 1, topic("Orders", 2), topic("OnlyB", 1)))
	eventually(t, h, visibleWithin, func() error { return routeIsSome(ctx, h.D, "OnlyB") })
	if err := h.D.Unregister(ctx, b); err != nil {
		t.Fatalf("Unregister: %v", err)
	}
	bd := brokerData("broker-a", map[int64]string{0: addrA})
	eventually(t, h, visibleWithin, func() error {
		if err := routeNotFound(ctx, h.D, "OnlyB"); err != nil {
			return err
		}
		if err := routeIs(ctx, h.D, "Orders", discovery.Route{Queues: []discovery.QueueData{queue("broker-a", 4)}, Brokers: []discovery.BrokerData{bd}}); err != nil {
			return err
		}
		return brokersAre(ctx, h.D, discovery.ClusterInfo{
			Brokers:  map[string]discovery.BrokerData{"broker-a": bd},
			Clusters: map[string][]string{cluster: {"broker-a"}},
		})
	})
	if err := h.D.Unregister(ctx, b); err != nil {
		t.Fatalf("second Unregister: %v", err)
	}
	if err := h.D.Unregister(ctx, a); err != nil {
		t.Fatalf("Unregister: %v", err)
	}
	eventually(t, h, visibleWithin, func() error {
		if err := routeNotFound(ctx, h.D, "Orders"); err != nil {
			return err
		}
		return brokersAre(ctx, h.D, discovery.ClusterInfo{})
	})
}

func testUnregisterUnknown(t *testing.T, h Harness) {
	ctx := ctxOf(t)
	if err := h.D.Unregister(ctx, master("never-registered", addrB)); err != nil {
		t.Fatalf("Unregister of an unknown broker: %v", err)
	}
	a := master("broker-a", addrA)
	register(t, h.D, reg(a, 1, topic("Orders", 4)))
	eventually(t, h, visibleWithin, func() error { return routeIsSome(ctx, h.D, "Orders") })
	// The same broker id under another address is not the registered broker.
	if err := h.D.Unregister(ctx, master("broker-a", addrB)); err != nil {
		t.Fatalf("Unregister of another address: %v", err)
	}
	register(t, h.D, reg(master("broker-z", addrB), 1, topic("Marker", 1)))
	eventually(t, h, visibleWithin, func() error { return routeIsSome(ctx, h.D, "Marker") })
	if err := routeIsSome(ctx, h.D, "Orders"); err != nil {
		t.Fatalf("after Unregister of another address: %v", err)
	}
}

func testLapse(t *testing.T, h Harness) {
	ctx := ctxOf(t)
	d, kill := h.D, func() {}
	if h.Process != nil {
		d, kill = h.Process(t)
	}
	ttl := max(h.MinTTL, 2*time.Second)
	slack := h.LapseSlack
	if slack == 0 {
		slack = 30 * time.Second
	}
	r := reg(master("broker-short", addrB), 1, topic("Short", 1))
	r.TTL = ttl
	register(t, d, r)
	register(t, h.D, reg(master("broker-a", addrA), 1, topic("Orders", 4)))
	eventually(t, h, visibleWithin, func() error { return routeIsSome(ctx, h.D, "Short") })
	kill()
	eventually(t, h, ttl+slack, func() error { return routeNotFound(ctx, h.D, "Short") })
	bd := brokerData("broker-a", map[int64]string{0: addrA})
	eventually(t, h, visibleWithin, func() error {
		return brokersAre(ctx, h.D, discovery.ClusterInfo{
			Brokers:  map[string]discovery.BrokerData{"broker-a": bd},
			Clusters: map[string][]string{cluster: {"broker-a"}},
		})
	})
}

func testConcurrent(t *testing.T, h Harness) {
	ctx := ctxOf(t)
	const brokers, rounds, readers = 8, 4, 4
	done := make(chan struct{})
	var readWG, wg sync.WaitGroup
	for range readers {
		readWG.Go(func() {
			tick := time.NewTicker(time.Millisecond) // pace the readers on a busy machine
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				if _, err := h.D.Route(ctx, "Shared"); err != nil && ctx.Err() == nil && !isNotFound(err) {
					t.Errorf("Route: %v", err)
					return
				}
				if _, err := h.D.Brokers(ctx); err != nil {
					t.Errorf("Brokers: %v", err)
					return
				}
			}
		})
	}
	want := discovery.Route{}
	ci := discovery.ClusterInfo{Brokers: map[string]discovery.BrokerData{}, Clusters: map[string][]string{}}
	for i := range brokers {
		name, addr := fmt.Sprintf("broker-%d", i), fmt.Sprintf("127.0.0.1:%d", 11000+i)
		want.Queues = append(want.Queues, queue(name, rounds))
		bd := brokerData(name, map[int64]string{0: addr})
		want.Brokers = append(want.Brokers, bd)
		ci.Brokers[name] = bd
		ci.Clusters[cluster] = append(ci.Clusters[cluster], name)
		wg.Go(func() {
			for round := range int64(rounds) {
				if _, err := h.D.Register(ctx, reg(master(name, addr), round+1, topic("Shared", int32(round+1)))); err != nil {
					t.Errorf("Register %s: %v", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readWG.Wait()
	if t.Failed() {
		return
	}
	eventually(t, h, visibleWithin, func() error {
		if err := routeIs(ctx, h.D, "Shared", want); err != nil {
			return err
		}
		return brokersAre(ctx, h.D, ci)
	})
}
