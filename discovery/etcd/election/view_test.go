package election

import (
	"encoding/json"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func replicaKV(t *testing.T, k keys, r Replica) *mvccpb.KeyValue {
	t.Helper()
	v, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return &mvccpb.KeyValue{Key: []byte(k.replica(r.BrokerID)), Value: v}
}

func leaderKVAt(t *testing.T, k keys, id, rev, lease int64) *mvccpb.KeyValue {
	t.Helper()
	v, err := json.Marshal(leaderRecord{BrokerID: id, Address: "a"})
	if err != nil {
		t.Fatal(err)
	}
	return &mvccpb.KeyValue{Key: []byte(k.leader()), Value: v, CreateRevision: rev, ModRevision: rev, Lease: lease}
}

func TestBetter(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b Replica
		want bool
	}{
		{"higher offset", Replica{BrokerID: 2, MaxOffset: 10}, Replica{BrokerID: 1, MaxOffset: 9, Epoch: 9}, true},
		{"lower offset", Replica{BrokerID: 1, MaxOffset: 9, Epoch: 9}, Replica{BrokerID: 2, MaxOffset: 10}, false},
		{"same offset, higher epoch", Replica{BrokerID: 2, MaxOffset: 10, Epoch: 3}, Replica{BrokerID: 1, MaxOffset: 10, Epoch: 2}, true},
		{"same offset and epoch, lower id", Replica{BrokerID: 1, MaxOffset: 10, Epoch: 3}, Replica{BrokerID: 2, MaxOffset: 10, Epoch: 3}, true},
		{"same offset and epoch, higher id", Replica{BrokerID: 2, MaxOffset: 10, Epoch: 3}, Replica{BrokerID: 1, MaxOffset: 10, Epoch: 3}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := better(tc.a, tc.b); got != tc.want {
				t.Fatalf("better = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDecide steps the view through a failover: led, leaderless and settling, a better live
// replica, its report gone.
func TestDecide(t *testing.T) {
	const settle, ttl = 500 * time.Millisecond, 2 * time.Second
	k := newKeys("", "g")
	t0 := time.Unix(1000, 0)
	v := newView(3, k)
	if vanished := v.load([]*mvccpb.KeyValue{
		leaderKVAt(t, k, 1, 5, 7),
		replicaKV(t, k, Replica{BrokerID: 2, MaxOffset: 100}),
		replicaKV(t, k, Replica{BrokerID: 3, MaxOffset: 50}),
		{Key: []byte(k.dir + "replicas/x"), Value: []byte("{}")},        // not a report key
		{Key: []byte(k.replica(4)), Value: []byte("not json")},          // undecodable
		{Key: []byte(k.replica(5)), Value: []byte(`{"brokerId":6}`)},    // names another id
		{Key: []byte(k.dir + "other"), Value: []byte(`{"brokerId":1}`)}, // unknown
	}, 10, t0); vanished {
		t.Fatal("a led group reported leaderless")
	}
	if len(v.replicas) != 2 || v.leader == nil || v.leader.Epoch != 5 || v.leader.lease != 7 {
		t.Fatalf("loaded %+v, leader %+v", v.replicas, v.leader)
	}
	if d := v.decide(t0, settle, ttl); d != (decision{}) {
		t.Fatalf("led: %+v", d)
	}

	// A stale event (older than the load) changes nothing.
	if v.apply(&clientv3.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(k.leader()), ModRevision: 9}}, t0) || v.leader == nil {
		t.Fatal("an event older than the view was applied")
	}
	t1 := t0.Add(time.Second)
	if !v.apply(&clientv3.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(k.leader()), ModRevision: 11}}, t1) {
		t.Fatal("leader delete not reported as vanished")
	}
	steps := []struct {
		name string
		at   time.Time
		want decision
	}{
		{"settling", t1.Add(settle / 2), decision{wake: t1.Add(settle)}},
		{"settled, a better replica is live", t1.Add(settle), decision{wake: t1.Add(settle + ttl)}},
		{"re-evaluated, still live", t1.Add(settle + ttl), decision{wake: t1.Add(settle + 2*ttl)}},
		{"between re-evaluations", t1.Add(settle + ttl + time.Millisecond), decision{wake: t1.Add(settle + 2*ttl)}},
	}
	for _, s := range steps {
		if d := v.decide(s.at, settle, ttl); d != s.want {
			t.Fatalf("%s: %+v, want %+v", s.name, d, s.want)
		}
	}
	// The better replica's report lapses: this one is best.
	v.apply(&clientv3.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(k.replica(2)), ModRevision: 12}}, t1)
	if d := v.decide(t1.Add(settle), settle, ttl); !d.campaign {
		t.Fatalf("best after the better one died: %+v", d)
	}
	// A new leader (a campaign's answer at 13) overtakes the watch's older events.
	v.setLeader(leaderKVAt(t, k, 3, 13, 8), 13, t1)
	if v.apply(&clientv3.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(k.leader()), ModRevision: 12}}, t1) || v.leader == nil {
		t.Fatal("an event older than the campaign's answer was applied")
	}
	if d := v.decide(t1.Add(time.Hour), settle, ttl); d != (decision{}) {
		t.Fatalf("led again: %+v", d)
	}
	// Only a leaderless view without a live report of its own does not campaign.
	w := newView(1, k)
	w.load(nil, 20, t0)
	if d := w.decide(t0.Add(settle), settle, ttl); d.campaign {
		t.Fatal("campaigned without a live report")
	}
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		rest  string
		kind  keyKind
		group string
		id    int64
	}{
		{"broker-a/leader", keyLeader, "broker-a", 0},
		{"a%2Fb/replicas/12", keyReplica, "a/b", 12},
		{"broker-a/replicas/012", keyOther, "", 0},
		{"broker-a/replicas/-1", keyOther, "", 0},
		{"broker-a/replicas/", keyOther, "", 0},
		{"broker-a/replicas/1/x", keyOther, "", 0},
		{"broker-a/leader/x", keyOther, "", 0},
		{"broker-a", keyOther, "", 0},
		{"/leader", keyOther, "", 0},
		{"%zz/leader", keyOther, "", 0},
	} {
		kind, group, id := parseKey(tc.rest)
		if kind != tc.kind || group != tc.group || id != tc.id {
			t.Errorf("parseKey(%q) = %v %q %d, want %v %q %d", tc.rest, kind, group, id, tc.kind, tc.group, tc.id)
		}
	}
	if got := newKeys("/x/", "a/b").replica(3); got != "/x/ha/a%2Fb/replicas/3" {
		t.Errorf("replica key %q", got)
	}
	if got := newKeys("", "g").leader(); got != "/tern/ha/g/leader" {
		t.Errorf("leader key %q", got)
	}
}

func TestConfig(t *testing.T) {
	cli := &clientv3.Client{}
	good := Config{Client: cli, Group: "g", BrokerID: 1, Address: "a:1"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"no client", func(c *Config) { c.Client = nil }},
		{"no group", func(c *Config) { c.Group = "" }},
		{"negative id", func(c *Config) { c.BrokerID = -1 }},
		{"no address", func(c *Config) { c.Address = "" }},
		{"negative ttl", func(c *Config) { c.TTL = -time.Second }},
		{"negative settle", func(c *Config) { c.Settle = -time.Second }},
	} {
		c := good
		tc.edit(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	d := Config{TTL: 2500 * time.Millisecond}.withDefaults()
	if d.TTL != 3*time.Second || d.Settle != time.Second || d.ReportInterval != DefaultReportInterval || d.Prefix != DefaultPrefix {
		t.Errorf("defaults %+v", d)
	}
	if d := (Config{TTL: 2 * time.Second}).withDefaults(); d.Settle != 2*time.Second/3 {
		t.Errorf("settle for 2 s: %v", d.Settle)
	}
}
