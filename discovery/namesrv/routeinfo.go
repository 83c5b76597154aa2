package namesrv

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ternmq/tern/core/protocol"
)

// RouteInfo is the NameServer's registry: RocketMQ's RouteInfoManager. It is a deterministic
// core: no goroutines, and every time-dependent call takes now. It is safe for concurrent use;
// one RWMutex guards all its tables (it takes no other lock).
type RouteInfo struct {
	deleteStaleTopics bool // DeleteTopicWithBrokerRegistration

	mu       sync.RWMutex
	topics   map[string]map[string]protocol.QueueData // topic → broker name → queue data
	groups   map[string]*protocol.BrokerData          // broker name → cluster and addrs by id
	clusters map[string]map[string]struct{}           // cluster → broker names
	live     map[string]*liveBroker                   // broker addr → liveness
	filters  map[string][]string                      // broker addr → filter servers
}

// liveBroker is what the registry knows of one registered broker address.
type liveBroker struct {
	lastUpdate time.Time
	version    protocol.DataVersion // of the topic table last registered from this address
	haAddr     string
	conn       any           // the connection it last registered on
	timeout    time.Duration // its own expiry (heartbeatTimeoutMillis); 0: Expire's default
	epoch      int64         // an elected master's fencing token (haEpoch)
}

// RouteOptions configures a RouteInfo.
type RouteOptions struct {
	// DeleteTopicWithBrokerRegistration makes a master's registration with a new data version
	// also remove the broker's queues of topics missing from its table (RocketMQ 5.x's
	// namesrv option of the same name). Off by default, as in RocketMQ: a Java 4.x broker
	// registers a new topic with a table holding that topic alone.
	DeleteTopicWithBrokerRegistration bool
}

// NewRouteInfo returns an empty registry.
func NewRouteInfo(opts RouteOptions) *RouteInfo {
	return &RouteInfo{
		deleteStaleTopics: opts.DeleteTopicWithBrokerRegistration,
		topics:            make(map[string]map[string]protocol.QueueData),
		groups:            make(map[string]*protocol.BrokerData),
		clusters:          make(map[string]map[string]struct{}),
		live:              make(map[string]*liveBroker),
		filters:           make(map[string][]string),
	}
}

// Registration is one REGISTER_BROKER.
type Registration struct {
	Cluster      string
	BrokerName   string
	BrokerAddr   string // "ip:port"
	BrokerID     int64  // protocol.MasterID for a master
	HAServerAddr string
	Topics       protocol.TopicConfigSerializeWrapper
	// FilterServers replaces the broker's filter server list unless nil; empty clears it.
	FilterServers []string
	// Conn identifies the connection the registration arrived on; ConnClosed(Conn) removes
	// the broker unless it registered again on another connection since.
	Conn any
	// Timeout is how long the registration lives without a refresh (REGISTER_BROKER's
	// heartbeatTimeoutMillis); 0 leaves it to Expire's default.
	Timeout time.Duration
	// Changed says Topics lists only the topics that changed (ChangedField): they are merged
	// into the route whatever the data version, which is not recorded, and none is deleted.
	// The address must be registered already (else WholeTableNeeded).
	Changed bool
	// Epoch is an elected master's fencing token (haEpoch); 0 when it has none.
	Epoch int64
}

// RegisterResult is the answer to a registration.
type RegisterResult struct {
	// MasterAddr and HAServerAddr are set for a slave whose master is registered.
	MasterAddr   string
	HAServerAddr string
	// First is true when this address was not registered before.
	First bool
	// Stale is set when the registration was refused: it claims the master id of a broker name
	// whose registered master, at another address, has a higher epoch (a deposed master).
	Stale bool
	// WholeTableNeeded is set when a registration of changed topics was refused: the address
	// is not registered under that broker name, id and epoch (see Registration.Changed).
	WholeTableNeeded bool
}

// RegisterBroker records a registration at now, as RocketMQ does:
//
//   - the broker name joins the cluster, and the address is recorded under its broker id (an
//     address registered before under another id of the same broker name, a slave promoted to
//     master say, leaves that id);
//   - a master's topic table replaces the broker name's queue data of each listed topic when
//     the broker name or this id is new or the table's data version differs from the last one
//     registered from this address; a slave's table is ignored;
//   - the address is alive as of now.
//
// A registration of changed topics (Registration.Changed) only merges them and refreshes the
// address, which must be registered under the same broker name, id and epoch already.
func (r *RouteInfo) RegisterBroker(reg Registration, now time.Time) RegisterResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	if reg.Changed {
		return r.registerChangedLocked(reg, now)
	}
	if reg.BrokerID == protocol.MasterID {
		if g := r.groups[reg.BrokerName]; g != nil {
			if cur := g.BrokerAddrs[protocol.MasterID]; cur != "" && cur != reg.BrokerAddr {
				if l := r.live[cur]; l != nil && l.epoch > reg.Epoch {
					return RegisterResult{Stale: true} // a deposed master: the routes stay
				}
			}
		}
	}
	names := r.clusters[reg.Cluster]
	if names == nil {
		names = make(map[string]struct{})
		r.clusters[reg.Cluster] = names
	}
	names[reg.BrokerName] = struct{}{}

	first := false
	g := r.groups[reg.BrokerName]
	if g == nil {
		first = true
		g = &protocol.BrokerData{Cluster: reg.Cluster, BrokerName: reg.BrokerName, BrokerAddrs: make(map[int64]string)}
		r.groups[reg.BrokerName] = g
	}
	for id, addr := range g.BrokerAddrs {
		if addr == reg.BrokerAddr && id != reg.BrokerID {
			delete(g.BrokerAddrs, id)
		}
	}
	if _, ok := g.BrokerAddrs[reg.BrokerID]; !ok {
		first = true
	}
	g.BrokerAddrs[reg.BrokerID] = reg.BrokerAddr

	prev := r.live[reg.BrokerAddr]
	if reg.BrokerID == protocol.MasterID && (first || prev == nil || prev.version != reg.Topics.DataVersion) {
		r.applyTopicsLocked(reg.BrokerName, reg.Topics.TopicConfigTable)
	}
	r.live[reg.BrokerAddr] = &liveBroker{lastUpdate: now, version: reg.Topics.DataVersion, haAddr: reg.HAServerAddr, conn: reg.Conn, timeout: reg.Timeout, epoch: reg.Epoch}

	if reg.FilterServers != nil {
		if len(reg.FilterServers) == 0 {
			delete(r.filters, reg.BrokerAddr)
		} else {
			r.filters[reg.BrokerAddr] = slices.Clone(reg.FilterServers)
		}
	}

	res := RegisterResult{First: prev == nil}
	res.MasterAddr, res.HAServerAddr = r.masterForLocked(g, reg.BrokerID)
	return res
}

// masterForLocked returns the addresses of the live master of g for the broker of id brokerID,
// if that is a slave.
func (r *RouteInfo) masterForLocked(g *protocol.BrokerData, brokerID int64) (addr, ha string) {
	if brokerID == protocol.MasterID {
		return "", ""
	}
	if master := g.BrokerAddrs[protocol.MasterID]; master != "" {
		if ml := r.live[master]; ml != nil {
			return master, ml.haAddr
		}
	}
	return "", ""
}

// registerChangedLocked serves a registration of changed topics (see RegisterBroker). The
// data version is left as the last whole registration set it: the next whole one, if its
// version is that of the change, is then applied in full, and a change lost on the way does not
// stay lost.
func (r *RouteInfo) registerChangedLocked(reg Registration, now time.Time) RegisterResult {
	prev := r.live[reg.BrokerAddr]
	g := r.groups[reg.BrokerName]
	if prev == nil || g == nil || g.BrokerAddrs[reg.BrokerID] != reg.BrokerAddr || prev.epoch != reg.Epoch {
		return RegisterResult{WholeTableNeeded: true}
	}
	if reg.BrokerID == protocol.MasterID {
		r.mergeTopicsLocked(reg.BrokerName, reg.Topics.TopicConfigTable)
	}
	prev.lastUpdate, prev.conn, prev.timeout = now, reg.Conn, reg.Timeout
	var res RegisterResult
	res.MasterAddr, res.HAServerAddr = r.masterForLocked(g, reg.BrokerID)
	return res
}

// applyTopicsLocked puts a master's topic table into the route of brokerName.
func (r *RouteInfo) applyTopicsLocked(brokerName string, table map[string]protocol.TopicConfig) {
	if r.deleteStaleTopics {
		for topic, qs := range r.topics {
			if _, ok := qs[brokerName]; !ok {
				continue
			}
			if _, still := table[topic]; still {
				continue
			}
			delete(qs, brokerName)
			if len(qs) == 0 {
				delete(r.topics, topic)
			}
		}
	}
	r.mergeTopicsLocked(brokerName, table)
}

// mergeTopicsLocked puts each topic of table into the route of brokerName, leaving the others.
func (r *RouteInfo) mergeTopicsLocked(brokerName string, table map[string]protocol.TopicConfig) {
	for key, tc := range table {
		topic := tc.TopicName
		if topic == "" {
			topic = key
		}
		if topic == "" {
			continue
		}
		qs := r.topics[topic]
		if qs == nil {
			qs = make(map[string]protocol.QueueData)
			r.topics[topic] = qs
		}
		qs[brokerName] = tc.QueueData(brokerName)
	}
}

// UnregisterBroker removes a broker that is leaving (UNREGISTER_BROKER). The address leaves
// its broker id only if it is the one registered there, so a late unregister of a replaced
// broker does not remove its successor. When a broker name has no address left, it leaves its
// cluster and every topic's route; topics left without queues disappear.
func (r *RouteInfo) UnregisterBroker(brokerName, brokerAddr string, brokerID int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, brokerAddr)
	delete(r.filters, brokerAddr)
	g := r.groups[brokerName]
	if g == nil || g.BrokerAddrs[brokerID] != brokerAddr {
		return
	}
	delete(g.BrokerAddrs, brokerID)
	r.dropEmptyGroupLocked(g)
}

// removeAddrLocked forgets a broker address entirely: its liveness, filter servers and its
// place in its broker name (RocketMQ's onChannelDestroy).
func (r *RouteInfo) removeAddrLocked(addr string) {
	delete(r.live, addr)
	delete(r.filters, addr)
	for _, g := range r.groups {
		for id, a := range g.BrokerAddrs {
			if a == addr {
				delete(g.BrokerAddrs, id)
				r.dropEmptyGroupLocked(g)
				return
			}
		}
	}
}

// dropEmptyGroupLocked removes a broker name without addresses from the clusters and routes.
func (r *RouteInfo) dropEmptyGroupLocked(g *protocol.BrokerData) {
	if len(g.BrokerAddrs) > 0 {
		return
	}
	delete(r.groups, g.BrokerName)
	for cluster, names := range r.clusters {
		delete(names, g.BrokerName)
		if len(names) == 0 {
			delete(r.clusters, cluster)
		}
	}
	for topic, qs := range r.topics {
		delete(qs, g.BrokerName)
		if len(qs) == 0 {
			delete(r.topics, topic)
		}
	}
}

// Expired is a broker address Expire removed, and the connection it last registered on.
type Expired struct {
	Addr string
	Conn any
}

// Expire removes every broker that has not registered for longer than its own timeout (the
// Registration's), or timeout when it has none, before now (RocketMQ's scanNotActiveBroker)
// and returns them, sorted by address.
func (r *RouteInfo) Expire(now time.Time, timeout time.Duration) []Expired {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []Expired
	for _, addr := range slices.Sorted(maps.Keys(r.live)) {
		lb := r.live[addr]
		d := timeout
		if lb.timeout > 0 {
			d = lb.timeout
		}
		if lb.lastUpdate.Add(d).Before(now) {
			gone = append(gone, Expired{Addr: addr, Conn: lb.conn})
			r.removeAddrLocked(addr)
		}
	}
	return gone
}

// ConnClosed removes every broker whose last registration arrived on conn and returns their
// addresses, sorted.
func (r *RouteInfo) ConnClosed(conn any) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []string
	for _, addr := range slices.Sorted(maps.Keys(r.live)) {
		if r.live[addr].conn == conn {
			gone = append(gone, addr)
			r.removeAddrLocked(addr)
		}
	}
	return gone
}

// Route returns a topic's route (RocketMQ's pickupTopicRouteData): the queue data of every
// broker name hosting it and those broker names' addresses, both sorted by broker name, and
// the filter servers of those addresses. ok is false when the topic has no queues or none of
// its broker names has an address.
func (r *RouteInfo) Route(topic string) (rd protocol.TopicRouteData, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	qs := r.topics[topic]
	rd = protocol.TopicRouteData{QueueDatas: []protocol.QueueData{}, BrokerDatas: []protocol.BrokerData{}, FilterServerTable: map[string][]string{}}
	for _, name := range slices.Sorted(maps.Keys(qs)) {
		rd.QueueDatas = append(rd.QueueDatas, qs[name])
		g := r.groups[name]
		if g == nil {
			continue
		}
		rd.BrokerDatas = append(rd.BrokerDatas, g.Clone())
		for _, addr := range g.BrokerAddrs {
			if fs := r.filters[addr]; len(fs) > 0 {
				rd.FilterServerTable[addr] = slices.Clone(fs)
			}
		}
	}
	return rd, len(rd.QueueDatas) > 0 && len(rd.BrokerDatas) > 0
}

// ClusterInfo returns every broker name with its addresses, and the broker names of every
// cluster, sorted.
func (r *RouteInfo) ClusterInfo() protocol.ClusterInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ci := protocol.ClusterInfo{
		BrokerAddrTable:  make(map[string]protocol.BrokerData, len(r.groups)),
		ClusterAddrTable: make(map[string][]string, len(r.clusters)),
	}
	for name, g := range r.groups {
		ci.BrokerAddrTable[name] = g.Clone()
	}
	for cluster, names := range r.clusters {
		ci.ClusterAddrTable[cluster] = slices.Sorted(maps.Keys(names))
	}
	return ci
}

// AllTopics returns every topic with queues, sorted.
func (r *RouteInfo) AllTopics() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.topics))
}

// TopicsByCluster returns the topics with queues on a broker name of cluster, sorted.
func (r *RouteInfo) TopicsByCluster(cluster string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := r.clusters[cluster]
	out := []string{}
	for topic, qs := range r.topics {
		for name := range qs {
			if _, ok := names[name]; ok {
				out = append(out, topic)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// DeleteTopic removes a topic's route (DELETE_TOPIC_IN_NAMESRV), or with a cluster only the
// queues of that cluster's broker names. A broker re-adds it only when it registers a table
// with a new data version that still lists it.
func (r *RouteInfo) DeleteTopic(topic, cluster string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cluster == "" {
		delete(r.topics, topic)
		return
	}
	qs := r.topics[topic]
	for name := range r.clusters[cluster] {
		delete(qs, name)
	}
	if len(qs) == 0 {
		delete(r.topics, topic)
	}
}

// Registered returns when addr last registered, and the data version of the topic table it
// last registered whole (a registration of changed topics leaves that).
func (r *RouteInfo) Registered(addr string) (last time.Time, version protocol.DataVersion, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if lb := r.live[addr]; lb != nil {
		return lb.lastUpdate, lb.version, true
	}
	return time.Time{}, protocol.DataVersion{}, false
}
