// Package timer is the broker's durable timing wheel: it delivers messages at an arbitrary
// time, to the millisecond, up to a horizon (default 7 days) ahead. Scheduler plugins decide
// *when* a message is delivered; this package owns parking it, remembering it across restarts
// and firing it.
//
// # Flow
//
// A message to be delivered later is stored, at send time, in the inbox topic
// rmq_sys_wheel_timer (RocketMQ 5's name), queue 0, with its destination in REAL_TOPIC and
// REAL_QID: the CommitLog is the write-ahead log of every timer, so a producer's
// acknowledgement means the timer is durable. The service then
//
//  1. reads the inbox from its cursor and asks the broker's Decide hook (the scheduler plugins)
//     for each message's delivery time, unless the message already carries one
//     (__TERN_TIMER_AT, set by the broker for consumer retries). A failed Decide holds the
//     inbox and is retried: nothing is skipped;
//  2. appends one timer-log entry per message and links it into the wheel slot of its second;
//  3. loads each slot shortly before its second begins into an in-memory heap and fires every
//     entry when its time has come: the inbox record is copied into its real topic and queue
//     (without the timer properties the scheduler read, with __TERN_TIMER_SRC naming the inbox
//     record). A message due at or before now when it is read is fired at once.
//
// # Files (big-endian; wire format, never change)
//
// <storePathRootDir>/timerlog/: fixed-size segment files (core/store/segment) of 32-byte
// entries, appended in inbox order:
//
//	0  prev   int64  log position of the previous entry of the same slot, -1 for none
//	8  at     int64  delivery time, ms since the epoch
//	16 phy    int64  CommitLog offset of the inbox record
//	24 size   int32  size of the inbox record
//	28 magic  uint32 0x54494D52 ("TIMR")
//
// <storePathRootDir>/timerwheel: one file of slots, slot i of 24 bytes for every second s with
// s mod slots == i:
//
//	0  second int64  the slot's second (ms since the epoch, a multiple of 1000); a slot whose
//	                 second is not the one looked for is empty (an old round)
//	8  last   int64  log position of the slot's last entry (the chain runs back through prev)
//	16 count  int64  entries in the chain
//
// The wheel has twice the horizon's seconds plus one day, so a live timer never meets an older
// round's slot.
//
// <configDir>/timerCheckpoint.json: the inbox cursor (every inbox record before it has its log
// entry or was fired), the log's end, firedUpTo (every entry due before it was fired), the
// latest delivery time in each log segment (a segment goes once all of it has fired), and
// whether the service stopped cleanly. <configDir>/timerCancel.json: cancelled timers.
//
// # Recovery, exactly once
//
// At open the log is cut back to the checkpoint's end; the entries after it are made again
// from the inbox, which is re-read from the checkpoint's cursor. After an unclean stop the
// wheel is rebuilt from the log (the log is the truth, the wheel an index), and every timer
// due at or before the start is checked, before it fires, against the index of its real topic
// (UNIQ_KEY plus __TERN_TIMER_SRC): a copy fired before the crash is not fired again. A clean
// stop needs no check: firedUpTo is then exact. Without the message index
// (messageIndexEnable=false) an unclean stop gives at-least-once delivery.
//
// Inbox records are kept: the store does not delete a CommitLog segment that holds a record a
// timer still needs (RetentionFloor), however old.
//
// # Cancel
//
// Cancel(topic, msgID) finds the inbox record by its UNIQ_KEY and, unless it has fired, records
// its cancellation durably before answering; the firing skips it. Cancel and firing exclude
// each other, so an answer is always true: cancelled means it will never be delivered.
//
// # Concurrency
//
// Two goroutines: the decide stage (reads the inbox, calls Decide) hands batches over a
// bounded channel to the wheel loop, which alone touches the log, the wheel and the heap.
// Cancel takes fireMu, which the wheel loop holds while it fires a batch.
package timer
