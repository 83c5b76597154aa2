package namesrv

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ternmq/tern/core/protocol"
)

var t0 = time.Unix(1_700_000_000, 0)

func tc(name string, queues, perm int32) protocol.TopicConfig {
	return protocol.TopicConfig{TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues, Perm: perm, TopicFilterType: protocol.SingleTag}
}

func table(ver int64, topics ...protocol.TopicConfig) protocol.TopicConfigSerializeWrapper {
	w := protocol.TopicConfigSerializeWrapper{DataVersion: protocol.DataVersion{Counter: ver, Timestamp: 1000 + ver}, TopicConfigTable: map[string]protocol.TopicConfig{}}
	for _, t := range topics {
		w.TopicConfigTable[t.TopicName] = t
	}
	return w
}

func reg(cluster, name, addr string, id int64, topics protocol.TopicConfigSerializeWrapper) Registration {
	return Registration{Cluster: cluster, BrokerName: name, BrokerAddr: addr, BrokerID: id, HAServerAddr: addr + "-ha", Topics: topics}
}

// routeJSON is the route body of topic, or "" when it has none.
func routeJSON(t *testing.T, r *RouteInfo, topic string) string {
	t.Helper()
	rd, ok := r.Route(topic)
	if !ok {
		return ""
	}
	b, err := json.Marshal(rd)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRouteInfo(t *testing.T) {
	type step func(r *RouteInfo)
	register := func(rg Registration, at time.Duration) step {
		return func(r *RouteInfo) { r.RegisterBroker(rg, t0.Add(at)) }
	}
	const (
		a0 = "10.0.0.1:10911"
		a1 = "10.0.0.2:10911"
		b0 = "10.0.1.1:10911"
	)
	for _, tc_ := range []struct {
		name   string
		opts   RouteOptions
		steps  []step
		routes map[string]string // topic → route JSON ("" = no route)
		topics []string
		check  func(t *testing.T, r *RouteInfo)
	}{
		{
			name:  "master registers its topics",
			steps: []step{register(reg("c", "a", a0, 0, table(1, tc("T", 4, 6), tc("TBW102", 8, 7))), 0)},
			routes: map[string]string{
				"T":      `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"a","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`,
				"TBW102": `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"a","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"a","perm":7,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}`,
				"U":      "",
			},
			topics: []string{"T", "TBW102"},
		},
		{
			name: "slave joins: its address is listed, its table ignored",
			steps: []step{
				register(reg("c", "a", a0, 0, table(1, tc("T", 4, 6))), 0),
				register(reg("c", "a", a1, 1, table(9, tc("T", 16, 6), tc("SlaveOnly", 1, 6))), time.Second),
			},
			routes: map[string]string{
				"T":         `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"a","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`,
				"SlaveOnly": "",
			},
			topics: []string{"T"},
		},
		{
			name: "same data version: table not re-read",
			steps: []step{
				register(reg("c", "a", a0, 0, table(1, tc("T", 4, 6))), 0),
				register(reg("c", "a", a0, 0, table(1, tc("T", 8, 6))), 30*time.Second),
			},
			routes: map[string]string{"T": `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"a","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`},
		},
		{
			name: "new data version: table re-read",
			steps: []step{
				register(reg("c", "a", a0, 0, table(1, tc("T", 4, 6))), 0),
				register(reg("c", "a", a0, 0, table(2, tc("T", 8, 4))), 30*time.Second),
			},
			routes: map[string]string{"T": `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"a","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"a","perm":4,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}`},
		},
		{
			name: "incremental registration keeps the other topics",
			steps: []step{
				register(reg("c", "a", a0, 0, table(1, tc("T", 4, 6), tc("U", 4, 6))), 0),
				register(reg("c", "a", a0, 0, table(2, tc("V", 1, 6))), time.Second),
			},
			topics: []string{"T", "U", "V"},
		},
		{
			name: "deleteTopicWithBrokerRegistration drops omitted topics",
			opts: RouteOptions{DeleteTopicWithBrokerRegistration: true},
			steps: []step{
				register(reg("c", "a", a0, 0, table(1, tc("T", 4, 6), tc("U", 4, 6))), 0),
				register(reg("c", "b", b0, 0, table(1, tc("T", 4, 6))), 0),
				register(reg("c", "a", a0, 0, table(2, tc("V", 1, 6))), time.Second),
			},
			routes: map[string]string{"T": `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.1.1:10911"},"brokerName":"b","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`},
			topics: []string{"T", "V"},
		},
		{
			name: "two broker names, sorted",
			steps: []step{
				register(reg("c", "b", b0, 0, table(1, tc("T", 2, 6))), 0),
				register(reg("c", "a", a0, 0, table(1, tc("T", 4, 6))), 0),
			},
			routes: map[string]string{"T": `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"a","cluster":"c"},{"brokerAddrs":{"0":"10.0.1.1:10911"},"brokerName":"b","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4},{"brokerName":"b","perm":6,"readQueueNums":2,"topicSysFlag":0,"writeQueueNums":2}]}`},
		},
		{
			name: "unregistered master: the slave keeps the queues readable",
			steps: []step{
				register(reg("c", "a", a0, 0, table(1, tc("T", 4, 6))), 0),
				register(reg("c", "a", a1, 1, table(1)), 0),
				func(r *RouteInfo) { r.UnregisterBroker("a", a0, 0) },
			},
			routes: map[string]string{"T": `{"brokerDatas":[{"brokerAddrs":{"1":"10.0.0.2:10911"},"brokerName":"a","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`},
		},
		{
			name: "last broker unregistered: topics and cluster go",
			steps: []step{
				register(reg("c", "a", a0, 0, table(1, tc("T", 4, 6))), 0),
				register(reg("c", "b", b0, 0, table(1, tc("T", 4, 6), tc("U", 4, 6))), 0),
				func(r *RouteInfo) { r.UnregisterBroker("b", b0, 0) },
			},
			routes: map[string]string{"U": ""},
			topics: []string{"T"},
			check: func(t *testing.T, r *RouteInfo) {
				if ci := r.ClusterInfo(); !reflect.DeepEqual(ci.ClusterAddrTable, map[string][]string{"c": {"a"}}) || len(ci.BrokerAddrTable) != 1 {
					t.Fatalf("cluster info %+v", ci)
				}
				r.UnregisterBroker("a", a0, 0)
				if ci := r.ClusterInfo(); len(ci.ClusterAddrTable) != 0 || len(ci.BrokerAddrTable) != 0 || len(r.AllTopics()) != 0 {
					t.Fatalf("after the last broker: %+v %v", ci, r.AllTopics())
				}
			},
		},
		{
			name: "unregister of a replaced address is ignored",
			steps: []step{
				register(reg("c", "a", a0, 0, table(1, tc("T", 4, 6))), 0),
				func(r *RouteInfo) { r.UnregisterBroker("a", "10.9.9.9:10911", 0) },
				func(r *RouteInfo) { r.UnregisterBroker("nope", a0, 0) },
			},
			topics: []string{"T"},
			check: func(t *testing.T, r *RouteInfo) {
				if _, ok := r.Route("T"); !ok {
					t.Fatal("route lost")
				}
			},
		},
		{
			name: "promoted slave leaves its old id",
			steps: []step{
				register(reg("c", "a", a0, 0, table(1, tc("T", 4, 6))), 0),
				register(reg("c", "a", a1, 1, table(1)), 0),
				func(r *RouteInfo) { r.UnregisterBroker("a", a0, 0) },
				register(reg("c", "a", a1, 0, table(5, tc("T", 4, 6))), time.Second),
			},
			routes: map[string]string{"T": `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.2:10911"},"brokerName":"a","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`},
		},
		{
			name: "delete topic: stays deleted until a new data version lists it",
			steps: []step{
				register(reg("c", "a", a0, 0, table(1, tc("T", 4, 6), tc("U", 4, 6))), 0),
				func(r *RouteInfo) { r.DeleteTopic("T", "") },
				register(reg("c", "a", a0, 0, table(1, tc("T", 4, 6), tc("U", 4, 6))), 30*time.Second),
			},
			routes: map[string]string{"T": ""},
			topics: []string{"U"},
			check: func(t *testing.T, r *RouteInfo) {
				r.RegisterBroker(reg("c", "a", a0, 0, table(2, tc("T", 4, 6))), t0.Add(time.Minute))
				if _, ok := r.Route("T"); !ok {
					t.Fatal("T not restored by a new version")
				}
			},
		},
		{
			name: "delete topic in one cluster",
			steps: []step{
				register(reg("c1", "a", a0, 0, table(1, tc("T", 4, 6))), 0),
				register(reg("c2", "b", b0, 0, table(1, tc("T", 2, 6))), 0),
				func(r *RouteInfo) { r.DeleteTopic("T", "c1") },
			},
			routes: map[string]string{"T": `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.1.1:10911"},"brokerName":"b","cluster":"c2"}],"filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":2,"topicSysFlag":0,"writeQueueNums":2}]}`},
			check: func(t *testing.T, r *RouteInfo) {
				r.DeleteTopic("T", "c2")
				if len(r.AllTopics()) != 0 {
					t.Fatal(r.AllTopics())
				}
			},
		},
		{
			name: "topics by cluster",
			steps: []step{
				register(reg("c1", "a", a0, 0, table(1, tc("T", 4, 6), tc("A", 1, 6))), 0),
				register(reg("c2", "b", b0, 0, table(1, tc("T", 2, 6), tc("B", 1, 6))), 0),
			},
			topics: []string{"A", "B", "T"},
			check: func(t *testing.T, r *RouteInfo) {
				for cluster, want := range map[string][]string{"c1": {"A", "T"}, "c2": {"B", "T"}, "none": {}} {
					if got := r.TopicsByCluster(cluster); !reflect.DeepEqual(got, want) {
						t.Errorf("%s: %v, want %v", cluster, got, want)
					}
				}
			},
		},
		{
			name: "filter servers",
			steps: []step{
				func(r *RouteInfo) {
					rg := reg("c", "a", a0, 0, table(1, tc("T", 4, 6)))
					rg.FilterServers = []string{"10.0.0.1:3000"}
					r.RegisterBroker(rg, t0)
				},
			},
			routes: map[string]string{"T": `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"a","cluster":"c"}],"filterServerTable":{"10.0.0.1:10911":["10.0.0.1:3000"]},"queueDatas":[{"brokerName":"a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`},
			check: func(t *testing.T, r *RouteInfo) {
				rg := reg("c", "a", a0, 0, table(1, tc("T", 4, 6)))
				rg.FilterServers = []string{}
				r.RegisterBroker(rg, t0)
				if rd, _ := r.Route("T"); len(rd.FilterServerTable) != 0 {
					t.Fatal(rd.FilterServerTable)
				}
			},
		},
	} {
		t.Run(tc_.name, func(t *testing.T) {
			r := NewRouteInfo(tc_.opts)
			for _, s := range tc_.steps {
				s(r)
			}
			for topic, want := range tc_.routes {
				if got := routeJSON(t, r, topic); got != want {
					t.Errorf("route %s:\n got %s\nwant %s", topic, got, want)
				}
			}
			if tc_.topics != nil {
				if got := r.AllTopics(); !reflect.DeepEqual(got, tc_.topics) {
					t.Errorf("topics %v, want %v", got, tc_.topics)
				}
			}
			if tc_.check != nil {
				tc_.check(t, r)
			}
		})
	}
}

func TestRegisterResult(t *testing.T) {
	r := NewRouteInfo(RouteOptions{})
	// A slave before its master learns nothing.
	res := r.RegisterBroker(reg("c", "a", "10.0.0.2:10911", 1, table(1)), t0)
	if res != (RegisterResult{First: true}) {
		t.Fatalf("slave alone: %+v", res)
	}
	if res := r.RegisterBroker(reg("c", "a", "10.0.0.1:10911", 0, table(1, tc("T", 4, 6))), t0); res != (RegisterResult{First: true}) {
		t.Fatalf("master: %+v", res)
	}
	res = r.RegisterBroker(reg("c", "a", "10.0.0.2:10911", 1, table(1)), t0.Add(time.Second))
	if want := (RegisterResult{MasterAddr: "10.0.0.1:10911", HAServerAddr: "10.0.0.1:10911-ha"}); res != want {
		t.Fatalf("slave: %+v, want %+v", res, want)
	}
	if last, _, ok := r.Registered("10.0.0.2:10911"); !ok || !last.Equal(t0.Add(time.Second)) {
		t.Fatalf("last update %v %v", last, ok)
	}
}

func TestExpire(t *testing.T) {
	const timeout = 120 * time.Second
	r := NewRouteInfo(RouteOptions{})
	r.RegisterBroker(reg("c", "a", "10.0.0.1:10911", 0, table(1, tc("T", 4, 6))), t0)
	r.RegisterBroker(reg("c", "a", "10.0.0.2:10911", 1, table(1)), t0.Add(100*time.Second))
	r.RegisterBroker(reg("c", "b", "10.0.1.1:10911", 0, table(1, tc("U", 4, 6))), t0)

	// Exactly at the timeout nothing expires.
	if gone := r.Expire(t0.Add(timeout), timeout); len(gone) != 0 {
		t.Fatalf("expired at the boundary: %v", gone)
	}
	gone := r.Expire(t0.Add(timeout+time.Millisecond), timeout)
	if want := []Expired{{Addr: "10.0.0.1:10911"}, {Addr: "10.0.1.1:10911"}}; !reflect.DeepEqual(gone, want) {
		t.Fatalf("expired %v, want %v", gone, want)
	}
	// The slave keeps broker a and T alive; b and U are gone.
	if got := r.AllTopics(); !reflect.DeepEqual(got, []string{"T"}) {
		t.Fatalf("topics %v", got)
	}
	if rd, _ := r.Route("T"); !reflect.DeepEqual(rd.BrokerDatas[0].BrokerAddrs, map[int64]string{1: "10.0.0.2:10911"}) {
		t.Fatalf("route %+v", rd)
	}
	// A registration refreshes the clock.
	r.RegisterBroker(reg("c", "a", "10.0.0.2:10911", 1, table(1)), t0.Add(200*time.Second))
	if gone := r.Expire(t0.Add(300*time.Second), timeout); len(gone) != 0 {
		t.Fatalf("refreshed broker expired: %v", gone)
	}
	if gone := r.Expire(t0.Add(321*time.Second), timeout); len(gone) != 1 || len(r.AllTopics()) != 0 || len(r.ClusterInfo().ClusterAddrTable) != 0 {
		t.Fatalf("expired %v, topics %v", gone, r.AllTopics())
	}
}

func TestConnClosed(t *testing.T) {
	connA, connB := new(int), new(int)
	r := NewRouteInfo(RouteOptions{})
	m := reg("c", "a", "10.0.0.1:10911", 0, table(1, tc("T", 4, 6)))
	m.Conn = connA
	r.RegisterBroker(m, t0)
	s := reg("c", "a", "10.0.0.2:10911", 1, table(1))
	s.Conn = connB
	r.RegisterBroker(s, t0)

	if gone := r.ConnClosed(new(int)); len(gone) != 0 {
		t.Fatalf("unrelated connection removed %v", gone)
	}
	// The master reconnected: closing its old connection changes nothing.
	m.Conn = connB
	r.RegisterBroker(m, t0.Add(time.Second))
	if gone := r.ConnClosed(connA); len(gone) != 0 {
		t.Fatalf("stale connection removed %v", gone)
	}
	if gone := r.ConnClosed(connB); !reflect.DeepEqual(gone, []string{"10.0.0.1:10911", "10.0.0.2:10911"}) {
		t.Fatalf("removed %v", gone)
	}
	if _, ok := r.Route("T"); ok || len(r.ClusterInfo().BrokerAddrTable) != 0 {
		t.Fatal("route survived its brokers")
	}
}

func TestClusterInfo(t *testing.T) {
	r := NewRouteInfo(RouteOptions{})
	r.RegisterBroker(reg("c1", "b", "10.0.1.1:10911", 0, table(1)), t0)
	r.RegisterBroker(reg("c1", "a", "10.0.0.1:10911", 0, table(1)), t0)
	r.RegisterBroker(reg("c1", "a", "10.0.0.2:10911", 1, table(1)), t0)
	r.RegisterBroker(reg("c2", "z", "10.0.2.1:10911", 0, table(1)), t0)
	b, err := json.Marshal(r.ClusterInfo())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"brokerAddrTable":{"a":{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"a","cluster":"c1"},"b":{"brokerAddrs":{"0":"10.0.1.1:10911"},"brokerName":"b","cluster":"c1"},"z":{"brokerAddrs":{"0":"10.0.2.1:10911"},"brokerName":"z","cluster":"c2"}},"clusterAddrTable":{"c1":["a","b"],"c2":["z"]}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	// The snapshot is a copy.
	ci := r.ClusterInfo()
	ci.BrokerAddrTable["a"].BrokerAddrs[5] = "x"
	if _, ok := r.ClusterInfo().BrokerAddrTable["a"].BrokerAddrs[5]; ok {
		t.Fatal("ClusterInfo shares the registry's maps")
	}
}

// TestRegisterRefusesStaleMaster: an elected master (epoch 12) replaces the deposed one (epoch
// 5); the deposed one, registering again as the master, is refused and the routes keep the new
// master. A master with a higher epoch takes over, as a static master (epoch 0) replacing
// another static one always did.
func TestRegisterRefusesStaleMaster(t *testing.T) {
	r := NewRouteInfo(RouteOptions{})
	old, next := reg("c", "a", "10.0.0.1:10911", 0, table(1, tc("T", 4, 6))), reg("c", "a", "10.0.0.2:10911", 0, table(1, tc("T", 4, 6)))
	old.Epoch, next.Epoch = 5, 12
	r.RegisterBroker(old, t0)
	if res := r.RegisterBroker(next, t0.Add(time.Second)); res.Stale {
		t.Fatalf("the higher epoch was refused: %+v", res)
	}
	if res := r.RegisterBroker(old, t0.Add(2*time.Second)); !res.Stale {
		t.Fatalf("the deposed master was taken back: %+v", res)
	}
	if got := r.ClusterInfo().BrokerAddrTable["a"].BrokerAddrs[0]; got != next.BrokerAddr {
		t.Fatalf("master of a is %s, want %s", got, next.BrokerAddr)
	}
	s1, s2 := reg("c", "b", "10.0.1.1:10911", 0, table(1)), reg("c", "b", "10.0.1.2:10911", 0, table(1))
	r.RegisterBroker(s1, t0)
	if res := r.RegisterBroker(s2, t0); res.Stale {
		t.Fatalf("static masters: %+v", res)
	}
}

// TestRegisterChanged: a registration of changed topics merges them into the broker's route,
// deletes none (even with DeleteTopicWithBrokerRegistration), and leaves the data version as
// the last whole registration set it, so a whole registration at the change's version is
// applied in full. It is refused, changing nothing, from an address not registered under that
// broker name and id, or at another epoch.
func TestRegisterChanged(t *testing.T) {
	for _, deleteStale := range []bool{false, true} {
		r := NewRouteInfo(RouteOptions{DeleteTopicWithBrokerRegistration: deleteStale})
		r.RegisterBroker(reg("c", "b", "1.1.1.1:1", 0, table(1, tc("A", 4, 6), tc("B", 4, 6))), t0)

		ch := reg("c", "b", "1.1.1.1:1", 0, table(2, tc("C", 2, 6)))
		ch.Changed = true
		if res := r.RegisterBroker(ch, t0.Add(time.Second)); res.WholeTableNeeded || res.Stale {
			t.Fatalf("deleteStale=%v: changed registration refused: %+v", deleteStale, res)
		}
		for _, topic := range []string{"A", "B", "C"} {
			if routeJSON(t, r, topic) == "" {
				t.Fatalf("deleteStale=%v: no route of %s after the change", deleteStale, topic)
			}
		}
		if seen, v, _ := r.Registered("1.1.1.1:1"); v.Counter != 1 || !seen.Equal(t0.Add(time.Second)) {
			t.Fatalf("deleteStale=%v: after the change the broker is at version %d, seen %v; want 1 and the change's time", deleteStale, v.Counter, seen)
		}

		// The whole table at version 2, C now with 8 queues: applied, though the change
		// carried version 2 too.
		r.RegisterBroker(reg("c", "b", "1.1.1.1:1", 0, table(2, tc("A", 4, 6), tc("B", 4, 6), tc("C", 8, 6))), t0.Add(2*time.Second))
		if rd, ok := r.Route("C"); !ok || rd.QueueDatas[0].WriteQueueNums != 8 {
			t.Fatalf("deleteStale=%v: the whole table after the change was not applied: %+v", deleteStale, rd)
		}

		refused := map[string]Registration{
			"unknown address":        reg("c", "b", "9.9.9.9:1", 0, table(3, tc("D", 1, 6))),
			"unknown broker name":    reg("c", "other", "1.1.1.1:1", 0, table(3, tc("D", 1, 6))),
			"registered as other id": reg("c", "b", "1.1.1.1:1", 1, table(3, tc("D", 1, 6))),
		}
		epoch := reg("c", "b", "1.1.1.1:1", 0, table(3, tc("D", 1, 6)))
		epoch.Epoch = 7
		refused["another epoch"] = epoch
		for name, reg := range refused {
			reg.Changed = true
			if res := r.RegisterBroker(reg, t0.Add(3*time.Second)); !res.WholeTableNeeded {
				t.Fatalf("deleteStale=%v, %s: changed registration taken: %+v", deleteStale, name, res)
			}
		}
		if routeJSON(t, r, "D") != "" || len(r.groups) != 1 || len(r.live) != 1 {
			t.Fatalf("deleteStale=%v: refused changes left state: route of D %q, %d groups, %d live", deleteStale, routeJSON(t, r, "D"), len(r.groups), len(r.live))
		}
	}
}
