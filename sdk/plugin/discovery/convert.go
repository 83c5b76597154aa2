package discovery

import (
	"fmt"
	"time"

	"github.com/ternmq/tern/plugins/proto/pluginv1"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/internal/shim"
)

// Converters between the Go structs and the protobuf messages. Broker address maps are
// shared, not copied.

func infoToProto(i Info) *pluginv1.DiscoveryInfo {
	return &pluginv1.DiscoveryInfo{Name: i.Name, Version: i.Version}
}

func infoFromProto(p *pluginv1.DiscoveryInfo) Info {
	return Info{Name: p.GetName(), Version: p.GetVersion()}
}

func brokerKeyToProto(k BrokerKey) *pluginv1.BrokerKey {
	return &pluginv1.BrokerKey{Cluster: k.Cluster, BrokerName: k.BrokerName, BrokerId: k.BrokerID, Address: k.Address}
}

func brokerKeyFromProto(p *pluginv1.BrokerKey) BrokerKey {
	return BrokerKey{Cluster: p.GetCluster(), BrokerName: p.GetBrokerName(), BrokerID: p.GetBrokerId(), Address: p.GetAddress()}
}

func topicToProto(dst *pluginv1.TopicConfig, t *TopicConfig) {
	dst.Name = t.Name
	dst.ReadQueueNums = t.ReadQueueNums
	dst.WriteQueueNums = t.WriteQueueNums
	dst.Perm = t.Perm
	dst.TopicSysFlag = t.TopicSysFlag
	dst.Order = t.Order
}

func topicFromProto(p *pluginv1.TopicConfig) TopicConfig {
	return TopicConfig{
		Name: p.GetName(), ReadQueueNums: p.GetReadQueueNums(), WriteQueueNums: p.GetWriteQueueNums(),
		Perm: p.GetPerm(), TopicSysFlag: p.GetTopicSysFlag(), Order: p.GetOrder(),
	}
}

func registrationToProto(r Registration) *pluginv1.Registration {
	return &pluginv1.Registration{
		Broker:      brokerKeyToProto(r.Broker),
		HaAddress:   r.HAAddress,
		Topics:      shim.ToProto(r.Topics, topicToProto),
		DataVersion: &pluginv1.DataVersion{Counter: r.DataVersion.Counter, Timestamp: r.DataVersion.Timestamp},
		TtlMs:       max(r.TTL.Milliseconds(), 0),
	}
}

func registrationFromProto(p *pluginv1.Registration) Registration {
	return Registration{
		Broker:      brokerKeyFromProto(p.GetBroker()),
		HAAddress:   p.GetHaAddress(),
		Topics:      shim.FromProto(p.GetTopics(), topicFromProto),
		DataVersion: DataVersion{Counter: p.GetDataVersion().GetCounter(), Timestamp: p.GetDataVersion().GetTimestamp()},
		TTL:         time.Duration(min(max(p.GetTtlMs(), 0), maxMillis)) * time.Millisecond,
	}
}

// maxMillis is the longest TTL a time.Duration holds, in ms.
const maxMillis = int64(1<<63-1) / int64(time.Millisecond)

func queueToProto(dst *pluginv1.QueueData, q *QueueData) {
	dst.BrokerName = q.BrokerName
	dst.ReadQueueNums = q.ReadQueueNums
	dst.WriteQueueNums = q.WriteQueueNums
	dst.Perm = q.Perm
	dst.TopicSysFlag = q.TopicSysFlag
}

func queueFromProto(p *pluginv1.QueueData) QueueData {
	return QueueData{
		BrokerName: p.GetBrokerName(), ReadQueueNums: p.GetReadQueueNums(), WriteQueueNums: p.GetWriteQueueNums(),
		Perm: p.GetPerm(), TopicSysFlag: p.GetTopicSysFlag(),
	}
}

func brokerDataToProto(dst *pluginv1.BrokerData, b *BrokerData) {
	dst.Cluster = b.Cluster
	dst.BrokerName = b.BrokerName
	dst.Addresses = b.Addresses
}

func brokerDataFromProto(p *pluginv1.BrokerData) BrokerData {
	return BrokerData{Cluster: p.GetCluster(), BrokerName: p.GetBrokerName(), Addresses: p.GetAddresses()}
}

func routeToProto(r Route) *pluginv1.TopicRoute {
	return &pluginv1.TopicRoute{
		OrderTopicConf: r.OrderTopicConf,
		Queues:         shim.ToProto(r.Queues, queueToProto),
		Brokers:        shim.ToProto(r.Brokers, brokerDataToProto),
	}
}

func routeFromProto(p *pluginv1.TopicRoute) Route {
	return Route{
		OrderTopicConf: p.GetOrderTopicConf(),
		Queues:         shim.FromProto(p.GetQueues(), queueFromProto),
		Brokers:        shim.FromProto(p.GetBrokers(), brokerDataFromProto),
	}
}

func clusterInfoToProto(c ClusterInfo) *pluginv1.ClusterInfo {
	p := &pluginv1.ClusterInfo{}
	if len(c.Brokers) > 0 {
		p.Brokers = make(map[string]*pluginv1.BrokerData, len(c.Brokers))
		for name, b := range c.Brokers {
			pb := &pluginv1.BrokerData{}
			brokerDataToProto(pb, &b)
			p.Brokers[name] = pb
		}
	}
	if len(c.Clusters) > 0 {
		p.Clusters = make(map[string]*pluginv1.BrokerNames, len(c.Clusters))
		for cluster, names := range c.Clusters {
			p.Clusters[cluster] = &pluginv1.BrokerNames{Names: names}
		}
	}
	return p
}

func clusterInfoFromProto(p *pluginv1.ClusterInfo) ClusterInfo {
	var c ClusterInfo
	if len(p.GetBrokers()) > 0 {
		c.Brokers = make(map[string]BrokerData, len(p.GetBrokers()))
		for name, b := range p.GetBrokers() {
			c.Brokers[name] = brokerDataFromProto(b)
		}
	}
	if len(p.GetClusters()) > 0 {
		c.Clusters = make(map[string][]string, len(p.GetClusters()))
		for cluster, names := range p.GetClusters() {
			c.Clusters[cluster] = names.GetNames()
		}
	}
	return c
}

// eventToProto fails with plugin.ErrInternal on an invalid event type: a plugin bug.
func eventToProto(e Event) (*pluginv1.Event, error) {
	if !e.Type.Valid() {
		return nil, fmt.Errorf("%w: discovery watch: event type %v", plugin.ErrInternal, e.Type)
	}
	p := &pluginv1.Event{Type: pluginv1.EventType(e.Type), Topic: e.Topic}
	if e.Broker != (BrokerKey{}) {
		p.Broker = brokerKeyToProto(e.Broker)
	}
	return p, nil
}

// eventFromProto fails with plugin.ErrInternal on EVENT_TYPE_UNSPECIFIED (a plugin bug). A
// type added after this SDK (from a newer plugin) becomes EventReset, which is always safe.
func eventFromProto(p *pluginv1.Event) (Event, error) {
	switch t := p.GetType(); {
	case t == pluginv1.EventType_EVENT_TYPE_UNSPECIFIED:
		return Event{}, fmt.Errorf("%w: discovery watch: event type %v", plugin.ErrInternal, t)
	case t < 0 || t > pluginv1.EventType(EventBrokerUnregistered):
		return Event{Type: EventReset}, nil
	}
	return Event{Type: EventType(p.GetType()), Topic: p.GetTopic(), Broker: brokerKeyFromProto(p.GetBroker())}, nil
}
