package commitlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ternmq/tern/core/internal/periodic"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/segment"
)

// Errors returned by the CommitLog.
var (
	ErrClosed       = errors.New("commitlog: closed")
	ErrTooLarge     = errors.New("commitlog: record larger than a segment")
	ErrFlushTimeout = errors.New("commitlog: flush timeout")
	ErrOutOfRange   = errors.New("commitlog: offset out of range")
	// ErrNotAtEnd: AppendAt was asked to write somewhere else than the end of the log.
	ErrNotAtEnd = errors.New("commitlog: offset is not the end of the log")
)

// Options configure a CommitLog. The zero value is not usable; start from DefaultOptions.
type Options struct {
	// SegmentSize is the size of each segment file (RocketMQ mappedFileSizeCommitLog).
	SegmentSize int64
	// Sync selects SYNC_FLUSH: WaitFlushed is served by group commit.
	Sync bool
	// FlushInterval is how often the asynchronous flusher writes back (flushIntervalCommitLog).
	FlushInterval time.Duration
	// SyncFlushTimeout bounds WaitFlushed (syncFlushTimeout).
	SyncFlushTimeout time.Duration
	// Prealloc reserves each segment's blocks when it is created.
	Prealloc bool
	// Buffered makes Append encode into an in-memory buffer instead of straight into the
	// mapping; the flusher writes the whole buffer with one pwrite(2), syncs it, and only then
	// publishes it (MaxOffset moves at flush time, so readers never see unflushed data). It
	// costs one more copy of each record but takes every system call out of the writer lock and
	// keeps the writer from faulting on pages under writeback, which made synchronous flushes
	// several times slower over a long run on ext4 (measured: 16 KiB per msync, 200 µs at first
	// and 810 µs after 128 MiB written through the mapping; a flat 150-190 µs with pwrite).
	// Open turns it on for Sync (RocketMQ's transientStorePoolEnable plays the same part).
	Buffered bool
	// ZeroAhead is how far past the end of the log the current segment is prepared: by a
	// background goroutine in Buffered mode, by the appends themselves in mapped mode. 0 turns
	// it off.
	//
	// In Buffered mode it keeps the blocks written with zeros and synced, so that the flushes
	// write over blocks the filesystem has already allocated. A flush that covers blocks written
	// for the first time (a preallocated file's blocks are reserved but unwritten) also commits
	// their conversion to the filesystem's journal: on ext4 here, 16 KiB written and synced took
	// 180-200 µs per flush over fresh blocks against 105 µs over zeroed ones. It costs one more
	// write of every byte of the log, in the background.
	//
	// In mapped mode the appends read the pages into the page cache and map them, a piece at a
	// time (warmNext), so that no append stalls on the kernel's read-around of a page it stores
	// into: at 10,000 msgs/s of 1 KiB the end-to-end p99 was 10-18 ms with it off and 1.0-1.5 ms
	// with it on. Those pages are zeros made dirty: the kernel may write some back before the
	// log reaches them.
	ZeroAhead int64
	// Published, if set, is called by the flusher each time a flush makes buffered data
	// readable (MaxOffset moved). It must not block.
	Published func()
	// Flushed, if set, is called after each flush that wrote data back, with how long the
	// write-back took (the flush-latency metric). It must not block.
	Flushed func(time.Duration)
	// CacheWindow, when positive, is how much of the log below its flushed end stays in the
	// page cache: after a flush, the log more than CacheWindow below the new flushed end is
	// evicted (in steps of at least evictStep), and its memory goes back to the kernel's free
	// lists, where the pages of the next appends come from. Every page the log takes from memory
	// that has not been used lately costs a fault in the hypervisor on a VM that hands free
	// memory back to its host (virtio-balloon free page reporting): about 8 µs a page here,
	// against 1.3 µs for a page freed a moment before, so that a log that kept every page it had
	// written spent a quarter of a broker's CPU at 4 KiB messages faulting memory in. Reading the
	// log below the window reads the disk again (the kernel's read-ahead), and is evicted again
	// behind each reader (readEvicted). 0 keeps everything cached, as RocketMQ does (the
	// kernel then reclaims the oldest pages once memory runs short).
	CacheWindow int64
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns RocketMQ's defaults: 1 GiB segments, asynchronous flush every 500 ms,
// a 5 s synchronous flush timeout, preallocated segments; 16 MiB prepared ahead of the end.
func DefaultOptions() Options {
	return Options{
		SegmentSize:      1 << 30,
		FlushInterval:    500 * time.Millisecond,
		SyncFlushTimeout: 5 * time.Second,
		Prealloc:         true,
		ZeroAhead:        16 << 20,
	}
}

// Validate reports the first invalid option.
func (o Options) Validate() error {
	switch {
	case o.SegmentSize < 4096:
		return fmt.Errorf("commitlog: segment size %d is below 4096", o.SegmentSize)
	case o.FlushInterval <= 0:
		return fmt.Errorf("commitlog: flush interval %v must be positive", o.FlushInterval)
	case o.SyncFlushTimeout <= 0:
		return fmt.Errorf("commitlog: sync flush timeout %v must be positive", o.SyncFlushTimeout)
	case o.ZeroAhead < 0:
		return fmt.Errorf("commitlog: zero-ahead %d must not be negative", o.ZeroAhead)
	case o.CacheWindow < 0:
		return fmt.Errorf("commitlog: cache window %d must not be negative", o.CacheWindow)
	}
	return nil
}

// CommitLog is the append-only message log. Append, WaitFlushed and the readers are safe for
// concurrent use.
type CommitLog struct {
	opts Options
	log  *slog.Logger
	q    *segment.Queue

	mu      sync.Mutex // the writer lock: serialises Append and guards sealed, closed and running
	sealed  bool       // Append refuses new records
	closed  bool
	running bool

	// writeOff is the end of the written data. It is stored after the bytes are in the mapping,
	// so a reader that loads it may read everything below it.
	writeOff atomic.Int64
	// flushedOff is the end of the data known to be on the disk.
	flushedOff atomic.Int64

	fmu       sync.Mutex    // serialises Flush and Truncate; taken before mu
	flushMu   sync.Mutex    // guards flushDone and the notices
	flushDone chan struct{} // closed after the next flush completes
	flushReq  chan struct{} // wakes the flusher (capacity 1)
	requests  atomic.Int64  // WaitFlushed and OnFlushed calls that had to wait (group commit gathering)
	served    atomic.Int64  // requests counted before the last flush started
	target    atomic.Int64  // the request count at which the gathering flusher wants waking
	stop      chan struct{}
	stopped   chan struct{}
	flushErr  atomic.Pointer[error] // sticky: a failed flush stops the log being trusted
	cur       *segment.Segment      // the segment Append writes to, guarded by mu

	// The callbacks of OnFlushed (guarded by flushMu): noticeTimer (armed while noticeArmed)
	// fires at the earliest deadline; noticesDone is set once the log has closed.
	notices      []flushNotice
	spareNotices []flushNotice
	noticeTimer  *time.Timer
	noticeArmed  bool
	noticesDone  bool

	// Buffered mode, guarded by mu: the bytes of [pstart, reserved) wait in pbuf for the flusher.
	reserved int64
	pstart   int64
	pbuf     []byte
	spare    []byte       // the flusher hands its written buffer back for reuse
	flushes  atomic.Int64 // flushes that wrote data back (tests check group commit with it)

	// Zeroing ahead (Buffered mode with ZeroAhead > 0): the zeroer writes zeros up to zeroed
	// (stored with fmu held) when the flusher asks through zeroReq (capacity 1).
	zeroed  atomic.Int64
	zeroReq chan struct{}
	// warmed: in mapped mode with ZeroAhead > 0, the appends have prepared (or claimed for
	// preparing) the current segment up to here (warmNext; guarded by mu).
	warmed int64
	// scratch is where a large append is encoded before writeDirect writes it (guarded by mu).
	scratch []byte
	bg      sync.WaitGroup // the zeroer

	unmapped int64        // Buffered mode: the log below it was unmapped (unmapRead); guarded by fmu
	evicted  atomic.Int64 // the log below it was evicted (CacheWindow); stored with fmu held
	// Reads below evicted (readEvicted): readChunk is 1 + the evictStep chunk the last such read
	// was in; readCached holds the chunks reads have brought back into the page cache and not
	// yet evicted again (guarded by readMu).
	readChunk  atomic.Int64
	readMu     sync.Mutex
	readCached map[int64]struct{}
}

// Open opens the log in dir. Recover must tell it where the data ends before the first Append;
// Start launches the flusher.
func Open(dir string, opts Options) (*CommitLog, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	q, err := segment.Open(dir, opts.SegmentSize, opts.Prealloc)
	if err != nil {
		return nil, fmt.Errorf("commitlog: %w", err)
	}
	if opts.Sync {
		opts.Buffered = true
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &CommitLog{
		opts:      opts,
		log:       log,
		q:         q,
		flushDone: make(chan struct{}),
		flushReq:  make(chan struct{}, 1),
		stop:      make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	if opts.Buffered && opts.ZeroAhead > 0 {
		c.zeroReq = make(chan struct{}, 1)
	}
	c.noticeTimer = time.AfterFunc(time.Hour, c.expireNotices)
	c.noticeTimer.Stop()
	c.setEnd(q.MinOffset())
	return c, nil
}

// Start launches the flusher goroutine. Close stops it.
func (c *CommitLog) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running || c.closed {
		return
	}
	c.running = true
	go c.flushLoop()
	if c.zeroReq != nil {
		c.bg.Add(1)
		go c.zeroLoop()
		c.askZero()
	}
}

// Segments exposes the segment queue (for retention and tools).
func (c *CommitLog) Segments() *segment.Queue { return c.q }

// MinOffset returns the first physical offset still on disk.
func (c *CommitLog) MinOffset() int64 { return c.q.MinOffset() }

// MaxOffset returns the end of the written data: the physical offset the next record gets.
func (c *CommitLog) MaxOffset() int64 { return c.writeOff.Load() }

// FlushedOffset returns the end of the data known to be on the disk.
func (c *CommitLog) FlushedOffset() int64 { return c.flushedOff.Load() }

// SegmentSize returns the size of each segment.
func (c *CommitLog) SegmentSize() int64 { return c.opts.SegmentSize }

// MaxRecordSize is the largest record or batch a segment can hold.
func (c *CommitLog) MaxRecordSize() int { return int(c.opts.SegmentSize) - message.BlankHeaderSize }

// Append writes size bytes at the end of the log. Under the writer lock it finds room for them
// in one segment (ending the current segment with a blank marker and starting the next one when
// they do not fit), then calls encode with an empty slice whose capacity is exactly size and the
// physical offset of its first byte; the slice is the mapping itself, a buffer written to the
// file right after (a large append: writeDirect), or in Buffered mode the pending buffer. encode
// must append exactly size bytes and must not block. Append returns the offset of the first byte
// and the end of the log after it (the offset to pass to WaitFlushed).
func (c *CommitLog) Append(size int, encode func(dst []byte, phyOffset int64) []byte) (phyOffset, end int64, err error) {
	if size <= 0 || size > c.MaxRecordSize() {
		return 0, 0, fmt.Errorf("%w: %d bytes, segment holds %d", ErrTooLarge, size, c.MaxRecordSize())
	}
	var warm warmRange
	phyOffset, end, warm, err = c.append(size, encode)
	warm.prepare()
	return phyOffset, end, err
}

// warmRange is a part of a segment, relative to its start, that an append prepares for the
// appends after it once it has left the writer lock; seg is nil for none, else a reference is
// held.
type warmRange struct {
	seg      *segment.Segment
	from, to int64
}

// prepare reads the range into the page cache (MADV_WILLNEED: exactly the range, and unwritten
// blocks read as zeros without any I/O), then maps it writable (MADV_POPULATE_WRITE, which on
// pages already cached neither reads around nor allocates), and drops the reference. Failures
// only cost the preparation: the stores fault the pages in themselves.
func (w warmRange) prepare() {
	if w.seg == nil {
		return
	}
	if w.seg.Advise(w.from, w.to, unix.MADV_WILLNEED) == nil {
		_ = w.seg.Advise(w.from, w.to, unix.MADV_POPULATE_WRITE)
	}
	w.seg.Release()
}

// append is Append's work under the writer lock.
func (c *CommitLog) append(size int, encode func(dst []byte, phyOffset int64) []byte) (phyOffset, end int64, warm warmRange, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sealed {
		return 0, 0, warm, ErrClosed
	}
	if p := c.flushErr.Load(); p != nil {
		return 0, 0, warm, fmt.Errorf("commitlog: earlier flush failed: %w", *p)
	}
	off := c.reserved
	seg := c.cur // only the writer adds segments, and retention never removes the newest
	if seg == nil || off == seg.End() {
		if seg, err = c.q.Create(off); err != nil {
			return 0, 0, warm, fmt.Errorf("commitlog: new segment at %d: %w", off, err)
		}
		c.cur = seg
	} else if left := seg.End() - off; int64(size)+message.BlankHeaderSize > left {
		next, err := c.q.Create(seg.End())
		if err != nil {
			return 0, 0, warm, fmt.Errorf("commitlog: new segment at %d: %w", seg.End(), err)
		}
		if c.opts.Buffered {
			// The filler after the blank header goes too, so the buffer stays contiguous
			// with the log.
			n := len(c.pbuf)
			c.pbuf = message.AppendBlank(slices.Grow(c.pbuf, int(left)), int(left))
			c.pbuf = c.pbuf[:n+int(left)]
			clear(c.pbuf[n+message.BlankHeaderSize:])
		} else {
			pos := off - seg.Start
			message.AppendBlank(seg.Bytes()[pos:pos:seg.Size()], int(left))
		}
		seg, off = next, next.Start
		c.cur = seg
	}
	var dst []byte
	pos := off - seg.Start
	direct := !c.opts.Buffered && size >= directMin && off+int64(size) > c.warmed
	switch {
	case c.opts.Buffered:
		n := len(c.pbuf)
		c.pbuf = slices.Grow(c.pbuf, size)
		dst = c.pbuf[n : n : n+size]
	case direct:
		c.scratch = slices.Grow(c.scratch[:0], size)
		dst = c.scratch[:0:size]
	default:
		dst = seg.Bytes()[pos : pos : pos+int64(size)]
		if c.opts.ZeroAhead > 0 && off+int64(size) > c.warmed {
			// The appends have not prepared these pages (the log's first append, a new
			// segment's, or appends outrunning their preparation): read them in exactly before
			// storing, or the store's fault reads around itself, and marks a page there at which
			// the kernel reads further ahead again, inside some later store.
			to := min(pos+max(int64(size), warmPiece), seg.Size())
			_ = seg.Advise(pos, to, unix.MADV_WILLNEED)
			c.warmed = seg.Start + to
		}
	}
	out := encode(dst, off)
	if len(out) != size {
		panic(fmt.Sprintf("commitlog: encode wrote %d bytes, reserved %d", len(out), size))
	}
	if direct {
		c.writeDirect(seg, out, pos)
	}
	end = off + int64(size)
	c.reserved = end
	switch {
	case c.opts.Buffered:
		c.pbuf = c.pbuf[:len(c.pbuf)+size]
	case direct:
		c.writeOff.Store(end)
	default:
		c.writeOff.Store(end)
		warm = c.warmNext(seg, end)
	}
	return off, end, warm, nil
}

// directMin is the least size of an append, in mapped mode, that is written with pwrite(2)
// when the appends have not prepared its pages (writeDirect).
var directMin = 32 << 10 // a variable for BenchmarkAppendLarge

// scratchKeep is the largest encoding buffer a direct write keeps for the next one.
const scratchKeep = 4 << 20

// writeDirect writes the encoded bytes of a large append at pos in seg with pwrite(2), under the
// writer lock, instead of storing them into the mapping. The mapping's way costs, for each page
// the log has not reached yet, reading it into the page cache (zeros for unwritten blocks),
// mapping it writable, and unmapping it again at the flush: about 2.4 µs a page here against
// 0.9 µs for pwrite of the same bytes, which allocates the pages and copies into them without
// mapping anything. At 4 KiB × 16 in batches of 16 the preparation took a third of the broker's
// CPU, and pwrite raised the throughput by a fifth. A small append is not worth a system call
// inside the writer lock: it stores into pages the appends before it prepared (warmNext); at one
// 4 KiB record a pwrite each was no faster. The bytes are in the page cache when pwrite returns,
// so a process crash loses nothing, as with a store; a write the kernel cut short (a fatal
// signal) leaves a torn tail that recovery cuts by its CRC. The pwrite failing costs only the
// saving: the bytes are then stored into the mapping (failing the append instead would leave a
// gap in the queue offsets encode assigned). Running out of descriptors is expected with many
// queues open and is not logged; any other failure is. The caller holds mu.
func (c *CommitLog) writeDirect(seg *segment.Segment, b []byte, pos int64) {
	if err := seg.WriteAt(b, pos); err != nil {
		if !errors.Is(err, unix.EMFILE) && !errors.Is(err, unix.ENFILE) {
			c.log.Warn("commitlog: pwrite failed; storing through the mapping", "err", err)
		}
		copy(seg.Bytes()[pos:pos+int64(len(b))], b)
	}
	if cap(c.scratch) > scratchKeep {
		c.scratch = nil
	}
}

// setEnd makes offset the end of the log. Nothing may be pending.
func (c *CommitLog) setEnd(offset int64) {
	c.mu.Lock()
	c.reserved, c.pstart, c.pbuf = offset, offset, c.pbuf[:0]
	c.cur = c.q.Last()
	c.warmed = 0
	c.mu.Unlock()
	c.writeOff.Store(offset)
	c.flushedOff.Store(offset)
}

// WaitFlushed blocks until the log is on the disk up to end, the sync flush timeout passes
// (ErrFlushTimeout), ctx ends, or the log closes. With asynchronous flushing it returns at once.
func (c *CommitLog) WaitFlushed(ctx context.Context, end int64) error {
	if !c.opts.Sync || c.flushedOff.Load() >= end {
		return nil
	}
	wake := c.countWaiter() // a wait that goes round again needs no wake-up (see countWaiter)
	timer := time.NewTimer(c.opts.SyncFlushTimeout)
	defer timer.Stop()
	for {
		c.flushMu.Lock()
		done := c.flushDone
		c.flushMu.Unlock()
		if c.flushedOff.Load() >= end {
			return nil
		}
		if err := c.flushFailure(); err != nil {
			return err
		}
		if wake {
			c.wakeFlusher()
			wake = false
		}
		select {
		case <-done:
		case <-timer.C:
			return c.timeoutErr(end)
		case <-ctx.Done():
			return ctx.Err()
		case <-c.stopped:
			return c.closedErr(end)
		}
	}
}

// Flush writes everything appended so far to the disk and returns the new flushed offset. The
// flusher goroutine calls it; so may others (Close when the flusher never ran, Truncate): flushes
// are serialised.
func (c *CommitLog) Flush() (int64, error) {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	return c.flushLocked()
}

// flushLocked is Flush with c.fmu held.
func (c *CommitLog) flushLocked() (int64, error) {
	from, to := c.flushedOff.Load(), c.writeOff.Load()
	var buf []byte
	if c.opts.Buffered {
		c.mu.Lock()
		buf, from, to = c.pbuf, c.pstart, c.reserved
		c.pbuf, c.pstart = c.spare[:0], to
		c.spare = nil
		c.mu.Unlock()
		defer func() {
			if cap(buf) <= 8<<20 { // keep a buffer of ordinary size for the next round
				c.mu.Lock()
				c.spare = buf[:0]
				c.mu.Unlock()
			}
		}()
	}
	if to <= from {
		return from, nil
	}
	var start time.Time
	if c.opts.Flushed != nil {
		start = time.Now()
	}
	var err error
	if c.opts.Buffered {
		err = c.writeBuffered(buf, from, to)
	} else {
		// Unmap what was stored through the mapping before writing it back. Write-back
		// write-protects every page it cleans in each mapping of it, one TLB flush per page, and
		// a TLB flush is an inter-processor interrupt whenever a broker thread runs on another
		// CPU: with the log prepared ahead of the appends (warmNext) the flushes' interrupts took
		// 23 % of the broker's CPU at 4 KiB × 16 pipelined. Unmapped in one call, the range costs
		// one flush. The page holding to stays mapped: the writer may still be filling it.
		c.unmap(from, to)
	}
	if err == nil {
		err = c.q.Sync(from, to)
	}
	if err == nil && c.opts.Flushed != nil {
		c.opts.Flushed(time.Since(start))
	}
	if err != nil {
		// Sticky: appends fail from now on, and the waiters wake to see it. Nothing unflushed
		// was acknowledged.
		c.flushErr.CompareAndSwap(nil, &err)
		c.wakeWaiters()
		return from, err
	}
	c.flushes.Add(1)
	if c.opts.Buffered {
		// Buffered data becomes readable now. Unbuffered appends published their own end
		// already, and the writer may be past to by now: storing to would move the readable
		// end back under readers that saw more.
		c.writeOff.Store(to)
	}
	c.flushedOff.Store(to)
	if c.opts.Buffered && c.opts.Published != nil {
		c.opts.Published()
	}
	c.wakeWaiters()
	if c.zeroReq != nil && c.zeroed.Load() < to+c.opts.ZeroAhead/2 {
		c.askZero()
	}
	if c.opts.Buffered {
		c.unmapRead(to)
	}
	if c.opts.CacheWindow > 0 {
		c.evictBelow(to - c.opts.CacheWindow)
	}
	return to, nil
}

// unmap takes the whole pages of [from, to) out of this process's page tables (MADV_DONTNEED;
// on a shared file mapping their contents, dirty or not, stay in the page cache, and a later
// access maps them again). The page holding to stays mapped. A failure only costs the saving.
func (c *CommitLog) unmap(from, to int64) {
	c.q.Range(from, to&^(pageSize-1), func(s *segment.Segment, from, to int64) error {
		return s.File.Advise(from, to, unix.MADV_DONTNEED)
	})
}

// unmapRead, in Buffered mode, unmaps the whole pages of the log from where it last did to
// unmapLag below to, the new flushed end, once that is at least unmapStep. There the records
// become readable only at their flush, so the dispatcher (and any reader near the end) maps
// their pages after it: nothing else would unmap them, and the process's resident set would
// grow with the log up to the cache window (1 GiB) although the pages are page cache the kernel
// may reclaim at will. unmapLag leaves the pages the dispatcher may still be reading. It runs
// after the flush has woken its waiters. The caller holds fmu.
func (c *CommitLog) unmapRead(to int64) {
	end := (to - unmapLag) &^ (pageSize - 1)
	from := max(c.unmapped, c.q.MinOffset())
	if end-from < unmapStep {
		return
	}
	c.unmap(from, end)
	c.unmapped = end
}

const (
	unmapLag  = 4 << 20 // how far behind the flushed end unmapRead stops
	unmapStep = 1 << 20 // the least unmapRead unmaps at once
)

// evictStep is the least a flush evicts at once (or CacheWindow, if less): fewer, larger
// system calls. Reads of evicted log evict behind them a chunk of this size at a time.
const evictStep = 4 << 20

// evictBelow evicts the log below end, all of it flushed, from the page cache (CacheWindow).
// The caller holds fmu. A failure is logged and the range skipped: the pages then stay cached
// until the kernel reclaims them, which costs nothing but memory.
func (c *CommitLog) evictBelow(end int64) {
	if end-c.evicted.Load() < min(evictStep, c.opts.CacheWindow) {
		return
	}
	c.q.Range(max(c.evicted.Load(), c.q.MinOffset()), end, func(s *segment.Segment, from, to int64) error {
		if err := s.File.Evict(from, to); err != nil {
			c.log.Warn("commitlog: evicting flushed pages from the page cache failed", "err", err)
		}
		return nil
	})
	c.evicted.Store(end)
}

// readEvicted is called by a read of the log below evicted, ending at end. A read in another
// evictStep chunk than the read before it evicts the chunk readBehind chunks back, if reads
// brought that one back into the page cache and it was not evicted since, so that a consumer
// catching up from beyond the window recycles the memory of what it has read, as the appends
// do. Each reader so evicts behind itself, a second one replaying the log from its start as much
// as the first (a rule that only the furthest reader evicts left a replay's pages cached: twice
// the broker's CPU a message, for memory the hypervisor faulted in afresh). Reading ahead is left
// to the kernel: a fault on a page not cached reads around it (read_ahead_kb), and the mark it
// leaves near the end of that read has the next one issued before the reader gets there. Asking
// for the next chunks explicitly (MADV_WILLNEED) cost more than it saved: that read fills the
// page cache a page at a time, and the fault's read-ahead in large folios, so the reads and
// their eviction cost a fifth of the broker's CPU at 1 KiB against a few per cent. A failure
// only costs the memory.
func (c *CommitLog) readEvicted(end int64) {
	cur := end / evictStep
	if c.readChunk.Load() == cur+1 { // the chunk of the last read: a reader's usual case
		return
	}
	c.readChunk.Store(cur + 1)
	back := cur - readBehind
	c.readMu.Lock()
	if c.readCached == nil || len(c.readCached) >= maxReadCached {
		// Chunks of readers that stopped before evicting them: forgotten, they stay cached
		// until the kernel reclaims them.
		c.readCached = make(map[int64]struct{})
	}
	c.readCached[cur] = struct{}{}
	_, evict := c.readCached[back]
	delete(c.readCached, back)
	c.readMu.Unlock()
	if evict {
		c.q.Range(back*evictStep, min((back+1)*evictStep, c.evicted.Load()), func(s *segment.Segment, from, to int64) error {
			return s.File.Evict(from, to)
		})
	}
}

// forgetReads empties readEvicted's record (Truncate).
func (c *CommitLog) forgetReads() {
	c.readChunk.Store(0)
	c.readMu.Lock()
	c.readCached = nil
	c.readMu.Unlock()
}

const (
	// readBehind is how many evictStep chunks behind a read of evicted log the chunk it evicts
	// is.
	readBehind = 16
	// maxReadCached bounds readEvicted's record of chunks read back into the page cache (16 GiB
	// of log).
	maxReadCached = 4096
)

// askZero wakes the zeroer.
func (c *CommitLog) askZero() {
	select {
	case c.zeroReq <- struct{}{}:
	default:
	}
}

// zeroLoop runs zeroAhead each time the flusher asks, until the log stops.
func (c *CommitLog) zeroLoop() {
	defer c.bg.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-c.zeroReq:
		}
		if err := c.zeroAhead(); err != nil {
			c.log.Warn("commitlog: zeroing ahead of the log failed", "err", err)
		}
	}
}

// warmPiece is how much of the log one append prepares at most.
const warmPiece = 128 << 10

// warmNext returns the next piece of seg, up to ZeroAhead past end, that the appending
// goroutine is to prepare once it has left the writer lock (warm), with a reference held; none
// if the log is prepared far enough. The caller holds mu, in mapped mode.
//
// Without it, the store that first touches a page the cache lacks makes the kernel read the
// pages around it in that one fault, as far as the device's read-ahead size (8 MiB here): all
// allocated and zeroed inside one append under the writer lock, a stall of 10-20 ms for every
// producer each 8 MiB of log (the end-to-end p99 at 10,000 msgs/s was 10-18 ms; 1.0-1.5 ms
// with it). Each store into a new page also faulted once; populated a piece at a time, 4 KiB
// appends from 16 producers ran 12-30 % faster.
func (c *CommitLog) warmNext(seg *segment.Segment, end int64) warmRange {
	if c.opts.ZeroAhead <= 0 {
		return warmRange{}
	}
	from := max(c.warmed, end)
	to := min(end+c.opts.ZeroAhead, seg.End())
	if to <= from || (to-from < warmPiece && to < seg.End()) {
		return warmRange{}
	}
	to = min(to, from+warmPiece)
	if !seg.File.Acquire() {
		return warmRange{}
	}
	c.warmed = to
	return warmRange{seg: seg, from: from - seg.Start, to: to - seg.Start}
}

// zeroChunk is how much zeroAhead writes per hold of the flush lock: a flush waits for at most
// one chunk's pwrite.
const zeroChunk = 256 << 10

var zeros [zeroChunk]byte

// zeroAhead writes zeros over the current segment from the end of the log (rounded up to a page)
// to ZeroAhead past it, then syncs them. Each chunk is written under the flush lock, after
// reading the end of the log: in Buffered mode only the flusher (which holds that lock) writes
// the file, and only below the end it read, so no record can be written where the zeros go
// while they are written. Records written there afterwards simply overwrite the zeros. zeroed
// remembers how far it went; Truncate moves it back.
func (c *CommitLog) zeroAhead() error {
	var seg *segment.Segment
	var from, to int64 // the range to sync, from the segment's start
	for {
		c.fmu.Lock()
		c.mu.Lock()
		cur, end, closed := c.cur, c.reserved, c.closed
		c.mu.Unlock()
		if closed || cur == nil || (seg != nil && cur != seg) {
			c.fmu.Unlock()
			break
		}
		if seg == nil {
			if !cur.File.Acquire() {
				c.fmu.Unlock()
				return nil
			}
			seg = cur
			defer seg.Release()
		}
		pos := max(c.zeroed.Load()-seg.Start, end-seg.Start, 0)
		pos = (pos + pageSize - 1) &^ (pageSize - 1)
		limit := min(end+c.opts.ZeroAhead, seg.End()) - seg.Start
		if pos >= limit {
			c.fmu.Unlock()
			break
		}
		n := min(limit-pos, zeroChunk)
		err := seg.WriteAt(zeros[:n], pos)
		if err == nil {
			c.zeroed.Store(seg.Start + pos + n)
		}
		c.fmu.Unlock()
		if err != nil {
			return err
		}
		if to == 0 {
			from = pos
		}
		to = pos + n
	}
	if to > 0 {
		return seg.Sync(from, to)
	}
	return nil
}

// pageSize aligns the zeroed ranges.
var pageSize = int64(os.Getpagesize())

// wakeWaiters wakes every WaitFlushed caller to look at the flushed offset again.
func (c *CommitLog) wakeWaiters() {
	c.flushMu.Lock()
	close(c.flushDone)
	c.flushDone = make(chan struct{})
	c.flushMu.Unlock()
}

// writeBuffered writes buf, the bytes of [from, to), into the segments with pwrite(2).
func (c *CommitLog) writeBuffered(buf []byte, from, to int64) error {
	for pos := from; pos < to; {
		seg := c.q.Acquire(pos)
		if seg == nil {
			return fmt.Errorf("commitlog: no segment holds pending offset %d", pos)
		}
		n := min(to, seg.End()) - pos
		err := seg.WriteAt(buf[pos-from:pos-from+n], pos-seg.Start)
		seg.Release()
		if err != nil {
			return fmt.Errorf("commitlog: %w", err)
		}
		pos += n
	}
	return nil
}

func (c *CommitLog) flushLoop() {
	defer close(c.stopped)
	if c.opts.Sync {
		c.syncFlushLoop()
	} else {
		c.asyncFlushLoop()
	}
	if _, err := c.Flush(); err != nil {
		c.log.Error("final commitlog flush failed", "err", err)
	}
	c.closeNotices()
}

func (c *CommitLog) asyncFlushLoop() {
	periodic.Run(c.stop, c.opts.FlushInterval, func() {
		if _, err := c.Flush(); err != nil {
			c.log.Error("commitlog flush failed", "err", err)
		}
	})
}

// syncFlushLoop serves WaitFlushed by group commit. A round starts when a writer waits; the
// flusher then gathers writers until the policy's target or timeout (see gatherPolicy) and
// flushes once for all of them. Waiters wake it only twice a round: the first, and the one that
// reaches the target.
func (c *CommitLog) syncFlushLoop() {
	var g gatherPolicy
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	defer gather.Stop()
	for {
		if c.requests.Load() <= g.served {
			select {
			case <-c.stop:
				return
			case <-c.flushReq:
				continue
			}
		}
		if c.requests.Load() < g.target() {
			gather.Reset(g.timeout())
		gathering:
			for c.requests.Load() < g.target() { // a stale wake-up does not end the gathering
				select {
				case <-c.stop:
					break gathering
				case <-c.flushReq:
				case <-gather.C:
					break gathering
				}
			}
			gather.Stop()
			if c.requests.Load() >= g.target() {
				g.returned(time.Since(g.flushEnd))
			}
		}
		req, start := c.requests.Load(), time.Now()
		if _, err := c.Flush(); err != nil {
			c.log.Error("commitlog flush failed", "err", err)
		}
		g.flushed(req, c.requests.Load(), time.Since(start))
		g.flushEnd = time.Now()
		c.notify()

		c.served.Store(g.served)
		c.target.Store(g.target())
	}
}

// gatherPolicy decides how long a synchronous flush waits for writers to join it. It estimates
// the writers in play as those the last flush served plus those that started waiting while it
// ran, and gathers until that many wait again: with synchronous producers these are the same
// producers back with their next message, so one flush covers them all instead of the flushes
// alternating between two half-groups. It gathers at most the longer of the last flush time and
// twice the time writers have recently taken to come back after a flush (a network round trip
// for remote producers), and never more than maxGather, so a producer that does not come back
// costs the others a bounded wait; a lone producer is served at once.
type gatherPolicy struct {
	served    int64         // WaitFlushed calls counted before the last flush started
	active    int64         // writers in play, as last estimated
	lastFlush time.Duration // how long the last flush took
	flushEnd  time.Time     // when it ended
	back      time.Duration // moving average of the time writers took to come back
}

const (
	minGather = 20 * time.Microsecond
	maxGather = 2 * time.Millisecond
)

// target is the count of WaitFlushed calls at which to stop gathering.
func (g *gatherPolicy) target() int64 { return g.served + max(g.active, 1) }

// timeout bounds the gathering.
func (g *gatherPolicy) timeout() time.Duration {
	return min(max(g.lastFlush, 2*g.back, minGather), maxGather)
}

// returned records that the writers in play were back d after the last flush ended.
func (g *gatherPolicy) returned(d time.Duration) { g.back += (d - g.back) / 8 }

// flushed records a flush that started when before WaitFlushed calls had been counted, ended
// when after had, and took took.
func (g *gatherPolicy) flushed(before, after int64, took time.Duration) {
	g.active = (before - g.served) + (after - before)
	g.served, g.lastFlush = before, took
}

// Seal makes Append refuse new records with ErrClosed; readers and the flusher go on. An
// Append that already holds the writer lock completes first.
func (c *CommitLog) Seal() {
	c.mu.Lock()
	c.sealed = true
	c.mu.Unlock()
}

// Close seals the log, stops the flusher after a final flush and unmaps the segments (readers
// holding a reference keep theirs). It is safe to call more than once.
func (c *CommitLog) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.sealed, c.closed = true, true
	running := c.running
	c.mu.Unlock()
	if running {
		close(c.stop)
		<-c.stopped
		c.bg.Wait()
	} else {
		c.Flush()
		c.closeNotices()
		close(c.stopped)
	}
	var err error
	if p := c.flushErr.Load(); p != nil {
		err = *p
	}
	c.q.Close()
	return err
}

// Flushes returns how many flushes wrote data back (a measure of group commit).
func (c *CommitLog) Flushes() int64 { return c.flushes.Load() }
