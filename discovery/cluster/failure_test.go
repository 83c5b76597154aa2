package cluster

import (
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/discovery/namesrv"
)

// TestEtcdCrashedBrokerLeaves: a broker that dies without unregistering (its lease is neither
// revoked nor kept alive) leaves the routes of both NameServers after the lease TTL, and the
// two NameServers answer alike all along.
func TestEtcdCrashedBrokerLeaves(t *testing.T) {
	const topic, ttl = "Crash", 2 * time.Second
	e, ec := etcdEnv(t, ttl)
	a := startBroker(t, "broker-a", e.newDiscovery(t), nil)
	bBackend := ec.open(t)
	bDisc := &crashable{Discovery: bBackend}
	b := startBroker(t, "broker-b", bDisc, nil)
	createTopic(t, topic, 4, a, b)
	waitRoutes(t, e, topic, waitLimit, "broker-a", "broker-b")

	bDisc.down.Store(true)
	closeBroker(t, b)
	if err := bBackend.Close(); err != nil { // stops the keepalive; revokes nothing
		t.Fatal(err)
	}
	took := waitRoutes(t, e, topic, waitLimit, "broker-a")
	t.Logf("broker-b left the routes of both NameServers %v after it died (lease TTL %v)", took, ttl)
}

// TestEtcdOutage: while etcd is down, brokers keep serving the producers and consumers they
// have (the NameServers answer from their caches); a topic created meanwhile is registered once
// etcd returns, and both brokers are still registered.
func TestEtcdOutage(t *testing.T) {
	const topic, group = "Outage", "outage-group"
	e, ec := etcdEnv(t, 2*time.Second)
	a := startBroker(t, "broker-a", e.newDiscovery(t), nil)
	b := startBroker(t, "broker-b", e.newDiscovery(t), nil)
	createTopic(t, topic, 2, a, b)
	waitRoutes(t, e, topic, waitLimit, "broker-a", "broker-b")
	l := newLedger()
	p := newProducer(t, e.addrs())
	startConsumer(t, e.addrs(), group, "consumer-1", topic, l)
	sendUntil(t, l, p, topic, "before", waitLimit, func() bool { return len(keysAbove(l.summary().PerBroker)) == 2 })
	l.waitConsumed(t, waitLimit)

	ec.stop()
	n := sendUntil(t, l, p, topic, "during", waitLimit, func() bool { return true })
	l.waitConsumed(t, waitLimit)
	createTopic(t, "Late", 2, a) // cannot register now
	t.Logf("etcd down: %d more sent and consumed; %+v", n, l.summary().AckedPerBroker)

	ec.restart()
	took := waitRoutes(t, e, "Late", waitLimit, "broker-a")
	t.Logf("a topic created during the outage was routed %v after etcd returned", took)
	waitRoutes(t, e, topic, waitLimit, "broker-a", "broker-b")
	sendUntil(t, l, p, topic, "after", waitLimit, func() bool { return true })
	l.waitConsumed(t, waitLimit)
	s := l.summary()
	if s.Acked != s.Consumed || s.AckedCRC != s.ConsumedCRC {
		t.Fatalf("acknowledged %d (crc %d), consumed %d (crc %d)", s.Acked, s.AckedCRC, s.Consumed, s.ConsumedCRC)
	}
}

// TestNamesrvConnectionClosed: a broker whose connection to the NameServer closes leaves the
// route at once, unregistered or not (RocketMQ's onChannelDestroy).
func TestNamesrvConnectionClosed(t *testing.T) {
	const topic = "ConnClosed"
	e := namesrvEnv(t, nil)
	a := startBroker(t, "broker-a", e.newDiscovery(t), nil)
	bClient := namesrv.NewClient(namesrv.ClientOptions{Addrs: e.addrs(), Logger: logger()})
	t.Cleanup(func() { bClient.Close() })
	bDisc := &crashable{Discovery: bClient}
	b := startBroker(t, "broker-b", bDisc, nil)
	createTopic(t, topic, 4, a, b)
	waitRoutes(t, e, topic, waitLimit, "broker-a", "broker-b")

	bDisc.down.Store(true)
	closeBroker(t, b)
	bClient.Close()
	took := waitRoutes(t, e, topic, waitLimit, "broker-a")
	t.Logf("broker-b left the route %v after its connection closed", took)
}

// TestNamesrvExpiry: a broker that stays connected but stops registering leaves the route
// after the NameServer's brokerChannelExpiredTime (2 s here); a broker that registered a longer
// heartbeatTimeoutMillis (registrationTTL) stays.
func TestNamesrvExpiry(t *testing.T) {
	const topic, expiry = "Expiry", 2 * time.Second
	e := namesrvEnv(t, func(c *namesrv.Config) {
		c.BrokerChannelExpiredTime = config.Millis(expiry)
		c.ScanNotActiveBrokerInterval = config.Millis(100 * time.Millisecond)
	})
	a := startBroker(t, "broker-a", e.newDiscovery(t), func(c *broker.Config) { c.RegistrationTTL = config.Millis(time.Minute) })
	bDisc := &crashable{Discovery: e.newDiscovery(t)}
	b := startBroker(t, "broker-b", bDisc, nil)
	createTopic(t, topic, 4, a, b)
	waitRoutes(t, e, topic, waitLimit, "broker-a", "broker-b")

	bDisc.down.Store(true) // hung: connected, silent
	took := waitRoutes(t, e, topic, waitLimit, "broker-a")
	t.Logf("silent broker-b left the route %v after its last registration could have been refreshed (expiry %v)", took, expiry)
}
