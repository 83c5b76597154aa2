package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/discovery/etcd"
	"github.com/ternmq/tern/discovery/etcd/etcdtest"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

func clusterRows(t *testing.T, out string) []clusterRow {
	t.Helper()
	var rows []clusterRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("admin cluster --json: %v\n%s", err, out)
	}
	return rows
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestAdminClusterNamesrv: from the NameServer, the broker is a registered, reachable master
// with the topics routed to it.
func TestAdminClusterNamesrv(t *testing.T) {
	c := brokertest.Start(t, nil)
	ns := "--namesrv=" + c.NamesrvAddr
	run(t, "admin", ns, "topic", "create", "Orders", "-q", "2")

	rows := clusterRows(t, run(t, "admin", ns, "cluster", "--json"))
	if len(rows) != 1 {
		t.Fatalf("rows = %+v, want the one broker", rows)
	}
	r := rows[0]
	if r.Address != c.BrokerAddr || r.Role != "master" || r.BrokerID != 0 || !r.Registered || !r.Reachable || r.Topics < 1 || r.Cluster == "" {
		t.Fatalf("row = %+v", r)
	}
	table := run(t, "admin", ns, "cluster")
	for _, want := range []string{"ROLE", "PING", c.BrokerAddr, "master", "reachable"} {
		if !strings.Contains(table, want) {
			t.Fatalf("table lacks %q:\n%s", want, table)
		}
	}
	// `cluster list` still lists addresses.
	if out := run(t, "admin", ns, "cluster", "list"); !strings.Contains(out, c.BrokerAddr) {
		t.Fatalf("cluster list:\n%s", out)
	}
}

// TestAdminClusterEtcd: from etcd, a reachable master and a slave that does not answer.
func TestAdminClusterEtcd(t *testing.T) {
	c := brokertest.Start(t, nil)
	ep, _, _ := etcdtest.Start(t)
	b, err := etcd.Open(t.Context(), etcd.Config{Endpoints: []string{ep}, Prefix: "/admin"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dead := deadAddr(t)
	for _, reg := range []discovery.Registration{
		{Broker: discovery.BrokerKey{Cluster: "c1", BrokerName: "broker-a", Address: c.BrokerAddr},
			Topics: []discovery.TopicConfig{{Name: "T1", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}, {Name: "T2", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}}},
		{Broker: discovery.BrokerKey{Cluster: "c1", BrokerName: "broker-a", BrokerID: 1, Address: dead}},
	} {
		if _, err := b.Register(t.Context(), reg); err != nil {
			t.Fatal(err)
		}
	}

	rows := clusterRows(t, run(t, "admin", "cluster", "--etcd", ep, "--etcd-prefix", "/admin", "--json", "--ping-timeout", "2s"))
	if len(rows) != 2 {
		t.Fatalf("rows = %+v, want master and slave", rows)
	}
	m, s := rows[0], rows[1]
	if m.Role != "master" || m.Address != c.BrokerAddr || !m.Reachable || m.Topics != 2 || m.Cluster != "c1" || !m.Registered {
		t.Errorf("master row = %+v", m)
	}
	if s.Role != "slave" || s.BrokerID != 1 || s.Address != dead || s.Reachable || s.PingError == "" || s.Topics != 2 {
		t.Errorf("slave row = %+v", s)
	}
	table := run(t, "admin", "cluster", "--etcd", ep, "--etcd-prefix", "/admin")
	if !strings.Contains(table, "unreachable") || !strings.Contains(table, "slave") {
		t.Fatalf("table:\n%s", table)
	}
	if out := run(t, "admin", "cluster", "--etcd", ep, "--etcd-prefix", "/empty", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty registry: %s", out)
	}
}
