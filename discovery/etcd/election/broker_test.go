package election

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/discovery/etcd/etcdtest"
	"github.com/ternmq/tern/sdk/client"
)

// TestDeposedMasterRefusesWrites runs two brokers of one group electing through a real etcd:
// the elected master is partitioned from etcd (its connection goes through a proxy that is cut).
// It fences itself — Fenced closes and sends are refused with SERVICE_NOT_AVAILABLE — and the
// other broker is elected with a higher epoch.
func TestDeposedMasterRefusesWrites(t *testing.T) {
	endpoint, _, _ := etcdtest.Start(t)
	proxy := etcdtest.NewProxy(t, endpoint)
	a, b := startGroup(t, "broker-fence", proxy.Endpoint(), endpoint)
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

	// Two watchers, started before the cut, note when each event happens: the old master must
	// fence itself before the new one is elected (the fence fires 0.8 TTL after the last
	// keepalive, the lease expires a TTL after it, then the settle: a 0.6 s margin here).
	var fencedAt, electedAt time.Time
	watched := make(chan struct{}, 2)
	go func() {
		select {
		case <-a.Broker.Fenced():
			fencedAt = time.Now()
		case <-time.After(5 * testTTL):
		}
		watched <- struct{}{}
	}()
	go func() {
		for deadline := time.Now().Add(5 * testTTL); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) { // polls the broker's own state
			if b.Broker.IsMaster() {
				electedAt = time.Now()
				break
			}
		}
		watched <- struct{}{}
	}()
	cut := time.Now()
	proxy.Cut()
	<-watched
	<-watched
	if fencedAt.IsZero() || electedAt.IsZero() {
		t.Fatalf("within %v of the cut: fenced %v, other elected %v", 5*testTTL, !fencedAt.IsZero(), !electedAt.IsZero())
	}
	fenced, elected := fencedAt.Sub(cut), electedAt.Sub(cut)
	if !fencedAt.Before(electedAt) {
		t.Errorf("the old master fenced itself %v after the cut, not before the new master was elected (%v)", fenced, elected)
	}
	if err := send(a.BrokerAddr); !errors.Is(err, remoting.ErrServiceNotAvailable) {
		t.Fatalf("send to the deposed master: %v, want SERVICE_NOT_AVAILABLE", err)
	}
	if st := b.Broker.HAStatus(); st.Epoch <= epoch {
		t.Fatalf("new master's epoch %d not above the deposed one's %d", st.Epoch, epoch)
	}
	if st := a.Broker.HAStatus(); st.Role != "FENCED" {
		t.Errorf("deposed master's role %q, want FENCED", st.Role)
	}
	t.Logf("partition: the old master fenced itself after %v, the new one was elected after %v (TTL %v)", fenced.Round(time.Millisecond), elected.Round(time.Millisecond), testTTL)
}

// startGroup starts two brokers of group electing through etcd, the first (id 1, through
// firstEndpoint) elected, the second (id 2, through secondEndpoint) following it.
func startGroup(t *testing.T, group, firstEndpoint, secondEndpoint string) (first, second *brokertest.Cluster) {
	t.Helper()
	elect := func(id int64, ep string) broker.Election {
		return ForBroker([]string{ep}, Config{Prefix: "/" + group, Group: group, BrokerID: id, TTL: testTTL, Settle: 200 * time.Millisecond, Logger: brokertest.Logger()})
	}
	first = brokertest.Start(t, func(c *broker.Config) {
		c.BrokerName, c.BrokerID, c.HAListenAddr, c.Election = group, 1, "127.0.0.1:0", elect(1, firstEndpoint)
	})
	brokertest.WaitFor(t, 10*time.Second, "the first broker elected", first.Broker.IsMaster)
	second = first.StartSlave(t, func(c *broker.Config) {
		c.BrokerRole, c.BrokerID, c.HAListenAddr, c.Election = broker.RoleAsyncMaster, 2, "127.0.0.1:0", elect(2, secondEndpoint)
	})
	brokertest.WaitFor(t, 10*time.Second, "the second broker follows", func() bool {
		st := second.Broker.HAStatus()
		return st.Slave != nil && st.Slave.Connected
	})
	return first, second
}

// TestTimersSurviveFailover: a broker group elects through a real etcd; two timer messages go to
// the master: one fires there before the failover, the other is still waiting when the master
// stops. The elected slave, whose timing wheel was rebuilt from the replicated inbox, fires the
// second at its time and does not fire the first again.
func TestTimersSurviveFailover(t *testing.T) {
	endpoint, _, _ := etcdtest.Start(t)
	a, b := startGroup(t, "broker-timer", endpoint, endpoint)
	const topic = "TimerFailover"
	if err := a.CreateTopic(topic, 1); err != nil {
		t.Fatal(err)
	}
	p, err := client.NewProducer("timer-failover", client.WithNameServers(a.NamesrvAddr), client.WithLogger(brokertest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	now := time.Now()
	for _, m := range []struct {
		body string
		at   time.Time
	}{{"early", now.Add(300 * time.Millisecond)}, {"late", now.Add(4 * time.Second)}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := p.Send(ctx, &client.Message{Topic: topic, Body: []byte(m.body), DeliverAt: m.at})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	brokertest.WaitFor(t, 10*time.Second, "the early timer fired on the master and reached the slave", func() bool {
		return a.Broker.Store().MaxOffset(topic, 0) == 1 && b.Broker.Store().MaxOffset(topic, 0) == 1 &&
			b.Broker.Store().CommitLogMaxOffset() == a.Broker.Store().CommitLogMaxOffset()
	})
	a.StopBroker(t)
	brokertest.WaitFor(t, 5*testTTL, "the slave elected", b.Broker.IsMaster)
	brokertest.WaitFor(t, 20*time.Second, "a second message in the topic on the new master", func() bool { return b.Broker.Store().MaxOffset(topic, 0) >= 2 })
	res, err := b.Broker.Store().GetMessages(topic, 0, 0, 10, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	var bodies []string
	for _, m := range res.Messages {
		bodies = append(bodies, string(message.View(m).Body()))
	}
	if len(bodies) != 2 || bodies[0] != "early" || bodies[1] != "late" {
		t.Fatalf("the topic holds %q, want [early late]: a timer fired twice or was lost", bodies)
	}
	// The fired copy's store time is when the new master fired it: not before its time.
	if fired := time.UnixMilli(message.View(res.Messages[1]).StoreTimestamp()); fired.Before(now.Add(4 * time.Second).Truncate(time.Millisecond)) {
		t.Fatalf("the late timer fired at %v, %v before its time", fired, now.Add(4*time.Second).Sub(fired))
	}
}
