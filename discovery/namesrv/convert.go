package namesrv

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// HeartbeatTimeoutField is REGISTER_BROKER's optional header field (RocketMQ 5.x's
// RegisterBrokerRequestHeader.heartbeatTimeoutMillis) carrying how long the registration lives
// without a refresh, in milliseconds. Wire format, never change.
const HeartbeatTimeoutField = "heartbeatTimeoutMillis"

// EpochField is REGISTER_BROKER's optional header field with the epoch of a master elected
// through etcd (Tern's own; RocketMQ NameServers ignore it).
const EpochField = "haEpoch"

// ChangedField is REGISTER_BROKER's optional header field that a Tern broker sets to "true" when
// the body lists only the topics that changed (a topic created or updated), not its whole
// table: RocketMQ's brokers send such bodies too (registerIncrementBrokerData), unmarked. A
// NameServer merges the listed topics into the broker's route without taking the table's data
// version, so the next whole registration is applied in full; it refuses the change
// (ErrWholeTableNeeded) where it cannot merge it, and the broker then sends its whole table.
// Tern's own; RocketMQ NameServers ignore the field and merge the topics.
const ChangedField = "ternChangedTopics"

// TopicsFromTable turns a broker's topic table into a Registration's topics, sorted by name.
// A table entry without a topic name takes its key.
func TopicsFromTable(table map[string]protocol.TopicConfig) []discovery.TopicConfig {
	out := make([]discovery.TopicConfig, 0, len(table))
	for _, key := range slices.Sorted(maps.Keys(table)) {
		tc := table[key]
		name := tc.TopicName
		if name == "" {
			name = key
		}
		if name == "" {
			continue
		}
		out = append(out, discovery.TopicConfig{
			Name: name, ReadQueueNums: tc.ReadQueueNums, WriteQueueNums: tc.WriteQueueNums,
			Perm: tc.Perm, TopicSysFlag: tc.TopicSysFlag, Order: tc.Order,
		})
	}
	return out
}

// tableFromTopics is TopicsFromTable's inverse (the filter type, which no route carries,
// becomes SINGLE_TAG).
func tableFromTopics(topics []discovery.TopicConfig) map[string]protocol.TopicConfig {
	out := make(map[string]protocol.TopicConfig, len(topics))
	for _, t := range topics {
		out[t.Name] = protocol.TopicConfig{
			TopicName: t.Name, ReadQueueNums: t.ReadQueueNums, WriteQueueNums: t.WriteQueueNums,
			Perm: t.Perm, TopicSysFlag: t.TopicSysFlag, Order: t.Order, TopicFilterType: protocol.SingleTag,
		}
	}
	return out
}

// registrationFromWire builds a discovery registration from a REGISTER_BROKER header and body.
func registrationFromWire(h *protocol.RegisterBrokerHeader, body *protocol.RegisterBrokerBody, ttl time.Duration) discovery.Registration {
	w := body.TopicConfigSerializeWrapper
	return discovery.Registration{
		Broker:      discovery.BrokerKey{Cluster: h.ClusterName, BrokerName: h.BrokerName, BrokerID: h.BrokerID, Address: h.BrokerAddr},
		HAAddress:   h.HAServerAddr,
		Topics:      TopicsFromTable(w.TopicConfigTable),
		DataVersion: discovery.DataVersion{Counter: w.DataVersion.Counter, Timestamp: w.DataVersion.Timestamp},
		TTL:         ttl,
	}
}

// optionalField reads a header field holding a non-negative integer (Tern's own fields:
// heartbeatTimeoutMillis, haEpoch): 0 when absent.
func optionalField(fields protocol.FieldSource, name string) (int64, error) {
	s, ok := fields.Lookup(name)
	if !ok || s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, &fieldError{field: name, value: s}
	}
	return n, nil
}

// fieldError is a header field that does not parse.
type fieldError struct{ field, value string }

func (e *fieldError) Error() string { return "bad " + e.field + " " + strconv.Quote(e.value) }

// routeToWire turns a backend's route into the GET_ROUTEINFO_BY_TOPIC body, in the order and
// shape of RouteInfo.Route (sorted by broker name, no filter servers).
func routeToWire(r discovery.Route) protocol.TopicRouteData {
	rd := protocol.TopicRouteData{
		OrderTopicConf: r.OrderTopicConf,
		QueueDatas:     make([]protocol.QueueData, 0, len(r.Queues)),
		BrokerDatas:    make([]protocol.BrokerData, 0, len(r.Brokers)),
		// Tern has no filter servers; {} as the in-memory registry answers.
		FilterServerTable: map[string][]string{},
	}
	for _, q := range r.Queues {
		rd.QueueDatas = append(rd.QueueDatas, protocol.QueueData{
			BrokerName: q.BrokerName, ReadQueueNums: q.ReadQueueNums, WriteQueueNums: q.WriteQueueNums,
			Perm: q.Perm, TopicSysFlag: q.TopicSysFlag,
		})
	}
	for _, b := range r.Brokers {
		rd.BrokerDatas = append(rd.BrokerDatas, brokerDataToWire(b))
	}
	rd.Sort()
	return rd
}

// routeFromWire is routeToWire's inverse.
func routeFromWire(rd protocol.TopicRouteData) discovery.Route {
	r := discovery.Route{OrderTopicConf: rd.OrderTopicConf}
	for _, q := range rd.QueueDatas {
		r.Queues = append(r.Queues, discovery.QueueData{
			BrokerName: q.BrokerName, ReadQueueNums: q.ReadQueueNums, WriteQueueNums: q.WriteQueueNums,
			Perm: q.Perm, TopicSysFlag: q.TopicSysFlag,
		})
	}
	for _, b := range rd.BrokerDatas {
		r.Brokers = append(r.Brokers, discovery.BrokerData{Cluster: b.Cluster, BrokerName: b.BrokerName, Addresses: maps.Clone(b.BrokerAddrs)})
	}
	return r
}

func brokerDataToWire(b discovery.BrokerData) protocol.BrokerData {
	addrs := maps.Clone(b.Addresses)
	if addrs == nil {
		addrs = map[int64]string{}
	}
	return protocol.BrokerData{Cluster: b.Cluster, BrokerName: b.BrokerName, BrokerAddrs: addrs}
}

// clusterInfoToWire turns a backend's cluster info into the GET_BROKER_CLUSTER_INFO body with
// every cluster's broker names sorted, as RouteInfo.ClusterInfo answers.
func clusterInfoToWire(ci discovery.ClusterInfo) protocol.ClusterInfo {
	out := protocol.ClusterInfo{
		BrokerAddrTable:  make(map[string]protocol.BrokerData, len(ci.Brokers)),
		ClusterAddrTable: make(map[string][]string, len(ci.Clusters)),
	}
	for name, b := range ci.Brokers {
		out.BrokerAddrTable[name] = brokerDataToWire(b)
	}
	for cluster, names := range ci.Clusters {
		out.ClusterAddrTable[cluster] = slices.Sorted(slices.Values(names))
	}
	return out
}

// clusterInfoFromWire is clusterInfoToWire's inverse.
func clusterInfoFromWire(ci protocol.ClusterInfo) discovery.ClusterInfo {
	out := discovery.ClusterInfo{
		Brokers:  make(map[string]discovery.BrokerData, len(ci.BrokerAddrTable)),
		Clusters: make(map[string][]string, len(ci.ClusterAddrTable)),
	}
	for name, b := range ci.BrokerAddrTable {
		out.Brokers[name] = discovery.BrokerData{Cluster: b.Cluster, BrokerName: b.BrokerName, Addresses: maps.Clone(b.BrokerAddrs)}
	}
	for cluster, names := range ci.ClusterAddrTable {
		out.Clusters[cluster] = slices.Clone(names)
	}
	return out
}
