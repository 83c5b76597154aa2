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
// Removal: UNREGISTER_BROKER, a registration older than brokerChannelExpiredTime (120 s,
// checked every scanNotActiveBrokerInterval, 10 s; the broker's connection is then closed), or
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
// # Structure
//
// RouteInfo is the deterministic core: a plain struct guarded by one RWMutex, no goroutines,
// every time-dependent method taking now. Server wires it to core/remoting (handlers.go),
// watches connections through the remoting server's OnDisconnect hook, and owns the expiry loop.
//
// Served codes: 103 REGISTER_BROKER, 104 UNREGISTER_BROKER, 105 GET_ROUTEINFO_BY_TOPIC,
// 106 GET_BROKER_CLUSTER_INFO, 206 GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 216
// DELETE_TOPIC_IN_NAMESRV and 224 GET_TOPICS_BY_CLUSTER. Others get REQUEST_CODE_NOT_SUPPORTED;
// in particular there is no KV config (100-102, 219): register responses carry no body, and
// routes no orderTopicConf.
package namesrv
