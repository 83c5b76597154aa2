package etcd

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ternmq/tern/sdk/plugin/discovery"
)

var tk = keys{prefix: "/t"}

func brokerKV(t *testing.T, name string, id int64, addr string, mut ...func(*brokerRecord)) KV {
	t.Helper()
	r := brokerRecord{Cluster: "c1", BrokerName: name, BrokerID: id, Address: addr, HAAddress: "ha-" + addr, RegisterTime: 1, TTLMs: 10000}
	for _, m := range mut {
		m(&r)
	}
	v, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return KV{Key: tk.broker(name, id), Value: v}
}

func queuesKV(t *testing.T, name string, topics map[string]int32) KV {
	t.Helper()
	q := queueTable{Cluster: "c1", Topics: make(map[string]queueRecord)}
	for topic, n := range topics {
		q.Topics[topic] = queueRecord{ReadQueueNums: n, WriteQueueNums: n, Perm: 6}
	}
	v, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	return KV{Key: tk.queues(name), Value: v}
}

func put(kv KV) Change      { return Change{KV: kv} }
func del(key string) Change { return Change{KV: KV{Key: key}, Delete: true} }
func bk(name string, id int64, addr string) discovery.BrokerKey {
	return discovery.BrokerKey{Cluster: "c1", BrokerName: name, BrokerID: id, Address: addr}
}
func topicEv(name string) discovery.Event {
	return discovery.Event{Type: discovery.EventTopic, Topic: name}
}
func regEv(k discovery.BrokerKey) discovery.Event {
	return discovery.Event{Type: discovery.EventBrokerRegistered, Broker: k}
}
func unregEv(k discovery.BrokerKey) discovery.Event {
	return discovery.Event{Type: discovery.EventBrokerUnregistered, Broker: k}
}
func qd(name string, n int32) discovery.QueueData {
	return discovery.QueueData{BrokerName: name, ReadQueueNums: n, WriteQueueNums: n, Perm: 6}
}
func bd(name string, addrs map[int64]string) discovery.BrokerData {
	return discovery.BrokerData{Cluster: "c1", BrokerName: name, Addresses: addrs}
}

func TestTableApply(t *testing.T) {
	a0, a1, b0 := "10.0.0.1:10911", "10.0.0.2:10911", "10.0.0.3:10911"
	cases := []struct {
		name      string
		initial   func(t *testing.T) []KV
		changes   func(t *testing.T) []Change
		wantEvs   []discovery.Event
		topic     string
		wantRoute *discovery.Route // nil: not found
	}{{
		name: "master with topics",
		changes: func(t *testing.T) []Change {
			return []Change{put(brokerKV(t, "a", 0, a0)), put(queuesKV(t, "a", map[string]int32{"T": 4, "U": 1}))}
		},
		wantEvs: []discovery.Event{regEv(bk("a", 0, a0)), topicEv("T"), topicEv("U")},
		topic:   "T", wantRoute: &discovery.Route{Queues: []discovery.QueueData{qd("a", 4)}, Brokers: []discovery.BrokerData{bd("a", map[int64]string{0: a0})}},
	}, {
		name: "slave joins: the routes of its broker name change",
		initial: func(t *testing.T) []KV {
			return []KV{brokerKV(t, "a", 0, a0), queuesKV(t, "a", map[string]int32{"T": 4})}
		},
		changes:   func(t *testing.T) []Change { return []Change{put(brokerKV(t, "a", 1, a1))} },
		wantEvs:   []discovery.Event{regEv(bk("a", 1, a1)), topicEv("T")},
		topic:     "T",
		wantRoute: &discovery.Route{Queues: []discovery.QueueData{qd("a", 4)}, Brokers: []discovery.BrokerData{bd("a", map[int64]string{0: a0, 1: a1})}},
	}, {
		name: "refresh of the register time is no event",
		initial: func(t *testing.T) []KV {
			return []KV{brokerKV(t, "a", 0, a0), queuesKV(t, "a", map[string]int32{"T": 4})}
		},
		changes: func(t *testing.T) []Change {
			return []Change{put(brokerKV(t, "a", 0, a0, func(r *brokerRecord) { r.RegisterTime = 99 })), put(queuesKV(t, "a", map[string]int32{"T": 4}))}
		},
		topic: "T", wantRoute: &discovery.Route{Queues: []discovery.QueueData{qd("a", 4)}, Brokers: []discovery.BrokerData{bd("a", map[int64]string{0: a0})}},
	}, {
		name: "topics change, one dropped",
		initial: func(t *testing.T) []KV {
			return []KV{brokerKV(t, "a", 0, a0), queuesKV(t, "a", map[string]int32{"T": 4, "U": 1, "V": 2})}
		},
		changes: func(t *testing.T) []Change { return []Change{put(queuesKV(t, "a", map[string]int32{"T": 8, "V": 2}))} },
		wantEvs: []discovery.Event{topicEv("T"), topicEv("U")},
		topic:   "U",
	}, {
		name: "lease lapse of a master removes its broker and queues",
		initial: func(t *testing.T) []KV {
			return []KV{brokerKV(t, "a", 0, a0), queuesKV(t, "a", map[string]int32{"T": 4}), brokerKV(t, "b", 0, b0), queuesKV(t, "b", map[string]int32{"T": 2})}
		},
		changes: func(t *testing.T) []Change { return []Change{del(tk.broker("a", 0)), del(tk.queues("a"))} },
		wantEvs: []discovery.Event{unregEv(bk("a", 0, a0)), topicEv("T")},
		topic:   "T", wantRoute: &discovery.Route{Queues: []discovery.QueueData{qd("b", 2)}, Brokers: []discovery.BrokerData{bd("b", map[int64]string{0: b0})}},
	}, {
		name: "broker names sorted",
		changes: func(t *testing.T) []Change {
			return []Change{put(brokerKV(t, "b", 0, b0)), put(queuesKV(t, "b", map[string]int32{"T": 2})), put(brokerKV(t, "a", 0, a0)), put(queuesKV(t, "a", map[string]int32{"T": 4}))}
		},
		wantEvs: []discovery.Event{regEv(bk("b", 0, b0)), regEv(bk("a", 0, a0)), topicEv("T")},
		topic:   "T",
		wantRoute: &discovery.Route{
			Queues:  []discovery.QueueData{qd("a", 4), qd("b", 2)},
			Brokers: []discovery.BrokerData{bd("a", map[int64]string{0: a0}), bd("b", map[int64]string{0: b0})},
		},
	}, {
		name:    "queues without a broker: no route",
		changes: func(t *testing.T) []Change { return []Change{put(queuesKV(t, "a", map[string]int32{"T": 4}))} },
		wantEvs: []discovery.Event{topicEv("T")},
		topic:   "T",
	}, {
		name:    "address change of an id",
		initial: func(t *testing.T) []KV { return []KV{brokerKV(t, "a", 0, a0)} },
		changes: func(t *testing.T) []Change { return []Change{put(brokerKV(t, "a", 0, a1))} },
		wantEvs: []discovery.Event{unregEv(bk("a", 0, a0)), regEv(bk("a", 0, a1))},
	}, {
		name: "undecodable value: the key is absent",
		initial: func(t *testing.T) []KV {
			return []KV{brokerKV(t, "a", 0, a0), queuesKV(t, "a", map[string]int32{"T": 4})}
		},
		changes: func(t *testing.T) []Change { return []Change{put(KV{Key: tk.broker("a", 0), Value: []byte("{")})} },
		wantEvs: []discovery.Event{unregEv(bk("a", 0, a0)), topicEv("T")},
		topic:   "T",
	}, {
		name: "keys outside the layout are ignored",
		changes: func(t *testing.T) []Change {
			return []Change{put(KV{Key: "/t/brokers/a", Value: []byte("{}")}), put(KV{Key: "/t/other/x", Value: nil}), put(KV{Key: "/t/brokers/a/x", Value: nil}), del("/t/queues/a/b")}
		},
	}, {
		name:    "delete of an absent key",
		changes: func(t *testing.T) []Change { return []Change{del(tk.broker("a", 0)), del(tk.queues("a"))} },
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := NewTable("/t")
			if c.initial != nil {
				tb.Reset(5, c.initial(t))
			}
			evs := tb.Apply(7, c.changes(t))
			if !reflect.DeepEqual(evs, c.wantEvs) {
				t.Errorf("events\n got %+v\nwant %+v", evs, c.wantEvs)
			}
			if tb.Rev() != 7 {
				t.Errorf("Rev = %d, want 7", tb.Rev())
			}
			if c.topic == "" {
				return
			}
			r, ok := tb.Route(c.topic)
			switch {
			case c.wantRoute == nil && ok:
				t.Errorf("Route(%s) = %+v, want none", c.topic, r)
			case c.wantRoute != nil && !reflect.DeepEqual(r, *c.wantRoute):
				t.Errorf("Route(%s)\n got %+v, %v\nwant %+v", c.topic, r, ok, *c.wantRoute)
			}
		})
	}
}

func TestTableBrokersAndTopics(t *testing.T) {
	tb := NewTable("/t")
	tb.Reset(3, []KV{
		brokerKV(t, "b", 0, "b0"), queuesKV(t, "b", map[string]int32{"T": 2, "X": 1}),
		brokerKV(t, "a", 1, "a1"),
		brokerKV(t, "a", 0, "a0"), queuesKV(t, "a", map[string]int32{"T": 4}),
		brokerKV(t, "z", 0, "z0", func(r *brokerRecord) { r.Cluster = "c2" }), queuesKV(t, "z", map[string]int32{"Z": 1}),
	})
	want := discovery.ClusterInfo{
		Brokers: map[string]discovery.BrokerData{
			"a": bd("a", map[int64]string{0: "a0", 1: "a1"}),
			"b": bd("b", map[int64]string{0: "b0"}),
			"z": {Cluster: "c2", BrokerName: "z", Addresses: map[int64]string{0: "z0"}},
		},
		Clusters: map[string][]string{"c1": {"a", "b"}, "c2": {"z"}},
	}
	if got := tb.Brokers(); !reflect.DeepEqual(got, want) {
		t.Errorf("Brokers\n got %+v\nwant %+v", got, want)
	}
	if got := tb.Topics(); !reflect.DeepEqual(got, []string{"T", "X", "Z"}) {
		t.Errorf("Topics = %v", got)
	}
	if got := tb.TopicsByCluster("c1"); !reflect.DeepEqual(got, []string{"T", "X"}) {
		t.Errorf("TopicsByCluster(c1) = %v", got)
	}
	if got := tb.TopicsByCluster("none"); len(got) != 0 {
		t.Errorf("TopicsByCluster(none) = %v", got)
	}
	if tb.Rev() != 3 {
		t.Errorf("Rev = %d", tb.Rev())
	}
}
