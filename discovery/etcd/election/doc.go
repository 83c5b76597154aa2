// Package election elects the master of a broker group (one broker name: a master and its
// slaves) through etcd, for automatic master failover, and hands out epochs that fence the
// masters of older terms.
//
// Every replica of the group runs an Elector. It keeps a lease of its own, reports its
// replication state under that lease, watches the group's keys, and campaigns when the group
// has no leader and it is the best candidate. It uses only etcd's v3 KV, Lease, Watch and Txn
// basics (etcd 3.4 and later), and the client the caller gives it.
//
// # Key layout
//
// Every key starts with the prefix P (Config.Prefix, default "/tern") and the group name N,
// path-escaped as in the discovery keys (url.PathEscape: "a/b" is "a%2Fb"). Wire format,
// never change:
//
//	P/ha/N/leader              the leader: {"brokerId":1,"address":"10.0.0.1:10911",
//	                           "haAddress":"10.0.0.1:10912"}, under the leader's lease
//	P/ha/N/replicas/<brokerId> a replica's report: {"brokerId":1,"address":"10.0.0.1:10911",
//	                           "haAddress":"10.0.0.1:10912","maxOffset":4096,"epoch":17,
//	                           "updatedMs":1700000000123}, under the replica's lease
//
// updatedMs is in ms since the epoch. Readers ignore other keys under P/ha/ and treat a
// report they cannot decode as absent; a leader value they cannot decode still holds the
// leadership (the key exists), for an unknown broker (BrokerID -1). The discovery backend
// (package etcd) ignores these keys, so both may share a prefix.
//
// # Epochs
//
// The leader key is written by a transaction that succeeds only if the key does not exist
// (CreateRevision == 0). The epoch of a leadership is the key's CreateRevision: etcd's
// revision grows with every write in the cluster, so a later leadership of any group has a
// higher epoch. The broker stamps its writes (or its replication handshake) with the epoch;
// a slave refuses a master whose epoch is below the highest it has seen, which fences a
// master that has not yet noticed its end (see Safety).
//
// # Election rule
//
// A replica reports its state with Report (its log's maxOffset and the epoch of the last
// leadership its data comes from). The Elector writes the latest report at most every
// Config.ReportInterval and only when it changed, and at once when the leader key vanishes.
// A report is live while its key exists, that is while its replica's lease lives.
//
// When the leader key is absent (at start, or when it vanishes), every replica waits
// Config.Settle for the others' fresh reports, then takes the best live report: the highest
// maxOffset, then the highest epoch, then the lowest brokerId. The best replica campaigns; a
// replica whose own report is not live does not. The others wait: they look again whenever a
// report appears, changes or goes (a best candidate that died takes its report with its
// lease), and every TTL while the group stays leaderless (first after Settle+TTL). So the
// most up-to-date live replica is elected, never a lagging one while a better one is live.
// A best replica that is live but never campaigns (its process stuck with its keepalive
// running) leaves the group leaderless: availability is never bought with lost messages.
// Two replicas that each believe they are best (their views differ for a moment) both
// campaign; the transaction lets exactly one win.
//
// A leader key naming this replica's brokerId under a lease that is not this Elector's
// current one (an earlier lease of this Elector, or an earlier process with the same id) is
// stale: the Elector deletes it (comparing its CreateRevision) and the group elects again.
//
// # Events
//
// Changes delivers, in order: EventElected (this replica won; Leader.Epoch is its fencing
// token), EventDeposed (this replica held the leadership and lost it: the broker must stop
// taking writes at once), EventLeader (another replica leads, or the leader changed) and
// EventNoLeader (the leader key vanished). After EventDeposed, Leader reports no leader until
// the next observation. The channel holds 16 events and never blocks the Elector: when it is
// full, runs of consecutive EventLeader/EventNoLeader are merged into their last (the state
// they lead to). EventElected and EventDeposed are never dropped: an Elector whose channel
// has fewer than four free slots after merging does not campaign, so a winner's Elected, its
// Deposed and one state event always fit. A broker that stops reading its events thus stops
// being elected. Changes is closed when Run returns.
//
// # Safety
//
// Leases are kept alive by this package, one KeepAliveOnce every TTL/3 (not etcd's
// KeepAlive, which does not say when a request was sent). Let s be the local time just
// before a keepalive (or the grant) that succeeded with TTL t: etcd renewed the lease at a
// time no earlier than s, so the lease cannot expire on the server before s+t. The Elector
// fences itself at s+t-t/5 by its own clock if no later keepalive succeeded: it emits
// EventDeposed and never reports the leadership as held again. It also does so at once when
// etcd answers that the lease is gone, and when it sees the leader key deleted or replaced.
//
// A new leader can only be elected after the old leader key is gone: the campaign
// transaction requires its absence. The key goes when the old lease expires on the server
// (or is revoked, or the key deleted). Expiry comes after s+t, the old leader fenced itself
// t/5 earlier by its local clock (clock rates differ by far less than that); the new leader
// moreover waits Settle after seeing the key go. An old leader therefore stops taking writes
// before any new leader is elected, unless its lease is revoked or its key deleted by hand
// (or by Resign), in which case it learns of it through its watch, and a slave that already
// follows the new epoch refuses it: the epoch is the fence.
//
// An Elected event is emitted only while the lease is locally valid (checked under the same
// lock the fencing takes), so a leadership is never announced after its fence.
//
// # Structure
//
// view is the deterministic core: the group's keys in, the decision (campaign, or when to
// look again) out, no I/O, no goroutines and an explicit clock. Run is the shell: its
// goroutine owns the session (lease, watch, reports, campaigns), and one goroutine per lease
// keeps it alive and fences; Run stops and waits for it. Elector.mu guards the state the
// caller sees (the latest report, the observed leader, the held leadership, the event
// channel); it is the only lock, and no I/O happens under it.
package election
