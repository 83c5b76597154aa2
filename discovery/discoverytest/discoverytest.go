// Package discoverytest is the conformance suite of discovery backends
// (sdk/plugin/discovery.Discovery): every backend, the built-in NameServer and etcd alike,
// runs Run and must give the same answers for the same registrations.
//
// The suite only uses the Discovery interface. Reads after a write are polled until they
// match or a deadline passes (Settle may make that immediate), so backends whose reads lag
// their writes pass; no case depends on timing beyond generous deadlines.
//
// What the cases fix, in the NameServer's terms: a topic's route is the queues of every broker
// name hosting it and those names' brokers, both sorted by broker name; only a master's topics
// count; a slave learns its master's addresses; Unregister removes a broker at once (an
// unknown one is not an error) and a broker name without brokers leaves every route; a
// registration that is no longer refreshed lapses after its TTL; Watch starts with RESET and
// reports broker registrations and route changes.
//
// Not fixed (backends differ): whether topics a master's new table omits are kept, and what
// happens to a broker name's queues when its master leaves while a slave stays.
package discoverytest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// Harness is one backend under test, made fresh for each case.
type Harness struct {
	// D is the backend: the suite registers through it and reads from it.
	D discovery.Discovery
	// Process, if set, returns a Discovery through which a broker process registers, on the
	// same registry as D, and kill, which ends that process without unregistering: from then
	// on nothing refreshes its registrations (for etcd: a second Backend, closed by kill).
	// When nil, D registers and kill does nothing: the backend must lapse a registration
	// that is not registered again within its TTL.
	Process func(t *testing.T) (d discovery.Discovery, kill func())
	// Settle, if set, waits until the writes made so far are visible to D's reads.
	Settle func()
	// SupportsWatch runs the Watch cases.
	SupportsWatch bool
	// MinTTL is the shortest registration TTL the backend honours; the lapse case uses
	// max(MinTTL, 2 s).
	MinTTL time.Duration
	// LapseSlack is how long after a registration's TTL the backend may still show it (for
	// a NameServer, its expiry scan interval); 0 means 30 s.
	LapseSlack time.Duration
}

// Run runs every case as a subtest, each on a Harness newBackend makes for the subtest (it
// registers its own cleanup).
func Run(t *testing.T, newBackend func(t *testing.T) Harness) {
	cases := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"RegisterMaster", testRegisterMaster},
		{"UnknownTopic", testUnknownTopic},
		{"TwoBrokerNames", testTwoBrokerNames},
		{"ReRegisterChangedTopics", testReRegister},
		{"Slave", testSlave},
		{"SlaveTopicsIgnored", testSlaveTopicsIgnored},
		{"Unregister", testUnregister},
		{"UnregisterUnknown", testUnregisterUnknown},
		{"Lapse", testLapse},
		{"WatchEvents", testWatchEvents},
		{"WatchEnds", testWatchEnds},
		{"Concurrent", testConcurrent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newBackend(t))
		})
	}
}

// Timeouts: how long a read may lag a write, and how long one call may take.
const (
	visibleWithin = 15 * time.Second
	callTimeout   = 30 * time.Second
	pollTick      = 20 * time.Millisecond
)

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// eventually calls check until it returns nil, failing the test with its last error when
// within passes.
func eventually(t *testing.T, h Harness, within time.Duration, check func() error) {
	t.Helper()
	if h.Settle != nil {
		h.Settle()
	}
	deadline := time.Now().Add(within)
	tick := time.NewTicker(pollTick)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", within, err)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("test ended: %v", err)
		}
	}
}

// Builders of test data.

const cluster = "DefaultCluster"

func master(name, addr string) discovery.BrokerKey {
	return discovery.BrokerKey{Cluster: cluster, BrokerName: name, BrokerID: 0, Address: addr}
}

func topic(name string, queues int32) discovery.TopicConfig {
	return discovery.TopicConfig{Name: name, ReadQueueNums: queues, WriteQueueNums: queues, Perm: 6}
}

func reg(k discovery.BrokerKey, version int64, topics ...discovery.TopicConfig) discovery.Registration {
	return discovery.Registration{
		Broker: k, HAAddress: haOf(k.Address), Topics: topics,
		DataVersion: discovery.DataVersion{Counter: version, Timestamp: 1_700_000_000_000 + version},
	}
}

// haOf is the HA address the suite registers for a broker address.
func haOf(addr string) string { return "ha-" + addr }

func queue(name string, queues int32) discovery.QueueData {
	return discovery.QueueData{BrokerName: name, ReadQueueNums: queues, WriteQueueNums: queues, Perm: 6}
}

func brokerData(name string, addrs map[int64]string) discovery.BrokerData {
	return discovery.BrokerData{Cluster: cluster, BrokerName: name, Addresses: addrs}
}

func register(t *testing.T, d discovery.Discovery, r discovery.Registration) discovery.RegisterResult {
	t.Helper()
	res, err := d.Register(ctxOf(t), r)
	if err != nil {
		t.Fatalf("Register %s/%d %s: %v", r.Broker.BrokerName, r.Broker.BrokerID, r.Broker.Address, err)
	}
	return res
}

// Checks: each returns an error saying how the backend differs.

func routeIs(ctx context.Context, d discovery.Discovery, topic string, want discovery.Route) error {
	got, err := d.Route(ctx, topic)
	if err != nil {
		return fmt.Errorf("Route(%s): %w", topic, err)
	}
	if got.Queues == nil {
		got.Queues = []discovery.QueueData{}
	}
	if got.Brokers == nil {
		got.Brokers = []discovery.BrokerData{}
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("Route(%s) = %+v, want %+v", topic, got, want)
	}
	return nil
}

func brokersAre(ctx context.Context, d discovery.Discovery, want discovery.ClusterInfo) error {
	got, err := d.Brokers(ctx)
	if err != nil {
		return fmt.Errorf("Brokers: %w", err)
	}
	for _, ci := range []*discovery.ClusterInfo{&got, &want} {
		if ci.Brokers == nil {
			ci.Brokers = map[string]discovery.BrokerData{}
		}
		if ci.Clusters == nil {
			ci.Clusters = map[string][]string{}
		}
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("Brokers = %+v, want %+v", got, want)
	}
	return nil
}

func routeNotFound(ctx context.Context, d discovery.Discovery, topic string) error {
	r, err := d.Route(ctx, topic)
	switch {
	case err == nil:
		return fmt.Errorf("Route(%s) = %+v, want an error wrapping plugin.ErrNotFound", topic, r)
	case !errors.Is(err, plugin.ErrNotFound):
		return fmt.Errorf("Route(%s): %w, want an error wrapping plugin.ErrNotFound", topic, err)
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, plugin.ErrNotFound) }
