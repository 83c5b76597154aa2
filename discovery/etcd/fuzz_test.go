package etcd

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// The seed corpora are in testdata/fuzz/<FuzzName>; inputs the fuzzer finds go there too. Run:
//
//	go test ./discovery/etcd/ -run '^$' -fuzz '^FuzzKeysParse$' -fuzztime 30s
//	go test ./discovery/etcd/ -run '^$' -fuzz '^FuzzTable$' -fuzztime 30s

// canonical returns the key keys builds for what parse returned, "" for keyOther.
func (k keys) canonical(kind keyKind, name string, id int64) string {
	switch kind {
	case keyBroker:
		return k.broker(name, id)
	case keyQueues:
		return k.queues(name)
	}
	return ""
}

// FuzzKeysParse: parse never panics on any key under any prefix; a key of the layout names
// a non-empty broker and a non-negative id, and the key built for what parse returned parses
// to the same.
func FuzzKeysParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, prefix, key string) {
		k := keys{prefix: normPrefix(prefix)}
		kind, name, id := k.parse(key)
		if kind == keyOther {
			if name != "" || id != 0 {
				t.Fatalf("parse(%q) = other with %q %d", key, name, id)
			}
			return
		}
		if name == "" || id < 0 || kind == keyQueues && id != 0 {
			t.Fatalf("parse(%q) = %v %q %d", key, kind, name, id)
		}
		built := k.canonical(kind, name, id)
		if kind2, name2, id2 := k.parse(built); kind2 != kind || name2 != name || id2 != id {
			t.Fatalf("parse(%q) = %v %q %d; the key built for it, %q, parses to %v %q %d", key, kind, name, id, built, kind2, name2, id2)
		}
		if !strings.HasPrefix(built, k.all()) {
			t.Fatalf("%q is not under %q", built, k.all())
		}
	})
}

// fuzzOps turns fuzzed bytes into changes, one a line: byte 0 picks the operation, byte 1
// the broker name, byte 2 the broker id, the rest is the value (raw, or the address and
// topics of a value built from it) or, for a raw put, the key.
func fuzzOps(script []byte) []Change {
	names := []string{"a", "b", "a/b", "名前"}
	var out []Change
	for line := range bytes.SplitSeq(script, []byte("\n")) {
		if len(line) < 3 {
			continue
		}
		op, name, id, rest := line[0]%7, names[int(line[1])%len(names)], int64(line[2]%3), line[3:]
		switch op {
		case 0: // a broker registration with an arbitrary value
			out = append(out, Change{KV: KV{Key: tk.broker(name, id), Value: rest}})
		case 1: // a well-formed broker registration
			addr, cluster, _ := strings.Cut(string(rest), ",")
			v, _ := json.Marshal(brokerRecord{Cluster: cluster, Address: addr, RegisterTime: int64(len(rest))})
			out = append(out, Change{KV: KV{Key: tk.broker(name, id), Value: v}})
		case 2: // a queue table with an arbitrary value
			out = append(out, Change{KV: KV{Key: tk.queues(name), Value: rest}})
		case 3: // a well-formed queue table: topics separated by commas, queues by id
			q := queueTable{Cluster: "c", Topics: map[string]queueRecord{}}
			for i, topic := range strings.Split(string(rest), ",") {
				q.Topics[topic] = queueRecord{ReadQueueNums: int32(i) + int32(id), WriteQueueNums: 4, Perm: 6}
			}
			v, _ := json.Marshal(q)
			out = append(out, Change{KV: KV{Key: tk.queues(name), Value: v}})
		case 4:
			out = append(out, Change{KV: KV{Key: tk.broker(name, id)}, Delete: true})
		case 5:
			out = append(out, Change{KV: KV{Key: tk.queues(name)}, Delete: true})
		case 6: // an arbitrary key (another broker's value as its value)
			v, _ := json.Marshal(brokerRecord{Cluster: "c", Address: name})
			out = append(out, Change{KV: KV{Key: string(rest), Value: v}, Delete: line[2]%2 == 1})
		}
	}
	return out
}

// FuzzTable applies arbitrary changes, values included, one revision at a time. Nothing
// panics; the topic index agrees with the queue tables; and the table equals one Reset from
// the key space the changes leave (the watch and a fresh read agree), answering the same
// routes and cluster info.
func FuzzTable(f *testing.F) {
	f.Fuzz(func(t *testing.T, script []byte) {
		inc := NewTable("/t")
		space := map[string][]byte{} // the key space after the changes
		for i, c := range fuzzOps(script) {
			if kind, name, id := tk.parse(c.Key); kind != keyOther && tk.canonical(kind, name, id) != c.Key {
				// Two spellings of one broker's key (%61 for a) are two etcd keys for one
				// registration; Tern writes only the canonical one.
				continue
			}
			evs := inc.Apply(int64(i+1), []Change{c})
			if c.Delete {
				delete(space, c.Key)
			} else {
				space[c.Key] = c.Value
			}
			var topics []string
			for _, e := range evs {
				if e.Type == discovery.EventTopic {
					topics = append(topics, e.Topic)
				}
			}
			if !slices.IsSorted(topics) || len(slices.Compact(slices.Clone(topics))) != len(topics) {
				t.Fatalf("topic events %v not sorted and unique", topics)
			}
			checkTableIndex(t, inc)
		}
		fresh := NewTable("/t")
		var kvs []KV
		for _, k := range slices.Sorted(maps.Keys(space)) {
			kvs = append(kvs, KV{Key: k, Value: space[k]})
		}
		fresh.Reset(inc.Rev(), kvs)
		checkTableIndex(t, fresh)
		if !reflect.DeepEqual(inc.brokers, fresh.brokers) || !reflect.DeepEqual(inc.queues, fresh.queues) || !reflect.DeepEqual(inc.topics, fresh.topics) {
			t.Fatalf("applied:\n%+v\n%+v\nreset:\n%+v\n%+v", inc.brokers, inc.queues, fresh.brokers, fresh.queues)
		}
		if !slices.Equal(inc.Topics(), fresh.Topics()) || !reflect.DeepEqual(inc.Brokers(), fresh.Brokers()) {
			t.Fatal("topics or cluster info differ")
		}
		for _, topic := range inc.Topics() {
			r1, ok1 := inc.Route(topic)
			r2, ok2 := fresh.Route(topic)
			if ok1 != ok2 || !reflect.DeepEqual(r1, r2) {
				t.Fatalf("route of %q: %+v %v, reset %+v %v", topic, r1, ok1, r2, ok2)
			}
		}
		for cluster := range inc.Brokers().Clusters {
			if !slices.Equal(inc.TopicsByCluster(cluster), fresh.TopicsByCluster(cluster)) {
				t.Fatalf("topics of cluster %q differ", cluster)
			}
		}
	})
}

// checkTableIndex checks the table's invariants: no empty inner map, and the topic index is
// exactly the non-empty topics of the queue tables.
func checkTableIndex(t *testing.T, tb *Table) {
	t.Helper()
	for name, ids := range tb.brokers {
		if len(ids) == 0 {
			t.Fatalf("broker name %q with no broker", name)
		}
		for id, r := range ids {
			if r.BrokerName != name || r.BrokerID != id || r.Address == "" {
				t.Fatalf("broker %q %d holds %+v", name, id, r)
			}
		}
	}
	n := 0
	for name, q := range tb.queues {
		for topic, qr := range q.Topics {
			if topic == "" {
				continue
			}
			n++
			if got, ok := tb.topics[topic][name]; !ok || got != qr.data(name) {
				t.Fatalf("topic %q on %q: index has %+v %v, queue table %+v", topic, name, got, ok, qr)
			}
		}
	}
	m := 0
	for topic, qs := range tb.topics {
		if len(qs) == 0 {
			t.Fatalf("topic %q with no queues in the index", topic)
		}
		m += len(qs)
	}
	if n != m {
		t.Fatalf("index has %d topic queues, the queue tables %d", m, n)
	}
}
