package commitlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/segment"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr string
	}{
		{name: "defaults", edit: func(*Options) {}},
		{name: "smallest segment", edit: func(o *Options) { o.SegmentSize = 4096 }},
		{name: "segment too small", edit: func(o *Options) { o.SegmentSize = 4095 }, wantErr: "segment size"},
		{name: "zero flush interval", edit: func(o *Options) { o.FlushInterval = 0 }, wantErr: "flush interval"},
		{name: "zero sync flush timeout", edit: func(o *Options) { o.SyncFlushTimeout = 0 }, wantErr: "sync flush timeout"},
		{name: "negative sync flush timeout", edit: func(o *Options) { o.SyncFlushTimeout = -time.Second }, wantErr: "sync flush timeout"},
		{name: "negative cache window", edit: func(o *Options) { o.CacheWindow = -1 }, wantErr: "cache window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			tt.edit(&o)
			err := o.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error about %q", err, tt.wantErr)
			}
			if c, err := Open(t.TempDir(), o); err == nil {
				c.Close()
				t.Fatal("Open accepted invalid options")
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	c, dir := newLog(t, testOptions())
	if c.SegmentSize() != segSize || c.MaxRecordSize() != segSize-message.BlankHeaderSize {
		t.Fatalf("SegmentSize %d MaxRecordSize %d", c.SegmentSize(), c.MaxRecordSize())
	}
	if c.Segments().Dir() != dir || c.MinOffset() != 0 || c.MaxOffset() != 0 || c.FlushedOffset() != 0 {
		t.Fatalf("Dir %q min %d max %d flushed %d", c.Segments().Dir(), c.MinOffset(), c.MaxOffset(), c.FlushedOffset())
	}
}

// TestAppendEncodeSlice checks the contract of the encode callback: an empty slice of the
// mapping with capacity exactly size, and the offset Append then returns.
func TestAppendEncodeSlice(t *testing.T) {
	c, _ := newLog(t, testOptions())
	prevEnd := int64(0)
	for i, size := range []int{92, 500, 3000, 1234, 4088} {
		wantOff := prevEnd
		if rel := prevEnd % segSize; rel+int64(size)+message.BlankHeaderSize > segSize {
			wantOff = prevEnd - rel + segSize // does not fit: the next segment
		}
		r := newRecord(size, i)
		calls := 0
		var gotPhy int64
		off, end, err := c.Append(size, func(dst []byte, phy int64) []byte {
			calls++
			gotPhy = phy
			if len(dst) != 0 || cap(dst) != size {
				t.Errorf("record %d: encode got len %d cap %d, want 0 and %d", i, len(dst), cap(dst), size)
			}
			r.PhysicalOffset = phy
			return message.AppendRecord(dst, r)
		})
		if err != nil {
			t.Fatalf("record %d: Append: %v", i, err)
		}
		if calls != 1 || gotPhy != wantOff || off != wantOff || end != off+int64(size) || c.MaxOffset() != end {
			t.Fatalf("record %d: calls %d phy %d off %d end %d max %d, want off %d", i, calls, gotPhy, off, end, c.MaxOffset(), wantOff)
		}
		// encode wrote straight into the mapping.
		b, seg, err := c.Read(off, size)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, message.AppendRecord(nil, r)) {
			t.Fatalf("record %d: the log holds other bytes than encode wrote", i)
		}
		seg.Release()
		prevEnd = end
	}
}

// blankAt reads the blank marker at off, returning its size (0 when there is none).
func blankAt(t *testing.T, c *CommitLog, off int64) int {
	t.Helper()
	b, seg, err := c.Read(off, message.BlankHeaderSize)
	if err != nil {
		t.Fatalf("Read blank at %d: %v", off, err)
	}
	defer seg.Release()
	return message.BlankSize(b)
}

func TestAppendLayout(t *testing.T) {
	tests := []struct {
		name       string
		sizes      []int
		wantOffs   []int64
		wantBlanks map[int64]int // blank marker offset -> its TOTALSIZE
	}{
		{
			name:     "fits with exactly 8 bytes to spare",
			sizes:    []int{2000, 2088, 100},
			wantOffs: []int64{0, 2000, segSize}, wantBlanks: map[int64]int{4088: 8},
		},
		{
			name:     "one byte short of 8 to spare",
			sizes:    []int{2000, 2089},
			wantOffs: []int64{0, segSize}, wantBlanks: map[int64]int{2000: 2096},
		},
		{
			name:     "largest record",
			sizes:    []int{4088, 4088, 92},
			wantOffs: []int64{0, segSize, 2 * segSize}, wantBlanks: map[int64]int{4088: 8, segSize + 4088: 8},
		},
		{
			name:     "record after a full segment",
			sizes:    []int{1000, 1000, 1000, 1000, 1000},
			wantOffs: []int64{0, 1000, 2000, 3000, segSize}, wantBlanks: map[int64]int{4000: 96},
		},
		{
			name:     "smallest records",
			sizes:    slices.Repeat([]int{92}, 45),
			wantOffs: nil, // 44 fit in 4088 bytes with 8 to spare; checked below
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, dir := newLog(t, testOptions())
			var offs []int64
			for i, size := range tt.sizes {
				off, end := appendSized(t, c, size, i)
				if off/segSize != (end-1)/segSize {
					t.Fatalf("record %d [%d,%d) spans two segments", i, off, end)
				}
				if left := segSize - end%segSize; left < message.BlankHeaderSize {
					t.Fatalf("record %d leaves %d bytes, no room for a blank marker", i, left)
				}
				offs = append(offs, off)
			}
			if tt.wantOffs != nil && !slices.Equal(offs, tt.wantOffs) {
				t.Fatalf("offsets %v, want %v", offs, tt.wantOffs)
			}
			if tt.wantOffs == nil && offs[44] != segSize {
				t.Fatalf("record 44 at %d, want %d", offs[44], segSize)
			}
			for off, size := range tt.wantBlanks {
				if got := blankAt(t, c, off); got != size {
					t.Fatalf("blank at %d has size %d, want %d", off, got, size)
				}
			}
			// The log is walkable from the start: Recover finds every record in order.
			end := c.MaxOffset()
			c.Close()
			c = openLog(t, dir, testOptions())
			var got []visited
			rec, err := c.Recover(0, end, false, collect(&got))
			if err != nil || rec.End != end || rec.TornTail != nil || rec.Records != len(tt.sizes) {
				t.Fatalf("Recover = %+v, %v; want end %d and %d records", rec, err, end, len(tt.sizes))
			}
			for i, v := range got {
				if v.off != offs[i] {
					t.Fatalf("record %d recovered at %d, appended at %d", i, v.off, offs[i])
				}
			}
		})
	}
}

func TestAppendTooLarge(t *testing.T) {
	c, _ := newLog(t, testOptions())
	for _, size := range []int{segSize - message.BlankHeaderSize + 1, segSize, 1 << 30, 0, -1} {
		_, _, err := c.Append(size, func(dst []byte, _ int64) []byte {
			t.Fatalf("encode called for %d bytes", size)
			return dst
		})
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Append(%d) = %v, want ErrTooLarge", size, err)
		}
	}
	if c.MaxOffset() != 0 || c.Segments().Len() != 0 {
		t.Fatalf("refused appends changed the log: max %d, %d segments", c.MaxOffset(), c.Segments().Len())
	}
}

func TestAppendEncodeWrongLengthPanics(t *testing.T) {
	c, _ := newLog(t, testOptions())
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("encode writing too few bytes did not panic")
			}
		}()
		c.Append(200, func(dst []byte, _ int64) []byte { return append(dst, 1, 2, 3) })
	}()
	// The writer lock was released and the end did not move.
	if c.MaxOffset() != 0 {
		t.Fatalf("MaxOffset %d after a failed encode", c.MaxOffset())
	}
	if off, _ := appendSized(t, c, 200, 0); off != 0 {
		t.Fatalf("next append at %d, want 0", off)
	}
}

func TestSealAndClose(t *testing.T) {
	c, _ := newLog(t, testOptions())
	c.Start()
	off, end := appendSized(t, c, 300, 0)
	c.Seal()
	if _, _, err := c.Append(300, encodeRecord(newRecord(300, 1))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Seal = %v, want ErrClosed", err)
	}
	// Readers and flushing go on.
	v, seg, err := c.ReadRecord(off)
	if err != nil || v.PhysicalOffset() != off {
		t.Fatalf("ReadRecord after Seal = %v", err)
	}
	seg.Release()
	if got, err := c.Flush(); err != nil || got != end {
		t.Fatalf("Flush after Seal = %d, %v", got, err)
	}
	for range 2 {
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if _, _, err := c.Append(300, encodeRecord(newRecord(300, 2))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	c.Start() // no flusher after Close (goleak checks)
}

func TestCloseFlushes(t *testing.T) {
	for _, start := range []bool{false, true} {
		c, _ := newLog(t, testOptions())
		if start {
			c.Start()
			c.Start() // idempotent
		}
		_, end := appendSized(t, c, 777, 0)
		if c.FlushedOffset() != 0 {
			t.Fatalf("flushed %d before any flush", c.FlushedOffset())
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if c.FlushedOffset() != end {
			t.Fatalf("started %v: flushed %d after Close, want %d", start, c.FlushedOffset(), end)
		}
	}
}

// readLayout is the log TestRead works on: three records in the first segment, a blank marker,
// two records in the second.
func readLayout(t *testing.T) (c *CommitLog, offs []int64, sizes []int) {
	c, _ = newLog(t, testOptions())
	sizes = []int{1000, 1500, 1200, 2000, 300}
	for i, size := range sizes {
		off, _ := appendSized(t, c, size, i)
		offs = append(offs, off)
	}
	if want := []int64{0, 1000, 2500, segSize, segSize + 2000}; !slices.Equal(offs, want) {
		t.Fatalf("layout %v, want %v", offs, want)
	}
	return c, offs, sizes
}

func TestRead(t *testing.T) {
	c, offs, sizes := readLayout(t)
	end := c.MaxOffset()
	tests := []struct {
		name    string
		off     int64
		size    int
		wantErr string // "" for success
	}{
		{name: "first record", off: 0, size: 1000},
		{name: "inside a record", off: 1010, size: 20},
		{name: "blank marker", off: 3700, size: message.BlankHeaderSize},
		{name: "last byte", off: end - 1, size: 1},
		{name: "negative offset", off: -1, size: 10, wantErr: "out of range"},
		{name: "zero size", off: 0, size: 0, wantErr: "out of range"},
		{name: "negative size", off: 0, size: -5, wantErr: "out of range"},
		{name: "past the end", off: end - 10, size: 11, wantErr: "out of range"},
		{name: "crosses a segment end", off: 3700, size: 400, wantErr: "crosses the end of segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, seg, err := c.Read(tt.off, tt.size)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrOutOfRange) || !strings.Contains(err.Error(), tt.wantErr) || seg != nil {
					t.Fatalf("Read(%d, %d) = %v, want ErrOutOfRange: %s", tt.off, tt.size, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read(%d, %d): %v", tt.off, tt.size, err)
			}
			defer seg.Release()
			if len(b) != tt.size || seg.Start > tt.off || seg.End() < tt.off+int64(tt.size) {
				t.Fatalf("Read(%d, %d) returned %d bytes of segment %d", tt.off, tt.size, len(b), seg.Start)
			}
		})
	}
	for i, off := range offs {
		b, seg, err := c.Read(off, sizes[i])
		if err != nil {
			t.Fatal(err)
		}
		if v, err := message.Parse(b); err != nil || v.PhysicalOffset() != off || v.CheckCRC() != nil {
			t.Fatalf("record %d read back wrong: %v", i, err)
		}
		seg.Release()
	}
}

func TestReadRecord(t *testing.T) {
	c, offs, sizes := readLayout(t)
	for i, off := range offs {
		v, seg, err := c.ReadRecord(off)
		if err != nil {
			t.Fatalf("ReadRecord(%d): %v", off, err)
		}
		if v.Size() != sizes[i] || v.PhysicalOffset() != off || v.QueueOffset() != int64(i) {
			t.Fatalf("ReadRecord(%d) = size %d phy %d queue offset %d", off, v.Size(), v.PhysicalOffset(), v.QueueOffset())
		}
		seg.Release()
	}
	tests := []struct {
		name   string
		off    int64
		wantIs error
	}{
		{name: "negative", off: -1, wantIs: ErrOutOfRange},
		{name: "at the end", off: c.MaxOffset(), wantIs: ErrOutOfRange},
		{name: "past the end", off: c.MaxOffset() + segSize, wantIs: ErrOutOfRange},
		{name: "blank marker", off: 3700, wantIs: message.ErrBlank},
		{name: "inside a record", off: 1, wantIs: message.ErrBadMagic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, seg, err := c.ReadRecord(tt.off)
			if !errors.Is(err, tt.wantIs) || seg != nil {
				t.Fatalf("ReadRecord(%d) = %v, want %v", tt.off, err, tt.wantIs)
			}
		})
	}
}

// TestReadRecordStopsAtMaxOffset checks that a record is not visible before Append published it:
// ReadRecord never parses past MaxOffset.
func TestReadRecordStopsAtMaxOffset(t *testing.T) {
	c, _ := newLog(t, testOptions())
	off, _ := appendSized(t, c, 500, 0)
	c.writeOff.Store(off + 499) // as if the record were still being written
	if _, _, err := c.ReadRecord(off); !errors.Is(err, message.ErrTruncated) {
		t.Fatalf("ReadRecord of an unpublished record = %v, want ErrTruncated", err)
	}
}

func TestReadRemovedSegment(t *testing.T) {
	c, offs, _ := readLayout(t)
	if n, err := c.Segments().RemoveHead(1, func(*segment.Segment) bool { return true }); n != 1 || err != nil {
		t.Fatalf("RemoveHead = %d, %v", n, err)
	}
	if c.MinOffset() != segSize {
		t.Fatalf("MinOffset %d", c.MinOffset())
	}
	if _, _, err := c.Read(offs[1], 10); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("Read of a removed segment = %v", err)
	}
	if _, _, err := c.ReadRecord(offs[1]); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("ReadRecord of a removed segment = %v", err)
	}
	if _, seg, err := c.ReadRecord(offs[3]); err != nil {
		t.Fatalf("ReadRecord(%d): %v", offs[3], err)
	} else {
		seg.Release()
	}
}

func TestWaitFlushed(t *testing.T) {
	tests := []struct {
		name string
		sync bool
		// start launches the flusher; timeout is SyncFlushTimeout.
		start   bool
		timeout time.Duration
		// ctx returns the context WaitFlushed gets.
		ctx func() context.Context
		// beyond waits for an offset past the end of the log.
		beyond bool
		// closeFirst closes the log before waiting.
		closeFirst  bool
		wantErr     error
		wantFlushed bool // FlushedOffset covers the record when WaitFlushed returns
	}{
		{name: "sync flush", sync: true, start: true, timeout: time.Minute, wantFlushed: true},
		{name: "async returns at once", sync: false, start: true, timeout: time.Minute},
		{name: "async without a flusher", sync: false, timeout: time.Minute},
		{name: "sync without a flusher times out", sync: true, timeout: time.Millisecond, wantErr: ErrFlushTimeout},
		{
			name: "sync with a cancelled context", sync: true, timeout: time.Hour,
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			wantErr: context.Canceled,
		},
		{name: "sync on a closed log", sync: true, start: true, timeout: time.Minute, beyond: true, closeFirst: true, wantErr: ErrClosed},
		{name: "sync on a closed log, already flushed", sync: true, start: true, timeout: time.Minute, closeFirst: true, wantFlushed: true},
		{name: "sync on a closed log never started", sync: true, timeout: time.Minute, beyond: true, closeFirst: true, wantErr: ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.Sync = tt.sync
			opts.SyncFlushTimeout = tt.timeout
			c, _ := newLog(t, opts)
			if tt.start {
				c.Start()
			}
			_, end := appendSized(t, c, 600, 0)
			if tt.beyond {
				end += 100
			}
			if tt.closeFirst {
				c.Close()
			}
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			err := c.WaitFlushed(ctx, end)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("WaitFlushed = %v, want %v", err, tt.wantErr)
			}
			if flushed := c.FlushedOffset() >= end; tt.wantFlushed && !flushed {
				t.Fatalf("WaitFlushed returned with FlushedOffset %d below %d", c.FlushedOffset(), end)
			}
			if !tt.sync && c.FlushedOffset() >= end {
				t.Fatalf("async WaitFlushed waited for a flush (flushed %d)", c.FlushedOffset())
			}
		})
	}
}

// TestWaitFlushedWhileClosing races a waiter for an offset that is never written against Close:
// whichever comes first, the waiter gets ErrClosed and does not hang.
func TestWaitFlushedWhileClosing(t *testing.T) {
	opts := testOptions()
	opts.Sync = true
	opts.SyncFlushTimeout = time.Hour
	c, _ := newLog(t, opts)
	c.Start()
	_, end := appendSized(t, c, 600, 0)
	errc := make(chan error, 1)
	go func() { errc <- c.WaitFlushed(context.Background(), end+1) }()
	c.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitFlushed = %v, want ErrClosed", err)
	}
	if c.FlushedOffset() != end {
		t.Fatalf("flushed %d, want %d", c.FlushedOffset(), end)
	}
}

// TestGroupCommit checks that concurrent synchronous writers share flushes.
func TestGroupCommit(t *testing.T) {
	const (
		writers = 16
		rounds  = 8
	)
	t.Run("all append then all wait", func(t *testing.T) {
		// Each round every writer appends, then all of them wait: the first flush that starts
		// after the appends covers the whole round. At most two requests left over from the
		// previous round (one taken by the flusher, one buffered) can flush part of the round
		// before it, so a round costs one to three flushes instead of one per writer.
		opts := testOptions()
		opts.Sync = true
		opts.SegmentSize = 1 << 20
		c, _ := newLog(t, opts)
		c.Start()
		for round := range rounds {
			ends := make([]int64, writers)
			var appended sync.WaitGroup
			for w := range writers {
				appended.Go(func() {
					r := newRecord(200, round*writers+w)
					_, end, err := c.Append(r.Size(), encodeRecord(r))
					if err != nil {
						t.Error(err)
					}
					ends[w] = end
				})
			}
			appended.Wait()
			var waited sync.WaitGroup
			for w := range writers {
				waited.Go(func() {
					if err := c.WaitFlushed(context.Background(), ends[w]); err != nil {
						t.Error(err)
					}
					if c.FlushedOffset() < ends[w] {
						t.Errorf("WaitFlushed(%d) returned with FlushedOffset %d", ends[w], c.FlushedOffset())
					}
				})
			}
			waited.Wait()
		}
		if n := c.flushes.Load(); n < rounds || n > 3*rounds {
			t.Fatalf("%d flushes for %d rounds of %d appends, want %d to %d", n, rounds, writers, rounds, 3*rounds)
		}
	})
	t.Run("free running", func(t *testing.T) {
		const perWriter = 32
		opts := testOptions()
		opts.Sync = true
		opts.SegmentSize = 1 << 20
		c, _ := newLog(t, opts)
		c.Start()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					_, end, err := appendFlushed(c, 150, w*perWriter+i)
					if err != nil {
						t.Error(err)
						return
					}
					if c.FlushedOffset() < end {
						t.Errorf("WaitFlushed(%d) returned with FlushedOffset %d", end, c.FlushedOffset())
						return
					}
				}
			})
		}
		wg.Wait()
		appends := int64(writers * perWriter)
		flushes := c.flushes.Load()
		t.Logf("%d appends, %d flushes", appends, flushes)
		if flushes >= appends {
			t.Fatalf("%d flushes for %d appends: no group commit", flushes, appends)
		}
		if c.FlushedOffset() != c.MaxOffset() {
			t.Fatalf("flushed %d, max %d", c.FlushedOffset(), c.MaxOffset())
		}
	})
}

// TestAsyncFlushInterval checks that the asynchronous flusher writes back on its own every
// FlushInterval (on a fake clock).
func TestAsyncFlushInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := testOptions()
		opts.FlushInterval = 500 * time.Millisecond
		c, _ := newLog(t, opts)
		c.Start()
		defer c.Close()
		_, end := appendSized(t, c, 600, 0)
		if err := c.WaitFlushed(context.Background(), end); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if c.FlushedOffset() != 0 {
			t.Fatalf("flushed %d before the interval passed", c.FlushedOffset())
		}
		time.Sleep(opts.FlushInterval)
		synctest.Wait()
		if c.FlushedOffset() != end {
			t.Fatalf("flushed %d one interval later, want %d", c.FlushedOffset(), end)
		}
		_, end = appendSized(t, c, 600, 1)
		time.Sleep(opts.FlushInterval)
		synctest.Wait()
		if c.FlushedOffset() != end {
			t.Fatalf("flushed %d two intervals later, want %d", c.FlushedOffset(), end)
		}
	})
}

func TestFlush(t *testing.T) {
	c, dir := newLog(t, testOptions())
	if got, err := c.Flush(); err != nil || got != 0 || c.flushes.Load() != 0 {
		t.Fatalf("Flush of an empty log = %d, %v (%d flushes)", got, err, c.flushes.Load())
	}
	appendSized(t, c, 3000, 0)
	_, end := appendSized(t, c, 3000, 1) // in the second segment
	if got, err := c.Flush(); err != nil || got != end || c.FlushedOffset() != end {
		t.Fatalf("Flush = %d, %v; want %d", got, err, end)
	}
	if got, err := c.Flush(); err != nil || got != end || c.flushes.Load() != 1 {
		t.Fatalf("second Flush = %d, %v (%d flushes); want a no-op", got, err, c.flushes.Load())
	}
	// What Flush covered is in the files.
	if got := binary.BigEndian.Uint32(readAt(t, dir, segSize, 4)); got != 3000 {
		t.Fatalf("second segment starts with TOTALSIZE %d", got)
	}
}

// TestReadableEndNeverGoesBack: while an asynchronous flush runs, appends go on; the readable
// end (MaxOffset) must only grow, or a reader that saw a record (the dispatcher, a pull) finds
// it unreadable a moment later. A flush used to store its own, older end.
func TestReadableEndNeverGoesBack(t *testing.T) {
	opts := testOptions()
	opts.FlushInterval = time.Millisecond
	c, _ := newLog(t, opts)
	c.Start()
	defer c.Close()
	done := make(chan struct{})
	var regressions atomic.Int64
	go func() {
		defer close(done)
		last := int64(0)
		for c.flushes.Load() < 50 || last == 0 {
			off := c.MaxOffset()
			if off < last {
				regressions.Add(1)
			}
			last = max(last, off)
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-done:
			if n := regressions.Load(); n > 0 {
				t.Fatalf("the readable end went back %d times during %d flushes", n, c.flushes.Load())
			}
			return
		default:
		}
		appendSized(t, c, 200, i)
	}
}

// TestCacheWindow: after a flush, the log more than CacheWindow below the flushed end is out of
// the page cache, the window itself is not, and every record still reads back intact (from the
// disk), with the mapping written directly and with the buffered (pwrite) path alike.
func TestCacheWindow(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		t.Run(map[bool]string{false: "mapped", true: "buffered"}[buffered], func(t *testing.T) {
			const seg, window = 64 << 10, 64 << 10
			opts := testOptions()
			opts.SegmentSize, opts.CacheWindow, opts.Buffered = seg, window, buffered
			c, dir := newLog(t, opts)
			defer c.Close()
			skipTmpfs(t, dir)
			var offs []int64
			var end int64
			for i := 0; end < 8*seg; i++ {
				var off int64
				off, end = appendSized(t, c, 1000, i)
				offs = append(offs, off)
			}
			if _, err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			for _, s := range c.Segments().Segments() {
				size := min(s.Size(), end-s.Start)
				n, pages, most := mostlyCached(t, s, 0, size)
				switch {
				case s.End() <= end-window && n != 0:
					t.Errorf("segment at %d, below the window: %d of %d pages still cached", s.Start, n, pages)
				case s.Start >= end-window+pageSize && !most:
					t.Errorf("segment at %d, inside the window: %d of %d pages cached", s.Start, n, pages)
				}
			}
			readBack(t, c, offs, 1000)
		})
	}
}

// readBack reads the records appendSized(size, i) wrote at offs[i] and checks their bodies.
func readBack(t *testing.T, c *CommitLog, offs []int64, size int) {
	t.Helper()
	for i, off := range offs {
		v, s, err := c.ReadRecord(off)
		if err != nil {
			t.Fatalf("record %d at %d: %v", i, off, err)
		}
		if !bytes.Equal(v.Body(), newRecord(size, i).Body) {
			t.Fatalf("record %d at %d: body differs", i, off)
		}
		s.Release()
	}
}

// skipTmpfs skips a test of page cache eviction where dir is on tmpfs, whose pages are the file.
func skipTmpfs(t *testing.T, dir string) {
	t.Helper()
	if isTmpfs(dir) {
		t.Skip("tmpfs keeps its pages: they are the file")
	}
}

// isTmpfs reports whether dir is on tmpfs.
func isTmpfs(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.TMPFS_MAGIC
}

// mostlyCached reports whether at least three quarters of the pages of [from, to) of s are in
// the page cache, with their counts. Tests that expect pages to stay cached ask this rather than
// for every page: the host may page out page cache at any moment (this VM runs DAMON's pageout
// scheme over regions of physical memory, coarser than a test's pages; it once took 24 of 257
// from TestFlushUnmapsRead), while what the tests guard against, a range evicted or never
// cached, leaves few pages or none.
func mostlyCached(t *testing.T, s *segment.Segment, from, to int64) (n, pages int, ok bool) {
	t.Helper()
	n, pages = resident(t, s, from, to), int((to-from+pageSize-1)/pageSize)
	return n, pages, 4*n >= 3*pages
}

// resident counts the pages of s's [from, to) in the page cache.
func resident(t *testing.T, s *segment.Segment, from, to int64) int {
	t.Helper()
	n, err := s.Resident(from, to)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReadBelowWindow: a reader of the evicted log evicts what it read once it is readBehind
// chunks further on, so catching up from beyond the window does not fill the page cache again;
// so does a second reader behind the first.
func TestReadBelowWindow(t *testing.T) {
	const seg, window = 8 << 20, 4 << 20
	opts := testOptions()
	opts.SegmentSize, opts.CacheWindow = seg, window
	c, dir := newLog(t, opts)
	defer c.Close()
	skipTmpfs(t, dir)
	var offs []int64
	var end int64
	for i := 0; end < (readBehind+6)*evictStep; i++ {
		var off int64
		off, end = appendSized(t, c, 4000, i)
		offs = append(offs, off)
	}
	if _, err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	first := c.Segments().First()
	if n := resident(t, first, 0, evictStep); n != 0 {
		t.Fatalf("the first chunk is still cached after the flush (%d pages)", n)
	}
	// Read the log up to readBehind+2 chunks: the first chunk, read at the start, is evicted
	// again once the reader is readBehind chunks past it.
	n := slices.IndexFunc(offs, func(off int64) bool { return off >= (readBehind+2)*evictStep })
	readBack(t, c, offs[:n], 4000)
	if n := resident(t, first, 0, evictStep); n != 0 {
		t.Fatalf("the first chunk, read and left readBehind chunks behind, has %d pages cached", n)
	}
	// A second reader from the start (another group replaying the log) evicts behind itself as
	// the first did, though the first read further.
	m := slices.IndexFunc(offs, func(off int64) bool { return off >= (readBehind+4)*evictStep })
	for _, off := range offs[n:m] { // the first reader goes on
		_, s, err := c.ReadRecord(off)
		if err != nil {
			t.Fatal(err)
		}
		s.Release()
	}
	readBack(t, c, offs[:1], 4000)
	if n := resident(t, first, 0, evictStep); n == 0 {
		t.Fatal("the first chunk, read again, is not cached")
	}
	readBack(t, c, offs[:n], 4000)
	if n := resident(t, first, 0, evictStep); n != 0 {
		t.Fatalf("the first chunk, read again and left readBehind chunks behind, has %d pages cached", n)
	}
}
