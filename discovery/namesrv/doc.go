// Package namesrv is Tern's built-in NameServer: brokers register their topics with it, and
// clients ask it which brokers serve a topic. It speaks RocketMQ 4.x's NameServer protocol, so
// Java brokers and the unmodified Java and Go clients can use it, and follows the semantics of
// RocketMQ's RouteInfoManager. References are to docs/rocketmq-remoting-protocol.md.
//
// # Route model
//
// A broker set has a broker name, belongs to a cluster and has a master (broker id 0) and
// possibly slaves (ids > 0), each registered under its "ip:port" address. The registry keeps
//
//	topics    topic → broker name → QueueData (read/write queue counts, perm, topicSysFlag)
//	groups    broker name → BrokerData (cluster, broker id → address)
//	clusters  cluster → broker names
//	live      broker address → last registration time, topic-table data version, HA address,
//	          the connection it registered on
//
// and a topic's route (GET_ROUTEINFO_BY_TOPIC) is the QueueData of every broker name hosting
// it plus those broker names' BrokerData, sorted by broker name. Producers write to masters
// only; consumers read from the master unless a pull response suggests a slave.
//
// Registration (REGISTER_BROKER, every 30 s from each broker, and at once when a topic is
// created):
//
//   - the broker name joins its cluster and the address takes its broker id; an address
//     registered under another id of the same name leaves that id (a promoted slave);
//   - only a master's topic table is read, and only when the broker name or id is new or the
//     table's data version differs from the one last registered from that address. Each listed
//     topic's QueueData for the broker name is replaced. Topics the table omits are kept (a
//     Java 4.x broker registers a new topic with a one-topic table) unless
//     deleteTopicWithBrokerRegistration is set;
//   - a slave is answered with its master's address and HA address.
//
// Removal: UNREGISTER_BROKER, a registration older than its heartbeat timeout (REGISTER_BROKER's
// optional heartbeatTimeoutMillis header field, RocketMQ 5.x's name for it; without it
// brokerChannelExpiredTime, 120 s), checked every scanNotActiveBrokerInterval (10 s; the
// broker's connection is then closed), or
// the close of the connection a broker last registered on. The address leaves its broker name;
// a broker name left without addresses leaves its cluster (an empty cluster disappears) and
// every topic's route, and a topic left without queues disappears. While a slave remains, the
// broker name and its queues stay (readable from the slave). DELETE_TOPIC_IN_NAMESRV removes a
// topic (optionally only a cluster's queues) until a master registers a new table listing it.
//
// Route bodies are written by core/protocol with compact, quoted broker ids, which Go v2.1.2,
// old and new Java clients all read (§3.1, §10.2); an unknown topic is answered with
// TOPIC_NOT_EXIST (17). Broker addresses containing whitespace, ',' or '"' are refused at
// registration because the Go client parses brokerAddrs as text.
//
// # A discovery backend behind the NameServer
//
// With Config.Backend (etcd, say) the NameServer is stateless: REGISTER_BROKER and
// UNREGISTER_BROKER, from Java or Tern brokers, are forwarded to the backend as
// discovery.Registration (heartbeatTimeoutMillis becomes its TTL, 0 when absent: the backend's
// default), and GET_ROUTEINFO_BY_TOPIC, GET_BROKER_CLUSTER_INFO, GET_ALL_TOPIC_LIST_FROM_NAMESERVER
// and GET_TOPICS_BY_CLUSTER are answered from it, in the same bytes as the in-memory registry
// (the same wire types, sorted alike, filterServerTable {}). So any number of NameServers on one
// backend answer alike. The topic listings need the backend to have Topics(ctx) and
// TopicsByCluster(ctx, cluster) methods (REQUEST_CODE_NOT_SUPPORTED otherwise);
// DELETE_TOPIC_IN_NAMESRV is a no-op unless it has DeleteTopic(ctx, topic, cluster), since
// routes are the brokers' registered tables and a broker re-registers when a topic is deleted.
//
// The only state kept is the liveness of the brokers that registered through this NameServer:
// one whose connection closes, or that stays silent past its heartbeat timeout, is
// unregistered from the backend, as the in-memory registry would drop it. Closing the
// NameServer unregisters nobody: its peers still serve those brokers. The backend's own TTL
// covers a NameServer that dies.
//
// # Client
//
// Client is discovery.Discovery over this protocol, for brokers and tools: Register and
// Unregister go to every NameServer of its list at once and fail only when none took them;
// reads ask the NameServers in order. Registration.TTL travels as heartbeatTimeoutMillis.
// Watch is unsupported.
//
// # Structure
//
// RouteInfo is the deterministic core: a plain struct guarded by one RWMutex, no goroutines,
// every time-dependent method taking now. Server wires it, or the backend (backend.go), to
// core/remoting through one small registry interface (registry.go, handlers.go), watches
// connections through the remoting server's OnDisconnect hook, and owns the expiry loop.
//
// Served codes: 103 REGISTER_BROKER, 104 UNREGISTER_BROKER, 105 GET_ROUTEINFO_BY_TOPIC,
// 106 GET_BROKER_CLUSTER_INFO, 206 GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 216
// DELETE_TOPIC_IN_NAMESRV and 224 GET_TOPICS_BY_CLUSTER. Others get REQUEST_CODE_NOT_SUPPORTED;
// in particular there is no KV config (100-102, 219): register responses carry no body, and
// routes no orderTopicConf.
package namesrv
