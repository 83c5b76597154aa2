// Package namesrv is Tern's built-in NameServer: brokers register their topics with it, and
// clients ask it which brokers serve a topic (RocketMQ's NameServer, same protocol).
//
// # Route model
//
// A broker group (brokerName) has a master (brokerId 0) and possibly slaves, each registered
// with its address. A topic's route lists, per broker group that hosts it, the queue counts and
// permission from that group's master's topic table, and every registered address of those
// groups. A master's registration replaces its group's topic table when its data version
// changed; a slave's registration only keeps the slave alive. A broker that has not registered
// for brokerChannelExpiredTime (120 s), or whose registering connection closed, is removed, and
// with it its queues in every topic; a topic left without queues disappears.
//
// Routes are a function of the registrations alone (the RouteInfo type is a plain struct with
// an injected clock, so tests step it); the Server wraps it with the remoting handlers and the
// expiry loop.
package namesrv

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ternmq/tern/core/protocol"
)

type brokerKey struct {
	name string
	id   int64
}

type liveBroker struct {
	cluster    string
	addr       string
	haAddr     string
	lastUpdate time.Time
	version    protocol.DataVersion
	conn       any // the connection that registered it
}

// RouteInfo holds the registrations. It is safe for concurrent use.
type RouteInfo struct {
	mu       sync.RWMutex
	brokers  map[brokerKey]*liveBroker                // every registered broker
	topics   map[string]map[string]protocol.QueueData // topic → broker name → queue data
	clusters map[string]map[string]bool               // cluster → broker names
}

// NewRouteInfo returns an empty registry.
func NewRouteInfo() *RouteInfo {
	return &RouteInfo{brokers: map[brokerKey]*liveBroker{}, topics: map[string]map[string]protocol.QueueData{}, clusters: map[string]map[string]bool{}}
}

// Registration is one REGISTER_BROKER.
type Registration struct {
	Cluster, BrokerName, BrokerAddr, HAAddr string
	BrokerID                                int64
	Topics                                  protocol.TopicConfigSerializeWrapper
	Conn                                    any
}

// Register records a registration at now and returns the group's master address and HA
// address (what a slave is told).
func (r *RouteInfo) Register(reg Registration, now time.Time) (masterAddr, haAddr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clusters[reg.Cluster] == nil {
		r.clusters[reg.Cluster] = map[string]bool{}
	}
	r.clusters[reg.Cluster][reg.BrokerName] = true
	k := brokerKey{reg.BrokerName, reg.BrokerID}
	// An address moving to another id (a slave promoted, say) leaves its old entry.
	for ok, b := range r.brokers {
		if ok.name == reg.BrokerName && ok != k && b.addr == reg.BrokerAddr {
			delete(r.brokers, ok)
		}
	}
	old := r.brokers[k]
	nb := &liveBroker{cluster: reg.Cluster, addr: reg.BrokerAddr, haAddr: reg.HAAddr, lastUpdate: now, version: reg.Topics.DataVersion, conn: reg.Conn}
	r.brokers[k] = nb
	if reg.BrokerID == protocol.MasterID && (old == nil || old.version != reg.Topics.DataVersion || old.addr != reg.BrokerAddr) {
		// Replace the group's queue data with the master's table.
		for t, qs := range r.topics {
			if _, ok := qs[reg.BrokerName]; ok {
				if _, still := reg.Topics.TopicConfigTable[t]; !still {
					delete(qs, reg.BrokerName)
					if len(qs) == 0 {
						delete(r.topics, t)
					}
				}
			}
		}
		for name, tc := range reg.Topics.TopicConfigTable {
			if name == "" {
				continue
			}
			qs := r.topics[name]
			if qs == nil {
				qs = map[string]protocol.QueueData{}
				r.topics[name] = qs
			}
			tc.TopicName = name
			qs[reg.BrokerName] = tc.QueueData(reg.BrokerName)
		}
	}
	if reg.BrokerID != protocol.MasterID {
		if m := r.brokers[brokerKey{reg.BrokerName, protocol.MasterID}]; m != nil {
			return m.addr, m.haAddr
		}
	}
	return "", ""
}

// Unregister removes one broker.
func (r *RouteInfo) Unregister(brokerName string, brokerID int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeLocked(brokerKey{brokerName, brokerID})
}

// removeLocked drops a broker; when its group has no broker left, the group's queues and
// cluster membership go too.
func (r *RouteInfo) removeLocked(k brokerKey) {
	b := r.brokers[k]
	if b == nil {
		return
	}
	delete(r.brokers, k)
	for ok := range r.brokers {
		if ok.name == k.name {
			// Another member (a slave whose master left, say) still serves the group's
			// queues for reading, as in RocketMQ's routes.
			return
		}
	}
	for t, qs := range r.topics {
		delete(qs, k.name)
		if len(qs) == 0 {
			delete(r.topics, t)
		}
	}
	if names := r.clusters[b.cluster]; names != nil {
		delete(names, k.name)
		if len(names) == 0 {
			delete(r.clusters, b.cluster)
		}
	}
}

// ExpireSilent removes the brokers that have not registered since now-timeout and returns
// their addresses.
func (r *RouteInfo) ExpireSilent(now time.Time, timeout time.Duration) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []string
	for k, b := range r.brokers {
		if now.Sub(b.lastUpdate) > timeout {
			gone = append(gone, b.addr)
			r.removeLocked(k)
		}
	}
	return gone
}

// ConnClosed removes the brokers that registered on conn.
func (r *RouteInfo) ConnClosed(conn any) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []string
	for k, b := range r.brokers {
		if b.conn == conn {
			gone = append(gone, b.addr)
			r.removeLocked(k)
		}
	}
	return gone
}

// Route returns a topic's route, or ok=false when no broker hosts it.
func (r *RouteInfo) Route(topic string) (protocol.TopicRouteData, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	qs := r.topics[topic]
	if len(qs) == 0 {
		return protocol.TopicRouteData{}, false
	}
	rd := protocol.TopicRouteData{QueueDatas: []protocol.QueueData{}, BrokerDatas: []protocol.BrokerData{}, FilterServerTable: map[string][]string{}}
	for _, name := range slices.Sorted(maps.Keys(qs)) {
		rd.QueueDatas = append(rd.QueueDatas, qs[name])
		rd.BrokerDatas = append(rd.BrokerDatas, r.brokerDataLocked(name))
	}
	return rd, true
}

func (r *RouteInfo) brokerDataLocked(name string) protocol.BrokerData {
	bd := protocol.BrokerData{BrokerName: name, BrokerAddrs: map[int64]string{}}
	for k, b := range r.brokers {
		if k.name == name {
			bd.BrokerAddrs[k.id] = b.addr
			bd.Cluster = b.cluster
		}
	}
	return bd
}

// ClusterInfo returns every broker group by cluster.
func (r *RouteInfo) ClusterInfo() protocol.ClusterInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ci := protocol.ClusterInfo{BrokerAddrTable: map[string]protocol.BrokerData{}, ClusterAddrTable: map[string][]string{}}
	for cl, names := range r.clusters {
		ns := slices.Sorted(maps.Keys(names))
		ci.ClusterAddrTable[cl] = ns
		for _, n := range ns {
			ci.BrokerAddrTable[n] = r.brokerDataLocked(n)
		}
	}
	return ci
}

// Topics returns every topic with a route, sorted.
func (r *RouteInfo) Topics() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.topics))
}

// TopicsOfCluster returns the topics hosted by a cluster's brokers, sorted.
func (r *RouteInfo) TopicsOfCluster(cluster string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for t, qs := range r.topics {
		for name := range qs {
			if r.clusters[cluster][name] {
				out = append(out, t)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// DeleteTopic removes a topic's route.
func (r *RouteInfo) DeleteTopic(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.topics, topic)
}
