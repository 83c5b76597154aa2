// Package etcd is the etcd discovery backend (the built-in plugin "etcd"): brokers register
// into etcd under leases, and any number of processes (stateless NameServers, brokers, tools)
// answer routes from a watch-maintained cache of the same keys, so they all give the same
// answers. It implements sdk/plugin/discovery.Discovery with the NameServer's route semantics
// (discovery/namesrv), and uses only etcd's v3 KV, Lease, Watch and Txn basics, so it works
// with etcd 3.4 and later.
//
// # Key layout
//
// Every key starts with the prefix P (Config.Prefix, default "/tern"). Broker names are
// path-escaped (url.PathEscape: "a/b" is "a%2Fb"). Wire format, never change:
//
//	P/brokers/<broker name>/<broker id>  a broker process's registration (id 0: master)
//	P/queues/<broker name>               the broker name's topics, as its master registered them
//
// Values are JSON objects:
//
//	P/brokers/broker-a/0 → {"cluster":"DefaultCluster","brokerName":"broker-a","brokerId":0,
//	                        "address":"10.0.0.1:10911","haAddress":"10.0.0.1:10912",
//	                        "dataVersion":{"counter":3,"timestamp":1700000000000},
//	                        "registerTime":1700000000123,"ttlMs":10000}
//	P/queues/broker-a    → {"cluster":"DefaultCluster","address":"10.0.0.1:10911",
//	                        "dataVersion":{"counter":3,"timestamp":1700000000000},
//	                        "topics":{"Orders":{"readQueueNums":4,"writeQueueNums":4,
//	                                            "perm":6,"topicSysFlag":0}}}
//
// registerTime is in ms since the epoch; haAddress is omitted when empty, and a topic's
// "order" when false. Readers ignore keys outside this layout and treat a value they cannot
// decode as absent, so the layout may grow. One queues value holds all of a broker name's
// topics (a registration is then one transaction of at most a few operations, whatever the
// number of topics, within etcd's default limit of 128 operations); Register refuses a value
// over 1 MiB (about ten thousand topics), below etcd's default 1.5 MiB request limit.
//
// # Leases
//
// Each registered broker (a BrokerKey) has its own lease, TTL Registration.TTL or Config.TTL
// (10 s), rounded up to whole seconds. A Register writes the broker key and, for a master,
// the queues key, both under that lease, in one transaction; so a broker name's topics belong
// to its master's lease and vanish with it. A slave's topics are ignored, as in the
// NameServer; it is answered with its master's address and HA address, read in the same
// transaction. A master rewrites its queues key only when its data version changes (or the
// lease does); topics its new table omits are kept unless
// Config.DeleteTopicWithBrokerRegistration is set (the NameServer option of that name). An
// address registering under another id of its broker name (a promoted slave) deletes its old
// id's key in the same transaction.
//
// The Backend that registered a broker keeps its lease alive (etcd's KeepAlive) until
// Unregister or Close; a broker process that dies takes its Backend with it, and its keys
// vanish within the TTL. Brokers still register every 30 s, which refreshes the register time
// and re-reads their topic table. A Backend that registers brokers on their behalf (a
// stateless NameServer) sets Config.Expiry (the NameServer's 120 s): a broker that has not
// registered within its Registration.TTL (or Expiry, when that is 0) is then no longer kept
// alive and its lease is revoked, as a registration that is not refreshed lapses in the
// NameServer.
//
// Unregister revokes the lease that owns the broker's key, whichever Backend granted it; a
// Backend whose lease is revoked while its keepalives were being answered (at most one
// missed) takes it as an Unregister from elsewhere and forgets the broker. Close does not
// revoke: the leases lapse, as when the process dies.
//
// When a Backend cannot reach etcd for longer than a lease's TTL, the keepalive gives the
// lease up (etcd may have expired it and deleted the keys). The Backend then grants a new
// lease and rewrites the broker's last registration, retrying with backoff (100 ms doubling
// to 3 s, each attempt bounded by Config.DialTimeout) until etcd answers, so registrations
// come back after an etcd outage without the broker registering again.
//
// Several Backends may register the same broker (a broker registering through several
// stateless NameServers): each keeps a lease of its own, and the keys belong to the lease of
// the newest write. If that lease lapses while another Backend's lives, the keys are gone
// until the broker's next registration rewrites them.
//
// # Reads
//
// A Backend reads the whole prefix at one revision R (at Open or Init, which fail when etcd
// does not answer within DialTimeout), then watches from R+1 and applies each watch response
// whole: etcd never splits a revision across responses, so the cache, and every answer from
// it (Route, Brokers, Topics, TopicsByCluster), reflects exactly one revision. Two Backends
// at one revision answer identically (Revision tells which). When the watch fails (a
// compaction, a lost leader, a closed stream), the Backend reads everything again, with
// backoff, and resumes; watchers get EventReset. Register and Unregister return once the
// Backend's own cache shows the write (waiting at most 5 s), so a read after them on the same
// Backend sees it.
//
// While etcd is unreachable, reads keep answering from the cache as of the last revision
// seen, never with an error: brokers and NameServers keep serving the clients they have,
// with routes that may be stale by the length of the outage. Writes (Register, Unregister)
// fail with errors wrapping plugin.ErrUnavailable. A route of an unknown topic is an error
// wrapping plugin.ErrNotFound; calls before Init, or after Close, fail with errors wrapping
// plugin.ErrUnavailable.
//
// Watch sends EventReset, then the cache's changes in revision order: EventBrokerRegistered
// when a broker key appears or changes other than in its register time,
// EventBrokerUnregistered when one goes, and EventTopic for every topic whose route changed
// (its queues, or the addresses of a broker name hosting it). It holds up to 1024 events for
// a slow receiver, then drops them and sends one EventReset.
//
// # Manifest config
//
//	endpoints    list of "host:port" (or one string, ';' or ',' separated); required
//	prefix       key prefix, default "/tern"
//	ttl          default lease TTL, a duration string ("10s")
//	dialTimeout  a duration string, default "5s"
//	expiry       a duration string: see Config.Expiry; default none
//	deleteTopicWithBrokerRegistration  bool, default false
//
// # Structure
//
// Table is the deterministic core: key/values in, routes and events out, no goroutines and no
// I/O. The Backend guards it with a lock and feeds it from one goroutine (Get, then Watch);
// each registered broker has a keeper goroutine that owns its lease. Close stops them all and
// waits for them.
package etcd
