// Package store is Tern's message store: RocketMQ's CommitLog + ConsumeQueue + IndexFile design
// on memory-mapped files, as a library the broker sits on.
//
// # Files (on-disk format, never change)
//
//	<storePathRootDir>/
//	  commitlog/<20-digit start offset>          every message, in arrival order (package commitlog)
//	  consumequeue/<topic>/<queueId>/<20-digit>  20-byte entries per queue (package consumequeue)
//	  index/<20-digit first physical offset>     key hash index (package index)
//	  checkpoint                                 durable progress marks (package checkpoint)
//	  abort                                      present while the store is open: an unclean stop
//	  lock                                       flock(2)ed by the process that has the store open
//
// # Writing and visibility
//
// PutMessages validates its records (topic name, sizes), computes body CRCs outside any lock and
// then appends them in one call to the CommitLog's single writer: inside the writer lock each
// record gets its physical offset, its queue offset (from the per-queue counters the store keeps)
// and the store time, and is encoded straight into the mapped segment. The body is copied once,
// from the caller's buffer into the mapping.
//
// A dispatcher goroutine follows the end of the CommitLog: for each new record it writes the
// ConsumeQueue entry (physical offset, size, tags code) and the index entries (each KEYS entry and
// the UNIQ_KEY), then publishes the queue's new maximum offset and reports the arrivals to
// Config.OnArrival in one batch (the broker wakes long-polling pulls from it). The dispatcher only
// reads records below the CommitLog's published end, and readers only read ConsumeQueue entries
// below the published maximum, so nobody sees an entry before its record is readable.
// Prepared and rolled-back transaction records get no ConsumeQueue entry.
//
// GetMessages walks a ConsumeQueue from an offset, filters on the entry's tags code first and on
// the record second (Filter), and returns the records as slices of the mapped CommitLog with a
// Release that keeps their segments mapped meanwhile, so a pull response can be written to a
// socket straight from the page cache.
//
// # Durability
//
// ASYNC_FLUSH acknowledges a put once its records are in the mapped pages (a process crash keeps
// them: the page cache survives) and writes back every flushIntervalCommitLog. SYNC_FLUSH
// acknowledges once the records are on the disk; concurrent puts share disk flushes (group
// commit, see package commitlog). Every flushIntervalConsumeQueue the store writes the
// checkpoint: the CommitLog offset known flushed (the durable mark) and the offset up to which
// queue and index entries are flushed (the dispatch mark). Every
// flushConsumeQueueThoroughInterval (60 s) it first flushes every ConsumeQueue and the index and
// moves the dispatch mark; in between it flushes only the queues with
// flushConsumeQueueLeastPages (2) pages written and leaves the dispatch mark, so that ten
// thousand queues do not cost ten thousand sync calls a second (RocketMQ's scheme). Both marks
// are read before the flushes they describe; recovery dispatches again from the dispatch mark.
//
// # Recovery
//
// Open always runs the same recovery; it is cheap after a clean Close, when the checkpoint is at
// the end of the log:
//
//  1. ConsumeQueue entries at or past the dispatch mark are dropped (they may be torn).
//  2. The CommitLog is scanned from the start of the segment holding the dispatch mark. Each
//     record's magic code, lengths, physical offset field, topic and body CRC are checked, and
//     each valid record is dispatched again (dispatch is idempotent). A bad record below the
//     durable mark is corruption: Open fails with a *commitlog.CorruptionError naming the offset
//     and file, unless TruncateCorruptOnRecover allows cutting the log there. A bad record above
//     the durable mark is a torn tail and is cut. Each record's TOTALSIZE is written last, so a
//     process killed in the middle of an append leaves a zero size: the end of the data.
//  3. Queue entries past the recovered end are dropped, queue minimums follow the CommitLog's
//     minimum, the per-queue offset counters are taken from the queues, the recovered data is
//     flushed and a fresh checkpoint written.
//
// # Retention
//
// Every cleanResourceInterval the store checks the disk holding its directory. CommitLog
// segments older than fileReservedTime (by modification time) are deleted at a deleteWhen hour,
// or at once when the disk is more than diskMaxUsedSpaceRatio percent full; above
// diskSpaceCleanForciblyRatio the oldest segments are deleted whatever their age; the newest
// segment is never deleted. ConsumeQueue segments and index files wholly below the CommitLog's new
// minimum go with them. Above diskSpaceWarningLevelRatio puts fail with ErrDiskFull until space is
// freed; nothing stored is touched.
//
// # Replication
//
// A master's HA service reads its CommitLog with ReadCommitLog (whole records, never across a
// segment end, straight from the mapping) and waits for more with WaitCommitLog. A slave writes
// what it receives with AppendReplicated at its own end: every record is checked as recovery
// checks it and must carry its queue's next offset, so the slave's CommitLog files are
// byte-for-byte the master's and its ConsumeQueues hold the master's queue offsets. An empty
// slave may start at any segment start. When a slave's tail diverged from a new master's,
// Truncate cuts the CommitLog, the ConsumeQueues and the index back to a record boundary, durably
// (the checkpoint is lowered before the cut), and resets the queue offset counters.
//
// # Concurrency
//
// Lock order: maint (Truncate, retention) → ckMu (checkpoints) → dmu (held by the dispatcher for
// a batch) → the CommitLog's flush lock → CommitLog writer lock → omu (queue offset counters).
// qmu (the ConsumeQueue registry) is never held while taking another lock. Goroutines: the
// CommitLog flusher, the dispatcher, the queue flusher/checkpointer and the retention loop; Close
// stops and waits for all of them.
package store
