package etcd

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// KV is one key and its value, as etcd returned or watched it.
type KV struct {
	Key   string
	Value []byte
}

// Change is one watched event: a put of KV, or with Delete its removal.
type Change struct {
	KV
	Delete bool
}

// Table is the deterministic core of the cache: the registry as of one revision of the key
// space, built from key/values and changed by watched events, and the routes computed from
// it. It has no goroutines, no I/O and no lock: the Backend guards it. Values it cannot
// decode are treated as absent; keys outside the layout are ignored.
type Table struct {
	keys keys
	rev  int64

	brokers map[string]map[int64]brokerRecord         // broker name → broker id → registration
	queues  map[string]queueTable                     // broker name → its master's topics
	topics  map[string]map[string]discovery.QueueData // index: topic → broker name → queues
}

// NewTable returns an empty table for the keys under prefix ("" for DefaultPrefix).
func NewTable(prefix string) *Table {
	t := &Table{keys: keys{prefix: normPrefix(prefix)}}
	t.clear()
	return t
}

func (t *Table) clear() {
	t.brokers = make(map[string]map[int64]brokerRecord)
	t.queues = make(map[string]queueTable)
	t.topics = make(map[string]map[string]discovery.QueueData)
}

// Rev returns the revision the table reflects.
func (t *Table) Rev() int64 { return t.rev }

// Reset replaces the table's contents with kvs, the whole key space at revision rev.
func (t *Table) Reset(rev int64, kvs []KV) {
	t.clear()
	var ev events
	for _, kv := range kvs {
		t.put(kv, &ev)
	}
	t.rev = rev
}

// Apply applies the changes of revision rev (or of several revisions up to rev, in order) and
// returns the events they make: broker events in the order of the changes, then topic events
// sorted by topic, each topic once.
func (t *Table) Apply(rev int64, changes []Change) []discovery.Event {
	var ev events
	for _, c := range changes {
		if c.Delete {
			t.del(c.Key, &ev)
		} else {
			t.put(c.KV, &ev)
		}
	}
	t.rev = max(t.rev, rev)
	return ev.list()
}

// events collects what one Apply changed.
type events struct {
	brokers []discovery.Event
	topics  map[string]struct{}
}

func (e *events) broker(typ discovery.EventType, k discovery.BrokerKey) {
	e.brokers = append(e.brokers, discovery.Event{Type: typ, Broker: k})
}

func (e *events) topic(name string) {
	if e.topics == nil {
		e.topics = make(map[string]struct{})
	}
	e.topics[name] = struct{}{}
}

func (e *events) list() []discovery.Event {
	out := e.brokers
	for _, name := range slices.Sorted(maps.Keys(e.topics)) {
		out = append(out, discovery.Event{Type: discovery.EventTopic, Topic: name})
	}
	return out
}

func (t *Table) put(kv KV, ev *events) {
	kind, name, id := t.keys.parse(kv.Key)
	switch kind {
	case keyBroker:
		var r brokerRecord
		if json.Unmarshal(kv.Value, &r) != nil || r.Address == "" {
			t.delBroker(name, id, ev)
			return
		}
		r.BrokerName, r.BrokerID = name, id // the key is authoritative
		ids := t.brokers[name]
		if ids == nil {
			ids = make(map[int64]brokerRecord)
			t.brokers[name] = ids
		}
		old, had := ids[id]
		ids[id] = r
		if had && old.sameBroker(r) {
			return
		}
		if had && old.Address != r.Address {
			ev.broker(discovery.EventBrokerUnregistered, old.key())
		}
		ev.broker(discovery.EventBrokerRegistered, r.key())
		if !had || old.Address != r.Address || old.Cluster != r.Cluster {
			t.touchTopicsOf(name, ev)
		}
	case keyQueues:
		var q queueTable
		if json.Unmarshal(kv.Value, &q) != nil {
			t.delQueues(name, ev)
			return
		}
		t.setQueues(name, q, ev)
	}
}

func (t *Table) del(key string, ev *events) {
	kind, name, id := t.keys.parse(key)
	switch kind {
	case keyBroker:
		t.delBroker(name, id, ev)
	case keyQueues:
		t.delQueues(name, ev)
	}
}

func (t *Table) delBroker(name string, id int64, ev *events) {
	old, had := t.brokers[name][id]
	if !had {
		return
	}
	delete(t.brokers[name], id)
	if len(t.brokers[name]) == 0 {
		delete(t.brokers, name)
	}
	ev.broker(discovery.EventBrokerUnregistered, old.key())
	t.touchTopicsOf(name, ev)
}

// touchTopicsOf records a topic event for every topic with queues on the broker name: its
// routes' broker data changed.
func (t *Table) touchTopicsOf(name string, ev *events) {
	for topic := range t.queues[name].Topics {
		ev.topic(topic)
	}
}

func (t *Table) delQueues(name string, ev *events) {
	t.setQueues(name, queueTable{}, ev)
	delete(t.queues, name)
}

// setQueues replaces the topics of a broker name, keeping the topic index in step.
func (t *Table) setQueues(name string, q queueTable, ev *events) {
	old := t.queues[name].Topics
	for topic, qr := range old {
		if nq, still := q.Topics[topic]; still && nq == qr {
			continue
		}
		ev.topic(topic)
		if _, still := q.Topics[topic]; !still {
			delete(t.topics[topic], name)
			if len(t.topics[topic]) == 0 {
				delete(t.topics, topic)
			}
		}
	}
	for topic, qr := range q.Topics {
		if topic == "" {
			continue
		}
		if oq, had := old[topic]; !had || oq != qr {
			ev.topic(topic)
		}
		qs := t.topics[topic]
		if qs == nil {
			qs = make(map[string]discovery.QueueData)
			t.topics[topic] = qs
		}
		qs[name] = qr.data(name)
	}
	t.queues[name] = q
}

// Route returns a topic's route as the NameServer computes it: the queues of every broker
// name hosting the topic and those broker names' addresses, both sorted by broker name. ok is
// false when the topic has no queues or none of its broker names has a registered broker.
func (t *Table) Route(topic string) (r discovery.Route, ok bool) {
	qs := t.topics[topic]
	for _, name := range slices.Sorted(maps.Keys(qs)) {
		r.Queues = append(r.Queues, qs[name])
		if bd, ok := t.brokerData(name); ok {
			r.Brokers = append(r.Brokers, bd)
		}
	}
	return r, len(r.Queues) > 0 && len(r.Brokers) > 0
}

// brokerData returns a broker name's broker set. Its cluster is the master's, or the lowest
// registered id's.
func (t *Table) brokerData(name string) (discovery.BrokerData, bool) {
	ids := t.brokers[name]
	if len(ids) == 0 {
		return discovery.BrokerData{}, false
	}
	bd := discovery.BrokerData{BrokerName: name, Addresses: make(map[int64]string, len(ids))}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		if bd.Cluster == "" {
			bd.Cluster = ids[id].Cluster
		}
		bd.Addresses[id] = ids[id].Address
	}
	return bd, true
}

// Brokers returns every registered broker set, and the broker names of every cluster, sorted.
// A broker name is in every cluster one of its brokers registered with.
func (t *Table) Brokers() discovery.ClusterInfo {
	ci := discovery.ClusterInfo{Brokers: make(map[string]discovery.BrokerData, len(t.brokers)), Clusters: make(map[string][]string)}
	for name, ids := range t.brokers {
		ci.Brokers[name], _ = t.brokerData(name)
		for _, r := range ids {
			if !slices.Contains(ci.Clusters[r.Cluster], name) {
				ci.Clusters[r.Cluster] = append(ci.Clusters[r.Cluster], name)
			}
		}
	}
	for _, names := range ci.Clusters {
		slices.Sort(names)
	}
	return ci
}

// broker returns the registration of a broker name's broker id.
func (t *Table) broker(name string, id int64) (brokerRecord, bool) {
	r, ok := t.brokers[name][id]
	return r, ok
}

// queueTable returns the topics a broker name's master last wrote.
func (t *Table) queueTable(name string) (queueTable, bool) {
	q, ok := t.queues[name]
	return q, ok
}

// Topics returns every topic with queues, sorted.
func (t *Table) Topics() []string {
	return slices.Sorted(maps.Keys(t.topics))
}

// TopicsByCluster returns the topics with queues on a broker name of cluster, sorted.
func (t *Table) TopicsByCluster(cluster string) []string {
	out := []string{}
	for topic, qs := range t.topics {
		for name := range qs {
			if t.inCluster(name, cluster) {
				out = append(out, topic)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func (t *Table) inCluster(name, cluster string) bool {
	for _, r := range t.brokers[name] {
		if r.Cluster == cluster {
			return true
		}
	}
	return false
}
