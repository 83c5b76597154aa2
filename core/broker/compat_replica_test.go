//go:build !race

package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

func inSync(b *broker.Broker) int { return b.HAStatus().InSyncSlaves() }

// TestOfficialClientSyncMaster: the official client sends to a SYNC_MASTER with a slave (SEND_OK
// once the slave has the message), then, with the slave gone, gets SLAVE_NOT_AVAILABLE as a
// send status with the message stored, as RocketMQ answers. A send to the slave is refused with
// SERVICE_NOT_AVAILABLE. The slave copies the master's topics and consumer offsets.
func TestOfficialClientSyncMaster(t *testing.T) {
	m := brokertest.Start(t, func(c *broker.Config) {
		c.BrokerName, c.BrokerRole, c.HAListenAddr = "broker-sync", broker.RoleSyncMaster, "127.0.0.1:0"
	})
	s := m.StartSlave(t, func(c *broker.Config) { c.SlaveSyncInterval = config.Millis(200 * time.Millisecond) })
	brokertest.WaitFor(t, 20*time.Second, "slave in sync", func() bool { return inSync(m.Broker) == 1 })
	createTopic(t, m, "SyncTopic", 2)
	p := newProducer(t, m)
	for i := range 50 {
		res, err := p.SendSync(context.Background(), primitive.NewMessage("SyncTopic", []byte{byte(i)}))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %d: %v %v", i, res, err)
		}
	}
	end := m.Broker.Store().CommitLogMaxOffset()
	if got := s.Broker.Store().CommitLogMaxOffset(); got != end {
		t.Fatalf("SYNC_MASTER acknowledged every send, yet the slave's CommitLog ends at %d, the master's at %d", got, end)
	}
	if st := m.Broker.HAStatus(); st.Master.ConfirmOffset < end {
		t.Errorf("confirm offset %d < %d", st.Master.ConfirmOffset, end)
	}
	// The slave has the topic (metadata sync) and serves reads of it.
	brokertest.WaitFor(t, 10*time.Second, "topic on the slave", func() bool {
		_, err := s.Broker.Store().GetMessages("SyncTopic", 0, 0, 1, 0, nil)
		return err == nil && s.Broker.Store().MaxOffset("SyncTopic", 0)+s.Broker.Store().MaxOffset("SyncTopic", 1) == 50
	})

	// Sends to the slave are refused.
	rc := remoting.NewClient(remoting.ClientOptions{})
	defer rc.Close()
	h := protocol.SendMessageHeader{ProducerGroup: "g", Topic: "SyncTopic", DefaultTopic: protocol.AutoCreateTopic, DefaultTopicQueueNums: 4, QueueID: 0, BornTimestamp: time.Now().UnixMilli()}
	resp, err := rc.Invoke(context.Background(), s.BrokerAddr, remoting.NewRequest(remoting.SendMessageV2, h.Encode(true), []byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(remoting.ResponseErr(resp), remoting.ErrServiceNotAvailable) {
		t.Fatalf("send to the slave: code %d %q, want SERVICE_NOT_AVAILABLE", resp.Code, resp.Remark)
	}

	// Without its slave, a SYNC_MASTER stores the message and says SLAVE_NOT_AVAILABLE.
	s.StopBroker(t)
	brokertest.WaitFor(t, 20*time.Second, "slave gone", func() bool { return inSync(m.Broker) == 0 })
	res, err := p.SendSync(context.Background(), primitive.NewMessage("SyncTopic", []byte("alone")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != primitive.SendSlaveNotAvailable {
		t.Fatalf("send without a slave: status %v, want SEND_SLAVE_NOT_AVAILABLE", res.Status)
	}
	if got := m.Broker.Store().CommitLogMaxOffset(); got <= end {
		t.Fatalf("the message was not stored: max offset %d", got)
	}
}

// TestSlaveReadSuggestion: a master tells a consumer far behind (here: any backlog, with
// accessMessageInMemoryMaxRatio 0) to pull from its slave, and the slave, whose master is gone,
// keeps the consumer (suggests itself).
func TestSlaveReadSuggestion(t *testing.T) {
	m := brokertest.Start(t, func(c *broker.Config) {
		c.BrokerName, c.HAListenAddr, c.AccessMessageInMemoryMaxRatio = "broker-read", "127.0.0.1:0", 0
	})
	s := m.StartSlave(t, func(c *broker.Config) {
		c.AccessMessageInMemoryMaxRatio, c.SlaveSyncInterval = 100, config.Millis(200*time.Millisecond)
	})
	brokertest.WaitFor(t, 20*time.Second, "slave in sync", func() bool { return inSync(m.Broker) == 1 })
	createTopic(t, m, "ReadTopic", 1)
	p := newProducer(t, m)
	for i := range 20 {
		if _, err := p.SendSync(context.Background(), primitive.NewMessage("ReadTopic", []byte{byte(i)})); err != nil {
			t.Fatal(err)
		}
	}
	brokertest.WaitFor(t, 10*time.Second, "replicated", func() bool { return s.Broker.Store().MaxOffset("ReadTopic", 0) == 20 })
	rc := remoting.NewClient(remoting.ClientOptions{})
	defer rc.Close()
	var code int16
	pull := func(addr string) protocol.PullMessageResponseHeader {
		t.Helper()
		h := protocol.PullMessageHeader{ConsumerGroup: "cg", Topic: "ReadTopic", QueueID: 0, QueueOffset: 0, MaxMsgNums: 4, SysFlag: 4, Subscription: "*", ExpressionType: protocol.ExpressionTag}
		resp, err := rc.Invoke(context.Background(), addr, remoting.NewRequest(remoting.PullMessage, h.Encode(), nil))
		if err != nil {
			t.Fatal(err)
		}
		if code = resp.Code; code != int16(remoting.Success) {
			return protocol.PullMessageResponseHeader{}
		}
		var rh protocol.PullMessageResponseHeader
		if err := rh.Decode(resp); err != nil {
			t.Fatal(err)
		}
		return rh
	}
	brokertest.WaitFor(t, 10*time.Second, "the slave serves the topic (metadata sync)", func() bool { pull(s.BrokerAddr); return code == int16(remoting.Success) })
	if got := pull(m.BrokerAddr).SuggestWhichBrokerID; got != 1 {
		t.Errorf("master, consumer behind: suggestWhichBrokerId %d, want 1 (the slave)", got)
	}
	if got := pull(s.BrokerAddr).SuggestWhichBrokerID; got != 0 {
		t.Errorf("slave, master alive, consumer not behind: suggestWhichBrokerId %d, want 0 (the master)", got)
	}
	m.StopBroker(t)
	brokertest.WaitFor(t, 20*time.Second, "slave sees its master gone", func() bool {
		st := s.Broker.HAStatus()
		return st.Slave != nil && !st.Slave.Connected
	})
	if got := pull(s.BrokerAddr).SuggestWhichBrokerID; got != 1 {
		t.Errorf("slave, master gone: suggestWhichBrokerId %d, want 1 (itself)", got)
	}
}
