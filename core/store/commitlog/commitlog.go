package commitlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/segment"
)

// Errors returned by the CommitLog.
var (
	ErrClosed       = errors.New("commitlog: closed")
	ErrTooLarge     = errors.New("commitlog: record larger than a segment")
	ErrFlushTimeout = errors.New("commitlog: flush timeout")
	ErrOutOfRange   = errors.New("commitlog: offset out of range")
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
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns RocketMQ's defaults: 1 GiB segments, asynchronous flush every 500 ms,
// a 5 s synchronous flush timeout, preallocated segments.
func DefaultOptions() Options {
	return Options{
		SegmentSize:      1 << 30,
		FlushInterval:    500 * time.Millisecond,
		SyncFlushTimeout: 5 * time.Second,
		Prealloc:         true,
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

	flushMu   sync.Mutex    // guards flushDone
	flushDone chan struct{} // closed after the next flush completes
	flushReq  chan struct{} // wakes the flusher (capacity 1)
	stop      chan struct{}
	stopped   chan struct{}
	flushErr  atomic.Pointer[error] // sticky: a failed flush stops the log being trusted
	flushes   atomic.Int64          // flushes that wrote data back (tests check group commit with it)
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
	start := q.MinOffset()
	c.writeOff.Store(start)
	c.flushedOff.Store(start)
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
// they do not fit), then calls encode with an empty slice of the mapping whose capacity is
// exactly size and the physical offset of its first byte. encode must append exactly size bytes
// and must not block. Append returns the offset of the first byte and the end of the log after
// it (the offset to pass to WaitFlushed).
func (c *CommitLog) Append(size int, encode func(dst []byte, phyOffset int64) []byte) (phyOffset, end int64, err error) {
	if size <= 0 || size > c.MaxRecordSize() {
		return 0, 0, fmt.Errorf("%w: %d bytes, segment holds %d", ErrTooLarge, size, c.MaxRecordSize())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sealed {
		return 0, 0, ErrClosed
	}
	if p := c.flushErr.Load(); p != nil {
		return 0, 0, fmt.Errorf("commitlog: earlier flush failed: %w", *p)
	}
	off := c.writeOff.Load()
	seg := c.q.Last()
	if seg == nil || off == seg.End() {
		if seg, err = c.q.Create(off); err != nil {
			return 0, 0, fmt.Errorf("commitlog: new segment at %d: %w", off, err)
		}
	} else if left := seg.End() - off; int64(size)+message.BlankHeaderSize > left {
		next, err := c.q.Create(seg.End())
		if err != nil {
			return 0, 0, fmt.Errorf("commitlog: new segment at %d: %w", seg.End(), err)
		}
		pos := off - seg.Start
		message.AppendBlank(seg.Bytes()[pos:pos:seg.Size()], int(left))
		seg, off = next, next.Start
	}
	pos := off - seg.Start
	out := encode(seg.Bytes()[pos:pos:pos+int64(size)], off)
	if len(out) != size {
		panic(fmt.Sprintf("commitlog: encode wrote %d bytes, reserved %d", len(out), size))
	}
	end = off + int64(size)
	c.writeOff.Store(end)
	return off, end, nil
}

// WaitFlushed blocks until the log is on the disk up to end, the sync flush timeout passes
// (ErrFlushTimeout), ctx ends, or the log closes. With asynchronous flushing it returns at once.
func (c *CommitLog) WaitFlushed(ctx context.Context, end int64) error {
	if !c.opts.Sync || c.flushedOff.Load() >= end {
		return nil
	}
	timer := time.NewTimer(c.opts.SyncFlushTimeout)
	defer timer.Stop()
	for {
		c.flushMu.Lock()
		done := c.flushDone
		c.flushMu.Unlock()
		if c.flushedOff.Load() >= end {
			return nil
		}
		if p := c.flushErr.Load(); p != nil {
			return fmt.Errorf("commitlog: flush failed: %w", *p)
		}
		select {
		case c.flushReq <- struct{}{}:
		default:
		}
		select {
		case <-done:
		case <-timer.C:
			return fmt.Errorf("%w: offset %d not flushed after %v", ErrFlushTimeout, end, c.opts.SyncFlushTimeout)
		case <-ctx.Done():
			return ctx.Err()
		case <-c.stopped:
			if c.flushedOff.Load() >= end {
				return nil
			}
			return ErrClosed
		}
	}
}

// Flush writes everything appended so far to the disk and returns the new flushed offset.
func (c *CommitLog) Flush() (int64, error) {
	from, to := c.flushedOff.Load(), c.writeOff.Load()
	if to <= from {
		return from, nil
	}
	if err := c.q.Sync(from, to); err != nil {
		c.flushErr.CompareAndSwap(nil, &err)
		return from, err
	}
	c.flushes.Add(1)
	c.flushedOff.Store(to)
	c.flushMu.Lock()
	close(c.flushDone)
	c.flushDone = make(chan struct{})
	c.flushMu.Unlock()
	return to, nil
}

func (c *CommitLog) flushLoop() {
	defer close(c.stopped)
	var tick <-chan time.Time
	if !c.opts.Sync {
		t := time.NewTicker(c.opts.FlushInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-c.stop:
			if _, err := c.Flush(); err != nil {
				c.log.Error("final commitlog flush failed", "err", err)
			}
			return
		case <-c.flushReq:
		case <-tick:
		}
		if _, err := c.Flush(); err != nil {
			c.log.Error("commitlog flush failed", "err", err)
		}
	}
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
	} else {
		c.Flush()
		close(c.stopped)
	}
	var err error
	if p := c.flushErr.Load(); p != nil {
		err = *p
	}
	c.q.Close()
	return err
}
