package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
)

// TestAdminReplicas: a SYNC_MASTER and its slave, both found through the NameServer, and a dead
// address named with --broker: roles, epochs, offsets, the slave's lag and the master's slaves in
// sync, as a table and as JSON.
func TestAdminReplicas(t *testing.T) {
	m := brokertest.Start(t, func(c *broker.Config) {
		c.BrokerName, c.BrokerRole, c.HAListenAddr = "broker-rep", broker.RoleSyncMaster, "127.0.0.1:0"
	})
	s := m.StartSlave(t, nil)
	brokertest.WaitFor(t, 20*time.Second, "the slave in sync", func() bool {
		st := m.Broker.HAStatus()
		return st.Master != nil && len(st.Master.Slaves) == 1 && st.InSyncSlaves() == 1
	})
	ns := "--namesrv=" + m.NamesrvAddr
	run(t, "admin", ns, "topic", "create", "ReplicaTopic", "-q", "1")
	run(t, "admin", ns, "send", "ReplicaTopic", "hello")
	dead := deadAddr(t)

	var rows []replicaRow
	out := run(t, "admin", ns, "replicas", "--broker", dead, "-o", "json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rows) != 3 || rows[0].Status == nil || rows[1].Status == nil || rows[2].Status != nil {
		t.Fatalf("rows: %s", out)
	}
	master, slave := rows[0].Status, rows[1].Status
	if master.Address != m.BrokerAddr || master.Role != broker.RoleSyncMaster || master.Master == nil || len(master.Master.Slaves) != 1 {
		t.Errorf("master row: %+v", master)
	}
	if slave.Address != s.BrokerAddr || slave.Role != broker.RoleSlave || slave.Slave == nil || !slave.Slave.Connected || slave.BrokerID != 1 {
		t.Errorf("slave row: %+v", slave)
	}
	if rows[2].Address != dead || rows[2].Error == "" {
		t.Errorf("dead broker row: %+v", rows[2])
	}

	table := run(t, "admin", ns, "replicas", "--broker", dead)
	for _, want := range []string{"GROUP", "EPOCH", "LAG", "broker-rep", "SYNC_MASTER", "SLAVE", "1/1 slaves in sync", "replicating from", "unreachable"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}
