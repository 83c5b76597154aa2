// Package discovery is the Go interface of discovery plugins: the registry of brokers and
// topic routes that RocketMQ keeps in its NameServers, kept instead in another store (etcd,
// Consul, a database) or computed.
//
// Brokers Register periodically (every 30 s in RocketMQ) with their topics and a TTL, and
// Unregister on shutdown; a registration not refreshed within its TTL lapses. Route and
// Brokers answer what GET_ROUTEINFO_BY_TOPIC and GET_BROKER_CLUSTER_INFO answer. Watch lets
// the host keep caches of routes without polling.
//
// Errors: Route of an unknown topic wraps plugin.ErrNotFound; a backend that cannot watch
// returns plugin.ErrUnsupported from Watch; a backend that is down returns
// plugin.ErrUnavailable.
//
// Built-in backends implement Discovery in process; Serve runs any implementation as an
// out-of-process plugin, and the host's gRPC client implements it again (Watch becomes a
// server stream).
package discovery

import (
	"context"
	"strconv"
	"time"
)

// Info describes a discovery backend, answered by Init.
type Info struct {
	// Name and Version identify the implementation (for `tern plugins list`).
	Name    string
	Version string
}

// BrokerKey identifies one broker process.
type BrokerKey struct {
	Cluster    string
	BrokerName string
	BrokerID   int64  // 0 for a master
	Address    string // "ip:port"
}

// TopicConfig is a broker's configuration of one topic.
type TopicConfig struct {
	Name           string
	ReadQueueNums  int32
	WriteQueueNums int32
	Perm           int32
	TopicSysFlag   int32
	Order          bool
}

// DataVersion versions a broker's topic table; the registry may skip re-reading Topics when
// it has not changed.
type DataVersion struct {
	Counter   int64
	Timestamp int64 // ms since the epoch
}

// Registration is a broker's REGISTER_BROKER.
type Registration struct {
	Broker      BrokerKey
	HAAddress   string
	Topics      []TopicConfig
	DataVersion DataVersion
	// TTL is how long the registration lives without a refresh (carried in whole ms); 0 means
	// the plugin's default.
	TTL time.Duration
	// Epoch is the fencing token of a master elected through etcd (--ha etcd); 0 for a static
	// master or a slave. A registry that knows epochs refuses a master whose epoch is below
	// the master it holds for the broker name, so a deposed master cannot take the routes back.
	Epoch int64
}

// RegisterResult: for a slave whose master is registered, the master's addresses.
type RegisterResult struct {
	MasterAddress string
	HAAddress     string
}

// QueueData is one broker set's queues of a topic.
type QueueData struct {
	BrokerName     string
	ReadQueueNums  int32
	WriteQueueNums int32
	Perm           int32
	TopicSysFlag   int32
}

// BrokerData is a broker set: a master (id 0) and its slaves, under one broker name.
type BrokerData struct {
	Cluster    string
	BrokerName string
	Addresses  map[int64]string // broker id → "ip:port"
}

// Route is a topic's route (RocketMQ's TopicRouteData without filter servers).
type Route struct {
	OrderTopicConf string // "brokerA:4;brokerB:4", optional
	Queues         []QueueData
	Brokers        []BrokerData
}

// ClusterInfo is every live broker (GET_BROKER_CLUSTER_INFO).
type ClusterInfo struct {
	Brokers  map[string]BrokerData // broker name → broker set
	Clusters map[string][]string   // cluster → broker names
}

// EventType says what changed. The zero value is not an event type.
type EventType uint8

// The event types. Their values are those of the wire enum tern.plugin.v1.EventType.
const (
	// EventReset: anything may have changed (the watch started, or events were dropped);
	// re-read whatever is cached.
	EventReset EventType = 1
	// EventTopic: the route of Event.Topic changed.
	EventTopic EventType = 2
	// EventBrokerRegistered: Event.Broker registered, or its registration changed.
	EventBrokerRegistered EventType = 3
	// EventBrokerUnregistered: Event.Broker unregistered or its registration lapsed.
	EventBrokerUnregistered EventType = 4
)

// Valid reports whether t is one of the event types.
func (t EventType) Valid() bool { return t >= EventReset && t <= EventBrokerUnregistered }

func (t EventType) String() string {
	switch t {
	case EventReset:
		return "RESET"
	case EventTopic:
		return "TOPIC"
	case EventBrokerRegistered:
		return "BROKER_REGISTERED"
	case EventBrokerUnregistered:
		return "BROKER_UNREGISTERED"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// Event is one change seen by Watch.
type Event struct {
	Type   EventType
	Topic  string    // EventTopic
	Broker BrokerKey // EventBrokerRegistered, EventBrokerUnregistered
}

// Discovery is implemented by discovery plugins. Its methods are called concurrently.
type Discovery interface {
	// Init hands the plugin its manifest config once after every start and returns what the
	// plugin is.
	Init(ctx context.Context, config map[string]any) (Info, error)
	// Register adds or refreshes a broker and its topics.
	Register(ctx context.Context, reg Registration) (RegisterResult, error)
	// Unregister removes a broker at once; removing an unknown broker is not an error.
	Unregister(ctx context.Context, broker BrokerKey) error
	// Route returns a topic's route, or an error wrapping plugin.ErrNotFound.
	Route(ctx context.Context, topic string) (Route, error)
	// Brokers returns every live broker.
	Brokers(ctx context.Context) (ClusterInfo, error)
	// Watch calls send with each change, one call at a time, starting with EventReset, until
	// ctx ends (it returns ctx.Err()), send fails (it returns send's error), or the backend
	// does. Topic events are only for topics starting with topicPrefix ("" for all); broker
	// and reset events always come. An implementation must not buffer without bound for a
	// slow send: it drops events and sends EventReset once send is ready again.
	Watch(ctx context.Context, topicPrefix string, send func(Event) error) error
}
