// Package transaction implements RocketMQ 4.x transactional messages on the broker: half
// messages, END_TRANSACTION (37), the check loop that sends CHECK_TRANSACTION_STATE (39), and
// the state that makes all of it survive a restart. References are to
// docs/rocketmq-remoting-protocol.md §2.2 (codes 37 and 39) and §6.6.
//
// # Records (stored format, never change)
//
// Everything lives in ordinary stored topics, queue 0 each:
//
//	RMQ_SYS_TRANS_HALF_TOPIC     half messages ("copies"), transaction bits of SYSFLAG reset to 0,
//	                             so that they get ConsumeQueue entries there
//	RMQ_SYS_TRANS_OP_HALF_TOPIC  op records: one per resolved transaction
//	TRANS_CHECK_MAX_TIME_TOPIC   half messages discarded after transactionCheckMax checks
//
// A half message is the producer's message with topic RMQ_SYS_TRANS_HALF_TOPIC, queue 0, and
// the properties REAL_TOPIC and REAL_QID (its destination), PGROUP (the producer group; taken
// from the send header if the producer left it out) and TRAN_MSG=true. The properties the
// broker owns on half messages (REAL_TOPIC, REAL_QID, TRAN_PREPARED_QUEUE_OFFSET,
// TRANSACTION_CHECK_TIMES) are dropped from what the producer sent; other pairs are kept byte
// for byte.
//
// The check loop re-appends a half message it checks, so that its progress can move on; the
// copy carries every field of the one before it, TRANSACTION_CHECK_TIMES (checks so far) and
// TRAN_PREPARED_QUEUE_OFFSET = the transaction's origin. The origin of a transaction is the
// half-topic queue offset of its first copy, the queueOffset its producer got in the send
// response; a copy without TRAN_PREPARED_QUEUE_OFFSET is its own origin. Transactions are
// identified by their origin everywhere below, never by a copy's offset: a producer may answer
// any copy's check, or the send itself, and each of those refers to a different copy.
//
// An op record marks its transaction resolved:
//
//	topic         RMQ_SYS_TRANS_OP_HALF_TOPIC, queue 0, sysflag 0
//	TAGS          "d" (RocketMQ's REMOVETAG)
//	body          the origin, as decimal text
//	TRAN_OUTCOME  COMMIT, ROLLBACK or DISCARD; an op record without it (RocketMQ writes
//	              none) means "resolved, outcome unknown"
//
// The body differs from RocketMQ's, whose op body is the queue offset of the copy a request
// named: Tern names the transaction, so that answers to different copies agree.
//
// A commit writes the real message and its op record in one PutMessages call (one append, one
// flush wait): the real message goes to REAL_TOPIC/REAL_QID with transaction type COMMIT (0x8),
// PREPAREDTRANSACTIONOFFSET = the physical offset of the copy the request named, and TRAN_MSG,
// REAL_TOPIC and REAL_QID removed; the store recomputes its tags code from TAGS. A DELAY the
// producer set is honoured then, as RocketMQ does for COMMIT records. A rollback writes only the
// op record. A discard writes the copy to TRANS_CHECK_MAX_TIME_TOPIC (transaction type 0) and
// the op record, in one call.
//
// # State
//
// The Ledger holds, in memory:
//
//   - progress: the next half-topic queue offset the check loop examines. Every copy below it
//     was resolved, re-appended or discarded when the loop passed it.
//   - carried: for each transaction the loop re-appended, its newest copy's offset, as long as
//     that copy is at or past progress.
//   - floor = min(progress, every carried origin). Every transaction whose origin is below the
//     floor is resolved, and none of its copies lies at or past progress.
//   - resolved: the outcome and op-record offset of resolved transactions with origin ≥ floor,
//     and of those the floor passed at the last check run. Older entries are dropped (Prune):
//     a request naming such a transaction is answered "already resolved" (Resolved) without
//     its outcome. Memory is therefore bounded by the transactions resolved since the oldest
//     pending one started, plus one check interval's worth.
//   - claims: transactions being resolved right now (an END_TRANSACTION writing, or the loop
//     discarding). A second resolver of the same transaction waits for the first.
//   - opProgress: an op-topic queue offset below which every op record names a transaction
//     below the floor.
//
// progress and opProgress are consumer offsets of the system group CID_RMQ_SYS_TRANS on the
// half and op topics (queue 0) in the broker's offsets store, committed in that order after
// every check run (so a persisted pair never has an opProgress newer than its progress). At
// start, New rebuilds the rest: resolved from the op records from opProgress on, carried from
// the copies from progress on. After a crash the persisted pair may be older than the state
// was; the loop then examines some copies again (extra checks, never an extra delivery).
//
// # Idempotency
//
// END_TRANSACTION looks the copy up by commitLogOffset, checks that it is a half message whose
// PGROUP and queue offset match the request, and claims its origin. A transaction already
// committed answers a repeated commit with success and a rollback with ResolvedError; one
// rolled back or discarded answers a rollback with success and a commit with ResolvedError;
// nothing is written again. So a commit or rollback that arrives twice, or both, from the
// send path and from a check, before or after a restart, delivers the message at most once.
// The one gap is a crash inside the commit's append (the message record written, its op
// record torn and cut by recovery; or, with ASYNC_FLUSH, an OS crash that keeps only the first
// page): the transaction is then pending again, is checked, and a commit delivers it a second
// time, as RocketMQ would.
//
// # The check loop
//
// Every checkInterval the loop walks the half queue from progress to the end it saw when the
// run started, asking the Ledger what to do with each copy (Decide):
//
//   - Skip: its transaction is resolved.
//   - Wait: too young (born less than transactionTimeOut ago), or being resolved right now:
//     the run stops here, progress stays.
//   - Defer: younger than its own CHECK_IMMUNITY_TIME_IN_SECONDS: re-appended unchanged, so that
//     it does not hold back the others.
//   - Check: re-appended with TRANSACTION_CHECK_TIMES+1, then the Checker is asked about the new
//     copy (by default: CHECK_TRANSACTION_STATE to one connection of its producer group).
//   - Discard: checked transactionCheckMax times: moved to TRANS_CHECK_MAX_TIME_TOPIC and
//     resolved. (So is a copy the store refuses to re-append, which would otherwise stop every
//     run at it.)
//
// As in RocketMQ, a check counts whether or not a producer of the group is connected.
//
// # Concurrency
//
// The Ledger is safe for concurrent use (one mutex, held only for map operations, never across
// I/O). END_TRANSACTION runs on the remoting goroutines; the check loop is one goroutine that
// Start launches and Close stops and waits for. Check runs are serialised.
package transaction
