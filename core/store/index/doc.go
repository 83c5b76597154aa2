// Package index is the store's key index: it maps (topic, key) to the CommitLog physical offsets
// of the messages that carry the key, for QUERY_MESSAGE. The store's dispatcher calls Put once for
// every key of a message (each space-separated KEYS entry and the UNIQ_KEY); Query returns the
// offsets of candidate records, newest first. The index is lossy on purpose: two keys may share a
// hash and times are kept to the second, so the store reads every returned record and checks its
// topic, key and store timestamp. What the index guarantees is the other direction: a key that was
// indexed is never missing from a result (within the caller's limit).
//
// The design follows RocketMQ's IndexFile: a fixed-size hash table of slots per file, each slot
// heading a chain of entries linked newest to oldest.
//
// # On disk (wire format, never change)
//
// All files live in one directory. Each is named by the physical offset of the first record
// indexed in it, as 20 decimal digits zero-padded (00000000000000000000, 00000000000001048576,
// …); other names are ignored. Every file has the same size,
//
//	HeaderSize + SlotSize*MaxHashSlots + EntrySize*MaxIndexEntries
//	    = 40 + 4*MaxHashSlots + 20*MaxIndexEntries bytes,
//
// and is created sparse, so only the pages touched cost disk space. MaxHashSlots and
// MaxIndexEntries are not recorded in the file: the store must reopen the directory with the
// Options it was created with, and Open rejects a file whose size does not match
// (ErrOptionsMismatch). All integers are big-endian.
//
//	header (40 bytes, at 0)
//	   0  beginTimestamp  int64  store time (ms) of the file's first entry
//	   8  endTimestamp    int64  largest store time (ms) of any entry (normally the last one's)
//	  16  beginPhyOffset  int64  physical offset of the first record indexed; equals the file name
//	  24  endPhyOffset    int64  see "Idempotent re-dispatch" below; -1 when nothing is complete
//	  32  hashSlotCount   int32  slots in use (informational)
//	  36  indexCount      int32  entries used + 1, in [1, MaxIndexEntries]; entry 0 is never used,
//	                             so index 0 means "none"
//
//	slots (MaxHashSlots * 4 bytes, at 40)
//	   int32  index of the newest entry of the slot's chain, 0 = empty
//
//	entries (MaxIndexEntries * 20 bytes, at 40 + 4*MaxHashSlots)
//	   0  keyHash    uint32  hash of topic#key (below)
//	   4  phyOffset  int64   physical offset of the record in the CommitLog
//	  12  timeDiff   int32   seconds from beginTimestamp to the record's store time, clamped to
//	                         [0, MaxInt32]
//	  16  prevIndex  int32   the previous (older) entry of the same slot chain, 0 = end
//
// A file is full when indexCount reaches MaxIndexEntries; the next Put creates a new file named by
// the offset being indexed. A record's keys may therefore straddle two files. A record stored
// before the file's beginTimestamp also starts a new file (see Time).
//
// # Hash
//
// keyHash is 32-bit FNV-1a over the topic's bytes, then the byte '#', then the key's bytes. The
// slot of a key is keyHash % MaxHashSlots.
//
// # Time
//
// An entry's timeDiff is d(t) = clamp(floor((t - beginTimestamp) / 1000), 0, MaxInt32) for its
// store time t. Store times should not go backwards, but the clock may step back: a record stored
// before the current file's beginTimestamp starts a new file, so every entry of a file has
// beginTimestamp <= t <= endTimestamp. Query [begin, end] skips a file that does not overlap the
// range and matches an entry when d(begin) <= timeDiff <= d(end). As d is monotonic, every record
// whose store time lies in [begin, end] matches; records up to a second outside the range may match
// too, and the store filters them out.
//
// # Idempotent re-dispatch
//
// Put is called by one goroutine in increasing phyOffset order, once per key, with all keys of a
// record consecutive. After a restart the dispatcher may replay records that are already indexed.
// The index keeps two positions: end, the offset of the last record whose keys are all indexed
// (persisted as the newest file's endPhyOffset), and cur, the record being indexed now (memory
// only; none after Open). The rule:
//
//	phyOffset == cur                 index it (another key of the record in progress)
//	phyOffset <= end or < cur        skip, return nil (already indexed)
//	otherwise                        cur is complete: end = cur; cur = phyOffset; index it
//
// A record only becomes complete when the next record arrives or at Close, so a crash in the middle
// of a record's keys leaves end below it, and the replay indexes that record again. The duplicate
// entries this may leave behind are harmless: Query removes duplicate offsets. A clean Close marks
// the record in progress complete, so a replay after a clean restart adds nothing.
//
// Every header write stores the current end in the file written, so the newest file always holds
// it; a file that fills up keeps the end of the moment the next file was created, which the next
// file starts with. A full file holds no offset above the next file's beginPhyOffset, which is the
// bound DeleteBefore uses.
//
// # Crash consistency
//
// Put gathers entries and writes them putBatch at a time (Index.write: reading a batch's hash
// slots one after the other lets their cache misses overlap); every other method writes the
// gathered entries first, so a Query always finds what Put took. A process crash loses the
// gathered entries, at most putBatch-1. They belong to records at or after the dispatch mark that
// the store's last checkpoint read (its Flush wrote what was gathered before), and recovery
// dispatches again from that mark, so it puts them back. Written entries are in shared mappings:
// a process crash loses none of them. write stores the
// header (indexCount first) before the entry and the entry before the slot, so every slot and
// prevIndex on disk points below indexCount. Readers do not trust that: a chain is followed only
// while indexes stay in [1, indexCount) and strictly decrease, and Put treats a slot outside that
// range as empty. A new file's header is synced when the file is created; the rest reaches the disk
// with Flush. After a power loss, trailing files whose header is all zero (created but never
// written back) are deleted by Open; any other header out of range is an error naming the file
// (ErrCorrupt).
//
// # Concurrency
//
// Put, ResetEnd and DeleteBefore take the Index's write lock for the whole call (a few memory
// writes; creating a file when one fills up). Query, EndPhyOffset, EndTimestamp and Files take the
// read lock, after writing the gathered entries under the write lock if there are any.
// Flush collects the files to sync under the lock and syncs them outside it, holding a reference
// to each mapping, so deleting a file meanwhile is safe. There is one lock and no lock order.
package index
