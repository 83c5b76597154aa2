// Package consumequeue keeps the ConsumeQueue of one (topic, queueId): a dense array of
// fixed-size entries, one per message in the queue, that point into the CommitLog.
//
// # Entry layout (wire format, never change)
//
// Entry i (the message at logical queue offset i) is stored at byte 20*i of the queue's stream:
//
//	offset size field
//	0      8    CommitLog physical offset of the record (int64, big-endian)
//	8      4    record size in bytes (int32)
//	12     8    tags code (int64): Java String.hashCode of the TAGS property, sign-extended;
//	            for scheduled messages, the delivery time in ms
//
// The stream is cut into segment files (package segment) whose size is a multiple of 20, so an
// entry never spans two files. An all-zero entry is a hole: no message was dispatched there (the
// end of the queue, or a slot lost to a crash that recovery could not refill).
//
// # Concurrency
//
// One goroutine, the store's dispatcher, writes entries with Append and Commit (or Put) and then
// publishes the new maximum offset with an atomic store; readers load the maximum first and read only below it, so
// they never see a partly written entry. Min and max offsets are atomics.
package consumequeue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ternmq/tern/core/store/segment"
)

// EntrySize is the size of one entry (wire format, never change).
const EntrySize = 20

// ErrOutOfRange is returned for reads outside [MinOffset, MaxOffset).
var ErrOutOfRange = errors.New("consumequeue: offset out of range")

// Entry is one decoded ConsumeQueue entry.
type Entry struct {
	PhysicalOffset int64
	Size           int32
	TagsCode       int64
}

// Decode reads the entry at the start of b (at least EntrySize bytes).
func Decode(b []byte) Entry {
	_ = b[EntrySize-1]
	return Entry{
		PhysicalOffset: int64(binary.BigEndian.Uint64(b)),
		Size:           int32(binary.BigEndian.Uint32(b[8:])),
		TagsCode:       int64(binary.BigEndian.Uint64(b[12:])),
	}
}

// Hole reports whether e is an all-zero entry.
func (e Entry) Hole() bool { return e.Size == 0 }

// Queue is one (topic, queueId) ConsumeQueue.
type Queue struct {
	Topic   string
	QueueID int32

	q *segment.Queue

	minOff     atomic.Int64 // first available logical offset
	maxOff     atomic.Int64 // number of entries: the next logical offset
	maxPhyEnd  atomic.Int64 // physical end (offset+size) of the last entry
	flushedOff atomic.Int64 // entries below this are on the disk

	// Entries appended but not committed (the dispatcher's alone): pend holds the entries from
	// logical offset pendOff on, all in pendSeg; pendEnd is the physical end of the last one.
	pend    []byte
	pendOff int64
	pendSeg *segment.Segment
	pendEnd int64

	// flushes counts Flush calls that wrote something. hotSeg's page hotPage is the one Commit
	// last wrote with pwrite, at the flushes count hotGen (the dispatcher's alone). storeOK says
	// the file system's blocks are at least a page, so a page pwrite touched is allocated whole.
	flushes atomic.Uint64
	hotSeg  *segment.Segment
	hotPage int64
	hotGen  uint64
	storeOK bool
}

// Open opens (or creates) the queue stored in dir with segments of segmentSize bytes (a multiple
// of EntrySize). The maximum offset is found from the last non-hole entry.
func Open(dir, topic string, queueID int32, segmentSize int64) (*Queue, error) {
	if segmentSize <= 0 || segmentSize%EntrySize != 0 {
		return nil, fmt.Errorf("consumequeue: segment size %d is not a positive multiple of %d", segmentSize, EntrySize)
	}
	sq, err := segment.Open(dir, segmentSize, false)
	if err != nil {
		return nil, fmt.Errorf("consumequeue: %s-%d: %w", topic, queueID, err)
	}
	cq := &Queue{Topic: topic, QueueID: queueID, q: sq}
	var st unix.Statfs_t
	cq.storeOK = unix.Statfs(dir, &st) == nil && st.Bsize >= pageSize && os.Getpagesize() == pageSize
	cq.loadBounds()
	return cq, nil
}

// loadBounds finds the last non-hole entry, scanning back from the end of the last segment.
func (c *Queue) loadBounds() {
	segs := c.q.Segments()
	c.minOff.Store(c.q.MinOffset() / EntrySize)
	max := c.q.MinOffset() / EntrySize
	var end int64
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		b := s.Bytes()
		found := false
		// Scan back from the end of the written data, not of the file: a queue's file is
		// mostly holes until it fills, and reading them would fault in every page.
		last := min(s.Size(), (s.DataEnd()+EntrySize-1)/EntrySize*EntrySize)
		for rel := last - EntrySize; rel >= 0; rel -= EntrySize {
			if e := Decode(b[rel:]); !e.Hole() {
				max = (s.Start + rel + EntrySize) / EntrySize
				end = e.PhysicalOffset + int64(e.Size)
				found = true
				break
			}
		}
		if found {
			break
		}
	}
	c.maxOff.Store(max)
	c.maxPhyEnd.Store(end)
	c.flushedOff.Store(max)
}

// MinOffset returns the first logical offset still available.
func (c *Queue) MinOffset() int64 { return c.minOff.Load() }

// MaxOffset returns the number of entries written: the logical offset of the next message.
func (c *Queue) MaxOffset() int64 { return c.maxOff.Load() }

// Empty reports whether the queue has no segment file: the next Put starts the queue wherever
// its offset is, without creating files for the offsets below.
func (c *Queue) Empty() bool { return c.q.Len() == 0 }

// MaxPhysicalEnd returns the physical offset just past the last dispatched record.
func (c *Queue) MaxPhysicalEnd() int64 { return c.maxPhyEnd.Load() }

// Put writes the entry for logical offset off and publishes it: Append, then Commit.
func (c *Queue) Put(off int64, e Entry) (holes int64, err error) {
	if holes, err = c.Append(off, e); err != nil {
		return 0, err
	}
	return holes, c.Commit()
}

// Prepare creates the first file of a queue that has no entries yet and starts at offset 0, so
// that the dispatcher's first Append finds it: the store calls it, outside the dispatcher, for
// the first record sent to a queue. Creating a file takes a few hundred microseconds (the
// directory is synced); on the dispatcher's path it held back every record behind the queue's
// first. It does nothing for a queue that has a file, and may run while Append creates the same
// file.
func (c *Queue) Prepare() error {
	if c.q.Len() > 0 || c.maxOff.Load() != 0 { // minOff <= maxOff
		return nil
	}
	if _, err := c.q.Ensure(0); err != nil {
		return fmt.Errorf("consumequeue: %s-%d: %w", c.Topic, c.QueueID, err)
	}
	return nil
}

// maxPending bounds the entries Append buffers before it writes them itself.
const maxPending = 4096 / EntrySize

// Append adds the entry for logical offset off. Only the dispatcher calls it, in increasing
// physical order. Writing an offset below the end again is allowed only with the same content
// (re-dispatch after a restart) and is then a no-op; a different entry there is an error. An
// offset above the end leaves holes in between (reported by the return value).
//
// Entries that follow each other in one file are buffered and written with one pwrite(2) by
// Commit, which also publishes them (MaxOffset moves): the dispatcher commits each queue it
// touched once per round. Append writes the buffer itself when the next entry does not follow
// it or it is full.
func (c *Queue) Append(off int64, e Entry) (holes int64, err error) {
	next := c.maxOff.Load()
	if len(c.pend) > 0 {
		next = c.pendOff + int64(len(c.pend)/EntrySize)
	}
	if off < next {
		if err := c.Commit(); err != nil {
			return 0, err
		}
		if off < c.minOff.Load() {
			return 0, nil // already deleted by retention
		}
		got, gerr := c.Get(off)
		if gerr == nil && got == e {
			return 0, nil
		}
		return 0, fmt.Errorf("consumequeue: %s-%d offset %d already holds %+v, not %+v", c.Topic, c.QueueID, off, got, e)
	}
	if len(c.pend) > 0 && (off != next || len(c.pend) >= maxPending*EntrySize) {
		if err := c.Commit(); err != nil {
			return 0, err
		}
	}
	pos := off * EntrySize
	s := c.q.Last()
	if s != nil && pos < s.Start {
		// The newest files hold only holes (their entries were lost in a crash, so Open put the
		// maximum in an older file): write into the file that holds off.
		s = c.q.Find(pos)
	}
	if s == nil || pos >= s.End() {
		if err := c.Commit(); err != nil { // the buffer belongs to the previous file
			return 0, err
		}
		start := pos - pos%c.q.SegmentSize()
		if s != nil && s.End() != start {
			// Holes that span whole segments: create them empty.
			for st := s.End(); st < start; st += c.q.SegmentSize() {
				if _, err := c.q.Create(st); err != nil {
					return 0, fmt.Errorf("consumequeue: %s-%d: %w", c.Topic, c.QueueID, err)
				}
			}
		}
		if s == nil && next != off {
			// An empty queue starting above zero (all older data deleted): begin at off.
			c.minOff.Store(off)
			c.maxOff.Store(off)
			next = off
		}
		if s != nil {
			s.CloseWriter() // the queue has moved on to the next file
		}
		if s, err = c.q.Ensure(start); err != nil { // Prepare may have made it
			return 0, fmt.Errorf("consumequeue: %s-%d: %w", c.Topic, c.QueueID, err)
		}
	}
	if len(c.pend) > 0 && c.pendSeg != s {
		if err := c.Commit(); err != nil {
			return 0, err
		}
	}
	if len(c.pend) == 0 {
		c.pendOff, c.pendSeg = off, s
	}
	c.pend = binary.BigEndian.AppendUint64(c.pend, uint64(e.PhysicalOffset))
	c.pend = binary.BigEndian.AppendUint32(c.pend, uint32(e.Size))
	c.pend = binary.BigEndian.AppendUint64(c.pend, uint64(e.TagsCode))
	c.pendEnd = e.PhysicalOffset + int64(e.Size)
	return off - next, nil
}

// Commit writes the entries Append buffered and publishes them. On error they are dropped, not
// published: the dispatcher appends them again.
func (c *Queue) Commit() error {
	if len(c.pend) == 0 {
		return nil
	}
	s, pos, b := c.pendSeg, c.pendOff*EntrySize, c.pend
	c.pend, c.pendSeg = c.pend[:0], nil
	// pwrite(2), not stores into the mapping: with thousands of queues each entry lands on a
	// page of its own, and a store into a page the kernel has written back (or a hole of the
	// sparse file) takes a write fault; a broker with 10,000 queues produced about a fifth
	// faster this way. A full disk is an error here, where a store into a hole would be SIGBUS.
	// Readers see the entries through the mapping (one page cache) before maxOff says they are
	// there.
	//
	// But a busy queue commits many times per page: once this queue has written a page with
	// pwrite (its block is allocated: no SIGBUS) and no Flush has written it back since, the
	// entries are stored through the mapping, without a syscall (at most one fault maps the
	// page writable).
	at, gen := pos-s.Start, c.flushes.Load()
	if c.hot(s, at, len(b), gen) {
		copy(s.Bytes()[at:], b)
	} else if err := s.WriteAt(b, at); err != nil {
		if !errors.Is(err, unix.EMFILE) && !errors.Is(err, unix.ENFILE) {
			return fmt.Errorf("consumequeue: %s-%d: %w", c.Topic, c.QueueID, err)
		}
		copy(s.Bytes()[at:], b) // out of descriptors: through the mapping
	} else {
		c.hotSeg, c.hotPage, c.hotGen = s, (at+int64(len(b))-1)/pageSize, gen
	}
	c.maxPhyEnd.Store(c.pendEnd)
	c.maxOff.Store(c.pendOff + int64(len(b)/EntrySize))
	return nil
}

// hot reports whether n bytes at file offset at of s lie in the page Commit last wrote with
// pwrite, with no Flush since (flushes count gen), so that they can be stored through the
// mapping.
func (c *Queue) hot(s *segment.Segment, at int64, n int, gen uint64) bool {
	page := at / pageSize
	return c.storeOK && s == c.hotSeg && page == c.hotPage && page == (at+int64(n)-1)/pageSize && gen == c.hotGen
}

// Get returns the entry at logical offset off.
func (c *Queue) Get(off int64) (Entry, error) {
	b, seg, err := c.Read(off, 1)
	if err != nil {
		return Entry{}, err
	}
	e := Decode(b)
	seg.Release()
	return e, nil
}

// Read returns the raw bytes of up to n entries starting at logical offset from, all in one
// segment and below MaxOffset, aliasing the mapping; the caller must Release the segment.
func (c *Queue) Read(from int64, n int) ([]byte, *segment.Segment, error) {
	max := c.maxOff.Load()
	if from < c.minOff.Load() || from >= max || n <= 0 {
		return nil, nil, fmt.Errorf("%w: %d not in [%d,%d)", ErrOutOfRange, from, c.minOff.Load(), max)
	}
	pos := from * EntrySize
	seg := c.q.Acquire(pos)
	if seg == nil {
		return nil, nil, fmt.Errorf("%w: no segment holds %d", ErrOutOfRange, from)
	}
	end := min(seg.End(), max*EntrySize, pos+int64(n)*EntrySize)
	return seg.Bytes()[pos-seg.Start : end-seg.Start], seg, nil
}

// TruncatePhysical drops every entry whose record starts at or after phyEnd (the CommitLog was
// cut there, or the entries are newer than the last durable dispatch and will be re-dispatched).
func (c *Queue) TruncatePhysical(phyEnd int64) error {
	maxOff, minOff := c.maxOff.Load(), c.minOff.Load()
	cut := maxOff
	for cut > minOff {
		e, err := c.Get(cut - 1)
		if err != nil {
			return err
		}
		if !e.Hole() && e.PhysicalOffset < phyEnd {
			break
		}
		cut--
	}
	if cut == maxOff {
		return nil
	}
	// Readers stop at the new maximum before the entries go: one that loaded the old maximum
	// may still read a zeroed entry, which is a hole.
	c.maxOff.Store(cut)
	c.flushedOff.Store(min(c.flushedOff.Load(), cut))
	if err := c.q.TruncateFrom(cut * EntrySize); err != nil {
		return fmt.Errorf("consumequeue: %s-%d truncate at %d: %w", c.Topic, c.QueueID, cut, err)
	}
	end := int64(0)
	if cut > minOff {
		if e, err := c.Get(cut - 1); err == nil {
			end = e.PhysicalOffset + int64(e.Size)
		}
	}
	c.maxPhyEnd.Store(end)
	return nil
}

// DeleteBefore moves the minimum offset to the first entry whose record is at or after minPhy
// (the CommitLog's new minimum after retention) and deletes segments that hold only older
// entries. It returns how many segments it deleted.
func (c *Queue) DeleteBefore(minPhy int64) (int, error) {
	maxOff := c.maxOff.Load()
	// Whole segments whose last written entry is older than minPhy (holes, which point nowhere,
	// do not count: a segment of holes holds nothing to keep).
	n, err := c.q.RemoveHead(1<<30, func(s *segment.Segment) bool {
		b := s.Bytes()
		for off := min(s.End(), maxOff*EntrySize) - EntrySize; off >= s.Start; off -= EntrySize {
			if e := Decode(b[off-s.Start:]); !e.Hole() {
				return e.PhysicalOffset < minPhy
			}
		}
		return true
	})
	// Inside the first remaining segment, binary search the first entry at or after minPhy. A
	// hole counts as "at or after": the search may then stop at a hole before the first such
	// entry (readers skip holes and entries below the CommitLog's minimum), but never past it.
	lo, hi := max(c.minOff.Load(), c.q.MinOffset()/EntrySize), maxOff
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, gerr := c.getUnchecked(mid)
		if gerr != nil || e.Hole() || e.PhysicalOffset >= minPhy {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo > c.minOff.Load() {
		c.minOff.Store(lo)
	}
	return n, err
}

func (c *Queue) getUnchecked(off int64) (Entry, error) {
	pos := off * EntrySize
	seg := c.q.Acquire(pos)
	if seg == nil {
		return Entry{}, fmt.Errorf("%w: %d", ErrOutOfRange, off)
	}
	defer seg.Release()
	return Decode(seg.Bytes()[pos-seg.Start:]), nil
}

// FlushedOffset returns the queue offset below which every entry was flushed.
func (c *Queue) FlushedOffset() int64 { return c.flushedOff.Load() }

// pageSize is the unit in which Flush counts what was written since the last flush.
const pageSize = 4096

// Flush writes the entries added since the last Flush to the disk, if they reach into at least
// leastPages pages past the last flushed one (0: whatever was added).
func (c *Queue) Flush(leastPages int) error {
	from, to := c.flushedOff.Load(), c.maxOff.Load()
	if to <= from {
		return nil
	}
	if leastPages > 0 && (to*EntrySize)/pageSize-(from*EntrySize)/pageSize < int64(leastPages) {
		return nil
	}
	c.flushes.Add(1) // before the write-back: a store Commit makes after it may take a fault
	if err := c.q.Sync(from*EntrySize, to*EntrySize); err != nil {
		return fmt.Errorf("consumequeue: %s-%d: %w", c.Topic, c.QueueID, err)
	}
	c.flushedOff.Store(to)
	return nil
}

// Close unmaps the queue's segments.
func (c *Queue) Close() { c.q.Close() }

// Destroy deletes the queue's files (topic deletion).
func (c *Queue) Destroy() error { return c.q.RemoveAll() }
