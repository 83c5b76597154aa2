package clients

import (
	"slices"
	"testing"
	"time"
)

type conn string

func (c conn) RemoteAddr() string { return string(c) }

func TestMembershipAndNotifications(t *testing.T) {
	var notified []string
	m := New(func(group string, members []*Client) {
		var ids []string
		for _, c := range members {
			ids = append(ids, c.ID)
		}
		notified = append(notified, group+":"+join(ids))
	})
	now := time.Unix(1000, 0)
	sub := ConsumerInfo{Group: "cg", MessageModel: "CLUSTERING", Subscriptions: []Subscription{{Topic: "T", Expression: "A || B", ExpressionType: "TAG", Tags: []string{"A", "B"}}}}

	if ch := m.Heartbeat(Client{ID: "c1", Conn: conn("a"), LastHeartbeat: now}, []string{"pg"}, []ConsumerInfo{sub}); !slices.Equal(ch, []string{"cg"}) {
		t.Fatalf("first heartbeat changed %v", ch)
	}
	if ch := m.Heartbeat(Client{ID: "c1", Conn: conn("a"), LastHeartbeat: now}, nil, []ConsumerInfo{sub}); len(ch) != 0 {
		t.Fatalf("a repeated heartbeat changed %v", ch)
	}
	m.Heartbeat(Client{ID: "c2", Conn: conn("b"), LastHeartbeat: now.Add(60 * time.Second)}, nil, []ConsumerInfo{sub})
	if ids := m.ConsumerIDs("cg"); !slices.Equal(ids, []string{"c1", "c2"}) {
		t.Fatalf("ids %v", ids)
	}
	if s, ok := m.Subscription("cg", "T"); !ok || s.Expression != "A || B" {
		t.Fatalf("subscription %+v", s)
	}
	// A subscription change notifies.
	sub2 := sub
	sub2.Subscriptions = []Subscription{{Topic: "T", Expression: "C", ExpressionType: "TAG"}}
	if ch := m.Heartbeat(Client{ID: "c1", Conn: conn("a"), LastHeartbeat: now}, nil, []ConsumerInfo{sub2}); len(ch) != 1 {
		t.Fatal("a subscription change went unnoticed")
	}
	if c, ok := m.ClientByID("c2"); !ok || c.RemoteAddr() != "b" {
		t.Fatal("client by id")
	}
	// c1 stops sending heartbeats: it expires, c2 stays and is told.
	gone := m.Expire(now.Add(121*time.Second), 120*time.Second)
	if len(gone) != 1 || gone[0].RemoteAddr() != "a" {
		t.Fatalf("expired %v", gone)
	}
	if ids := m.ConsumerIDs("cg"); !slices.Equal(ids, []string{"c2"}) {
		t.Fatalf("after expiry %v", ids)
	}
	if len(m.Producers("pg")) != 0 {
		t.Fatal("expired producer kept")
	}
	// c2's connection closes: the group is gone; nobody is left to notify.
	m.Disconnected(conn("b"))
	if len(m.ConsumerGroups()) != 0 {
		t.Fatal("group kept without members")
	}
	want := []string{"cg:c1", "cg:c1,c2", "cg:c1,c2", "cg:c2"}
	if !slices.Equal(notified, want) {
		t.Fatalf("notifications %v, want %v", notified, want)
	}
}

func TestUnregister(t *testing.T) {
	m := New(nil)
	now := time.Now()
	m.Heartbeat(Client{ID: "c1", Conn: conn("a"), LastHeartbeat: now}, []string{"pg"}, []ConsumerInfo{{Group: "cg"}})
	m.Unregister("c1", "pg", "cg")
	if len(m.Producers("pg")) != 0 || len(m.Consumers("cg")) != 0 {
		t.Fatal("unregister kept the client")
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}
