// Package commitlog is Tern's append-only log of every stored message, on fixed-size
// memory-mapped segments (RocketMQ's CommitLog).
//
// # Layout
//
// The log is one byte stream addressed by a global physical offset and cut into segment files
// named by their first offset (package segment). Records use RocketMQ's stored record layout
// (package message) and are packed with no padding. A record never spans two segments: when the
// next record (or batch of records) does not fit in the current segment with at least
// message.BlankHeaderSize bytes to spare, the writer ends the segment with a blank marker
//
//	TOTALSIZE int32 = bytes left in the segment | MAGIC int32 = message.MagicBlank
//
// and continues at the start of the next segment. Zero bytes where a record should start mean
// the end of the written data. So a reader can walk the log from any record boundary.
//
// # Writing
//
// Appends go through one writer: Append holds the writer lock while it reserves space, lets the
// caller encode straight into the mapping (the only copy of the message body into the log) and
// publishes the new end of the log. The caller assigns everything that depends on the order of
// the log (queue offsets, store time) inside its encode function, so the order of the log and of
// every ConsumeQueue agree.
//
// AppendAt is the replication variant: it writes bytes taken from another log (a master's) at
// the end of this one, as they are, and Truncate cuts the log back to a record boundary.
//
// # Flushing
//
// With FlushSync (RocketMQ SYNC_FLUSH), a writer that needs durability calls WaitFlushed with the
// end offset Append returned. One flusher goroutine runs msync over everything written so far and
// wakes every waiter it covered: while one flush is on the disk, later appends queue up behind it
// and the next flush covers them all (group commit), so N concurrent producers share one disk
// flush. A flush that does not cover a waiter within SyncFlushTimeout returns ErrFlushTimeout to
// it; the record is written and will still be flushed. OnFlushed is the same wait without a
// goroutine parked per writer: the flusher calls the callbacks of a flush itself when it ends
// (the broker answers SYNC_FLUSH sends this way, as RocketMQ's asynchronous put does), and a
// timer fails those left at their deadline. In this mode a second goroutine keeps the blocks just past
// the end of the log written with zeros and synced (Options.ZeroAhead), so that a flush does
// not also have to commit the allocation of the blocks it writes, and the flushes unmap the pages
// readers mapped once the log is 4 MiB past them (unmapRead). With FlushAsync the flusher writes back
// every FlushInterval and Append returns once the record is in the page cache: a process crash
// loses nothing, a power loss loses at most the last interval. In this mode the appends
// prepare the pages past the end of the log instead, a piece each, so that no append's page
// fault reads around itself (warmNext), and a flush unmaps the pages it writes back first. A
// large append (directMin) those pieces do not cover is written with pwrite instead of stored,
// which is cheaper than preparing its pages (writeDirect).
//
// # Recovery
//
// Recover walks the log forward from a record boundary, checking the magic code, every length
// and the body CRC of each record. Data below the durable mark (what a flush covered before the
// stop) must be valid: a bad record there is corruption and is reported as a *CorruptionError
// (or, when the caller allows it, truncated there and reported). A bad record above the durable
// mark is a torn tail left by the crash: the log is cut there.
package commitlog
