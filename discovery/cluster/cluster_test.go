package cluster

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// spreadFailoverConsume is the scenario both backends pass: broker-a and broker-b serve a
// topic with 4 queues each; a producer spreads its sends over both; a group of two push
// consumers shares the 8 queues and consumes every acknowledged message; broker-b stops and
// every send goes on, to broker-a, and is consumed.
func spreadFailoverConsume(t *testing.T, e *env) {
	const topic, group = "Orders", "billing"
	a := startBroker(t, "broker-a", e.newDiscovery(t), nil)
	b := startBroker(t, "broker-b", e.newDiscovery(t), nil)
	createTopic(t, topic, 4, a, b)
	took := waitRoutes(t, e, topic, waitLimit, "broker-a", "broker-b")
	t.Logf("both brokers routed at %d NameServer(s) after %v", len(e.namesrvs), took)

	l := newLedger()
	p := newProducer(t, e.addrs())
	startConsumer(t, e.addrs(), group, "consumer-1", topic, l)
	startConsumer(t, e.addrs(), group, "consumer-2", topic, l)

	// Until both consumers got messages from both brokers (the group has rebalanced).
	sendUntil(t, l, p, topic, "both", waitLimit, func() bool {
		s := l.summary()
		return len(keysAbove(s.AckedPerBroker)) == 2 && len(keysAbove(s.PerConsumer)) == 2 && len(keysAbove(s.PerBroker)) == 2
	})
	l.waitConsumed(t, waitLimit)
	s := l.summary()
	t.Logf("both up: %d acknowledged (per broker %v), consumed per consumer %v, per broker %v", s.Acked, s.AckedPerBroker, s.PerConsumer, s.PerBroker)

	// broker-b stops: sends go on, all on broker-a.
	closeBroker(t, b)
	before := s.AckedPerBroker["broker-b"]
	const after = 100
	ctx := testCtx(t, waitLimit)
	for i := range after {
		res, err := l.send(ctx, p, topic, "after-"+strconv.Itoa(i))
		if err != nil {
			t.Fatalf("send %d after broker-b stopped: %v", i, err)
		}
		if res.Queue.BrokerName != "broker-a" {
			t.Fatalf("send %d after broker-b stopped stored on %s", i, res.Queue.BrokerName)
		}
	}
	if got := l.summary().AckedPerBroker["broker-b"]; got != before {
		t.Fatalf("broker-b acknowledged %d messages after it stopped", got-before)
	}
	waitRoutes(t, e, topic, waitLimit, "broker-a")
	l.waitConsumed(t, waitLimit)
	s = l.summary()
	if s.Acked != s.Consumed || s.AckedCRC != s.ConsumedCRC {
		t.Fatalf("acknowledged %d (crc %d), consumed %d (crc %d)", s.Acked, s.AckedCRC, s.Consumed, s.ConsumedCRC)
	}
	t.Logf("done: %d acknowledged and consumed (checksum %d), %d deliveries", s.Acked, s.AckedCRC, s.Deliveries)
}

// TestNamesrvCluster: the scenario with brokers registering at an in-memory NameServer.
func TestNamesrvCluster(t *testing.T) {
	spreadFailoverConsume(t, namesrvEnv(t, nil))
}

// TestEtcdCluster: the scenario with brokers registering straight into etcd and clients asking
// two stateless NameServers on it.
func TestEtcdCluster(t *testing.T) {
	e, _ := etcdEnv(t, 2*time.Second)
	spreadFailoverConsume(t, e)
}

// TestBrokerDoesNotImportEtcd: the broker reaches etcd only through the Registrar it is given.
func TestBrokerDoesNotImportEtcd(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/ternmq/tern/core/broker").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v: %s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "etcd") {
			t.Errorf("core/broker depends on %s", pkg)
		}
	}
}
