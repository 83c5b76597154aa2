package election

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/discovery/etcd/etcdtest"
)

// TestDeposedMasterRefusesWrites runs two brokers of one group electing through a real etcd:
// the elected master is partitioned from etcd (its connection goes through a proxy that is cut).
// It fences itself — Fenced closes and sends are refused with SERVICE_NOT_AVAILABLE — and the
// other broker is elected with a higher epoch.
func TestDeposedMasterRefusesWrites(t *testing.T) {
	endpoint, _, _ := etcdtest.Start(t)
	proxy := etcdtest.NewProxy(t, endpoint)
	elect := func(id int64, ep string) broker.Election {
		return ForBroker([]string{ep}, Config{Prefix: "/fence", Group: "broker-fence", BrokerID: id, TTL: testTTL, Settle: 200 * time.Millisecond, Logger: brokertest.Logger()})
	}
	a := brokertest.Start(t, func(c *broker.Config) {
		c.BrokerName, c.BrokerID, c.HAListenAddr = "broker-fence", 1, "127.0.0.1:0"
		c.Election = elect(1, proxy.Endpoint())
	})
	waitUntil(t, 10*time.Second, "the first broker elected", a.Broker.IsMaster)
	b := a.StartSlave(t, func(c *broker.Config) {
		c.BrokerRole, c.BrokerID, c.HAListenAddr = broker.RoleAsyncMaster, 2, "127.0.0.1:0"
		c.Election = elect(2, endpoint)
	})
	waitUntil(t, 10*time.Second, "the second broker follows", func() bool {
		st := b.Broker.HAStatus()
		return st.Slave != nil && st.Slave.Connected
	})
	epoch := a.Broker.HAStatus().Epoch

	rc := remoting.NewClient(remoting.ClientOptions{})
	defer rc.Close()
	send := func(addr string) error {
		h := protocol.SendMessageHeader{ProducerGroup: "g", Topic: "FenceTopic", DefaultTopic: protocol.AutoCreateTopic, DefaultTopicQueueNums: 4, QueueID: 0, BornTimestamp: time.Now().UnixMilli()}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := rc.Invoke(ctx, addr, remoting.NewRequest(remoting.SendMessageV2, h.Encode(true), []byte("x")))
		if err != nil {
			return err
		}
		return remoting.ResponseErr(resp)
	}
	if err := send(a.BrokerAddr); err != nil {
		t.Fatalf("send to the master: %v", err)
	}

	cut := time.Now()
	proxy.Cut()
	select {
	case <-a.Broker.Fenced():
	case <-time.After(3 * testTTL):
		t.Fatalf("the partitioned master did not fence itself within %v", 3*testTTL)
	}
	fenced := time.Since(cut)
	if err := send(a.BrokerAddr); !errors.Is(err, remoting.ErrServiceNotAvailable) {
		t.Fatalf("send to the deposed master: %v, want SERVICE_NOT_AVAILABLE", err)
	}
	waitUntil(t, 5*testTTL, "the second broker elected", b.Broker.IsMaster)
	elected := time.Since(cut)
	if st := b.Broker.HAStatus(); st.Epoch <= epoch {
		t.Fatalf("new master's epoch %d not above the deposed one's %d", st.Epoch, epoch)
	}
	if fenced >= elected {
		t.Errorf("the old master fenced itself %v after the cut, after the new master was elected (%v)", fenced, elected)
	}
	if st := a.Broker.HAStatus(); st.Role != "FENCED" {
		t.Errorf("deposed master's role %q, want FENCED", st.Role)
	}
	t.Logf("partition: the old master fenced itself after %v, the new one was elected after %v (TTL %v)", fenced.Round(time.Millisecond), elected.Round(time.Millisecond), testTTL)
}

// waitUntil polls cond (brokers' state, moved by their own goroutines) for at most limit.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond) // the brokers get there on their own
	}
}
