package commitlog

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestWarmAhead: in mapped mode each append reads the next piece of the log, up to ZeroAhead
// past its end, into the page cache and maps it (warmNext), so that the stores of later appends
// neither fault nor read around inside the writer lock.
func TestWarmAhead(t *testing.T) {
	pm := openPagemap(t)
	const seg, ahead = 32 << 20, 16 << 20
	opts := testOptions()
	opts.SegmentSize, opts.ZeroAhead, opts.Prealloc = seg, ahead, true
	c, dir := newLog(t, opts)
	defer c.Close()
	skipTmpfs(t, dir) // a preallocated tmpfs file has all its pages already
	var offs []int64
	var end int64
	for i := 0; i < 2*ahead/warmPiece; i++ {
		var off int64
		off, end = appendSized(t, c, 1000, i)
		offs = append(offs, off)
	}
	// Pieces are whole: the warmed end trails end+ahead by less than one.
	if c.warmed > end+ahead || c.warmed <= end+ahead-warmPiece {
		t.Fatalf("warmed up to %d, want (%d, %d]", c.warmed, end+ahead-warmPiece, end+ahead)
	}
	s := c.Segments().Last()
	b := s.Bytes()
	for p := int64(0); p < c.warmed; p += pageSize {
		if !pm.mapped(b[p:]) {
			t.Fatalf("page at %d, below the warmed end %d, is not mapped", p, c.warmed)
		}
	}
	if n := resident(t, s, end+ahead+pageSize, seg); n != 0 {
		t.Fatalf("%d pages beyond ZeroAhead are cached", n)
	}
	readBack(t, c, offs, 1000)
}

// TestFlushUnmapsWritten: a flush in mapped mode unmaps the whole pages it writes back from the
// process (their contents stay in the page cache), so that write-back does not write-protect
// them one TLB flush at a time; the partial page at the end stays mapped for the writer, and
// every record reads back.
func TestFlushUnmapsWritten(t *testing.T) {
	pm := openPagemap(t)
	opts := testOptions()
	opts.SegmentSize = 1 << 20
	c, _ := newLog(t, opts)
	defer c.Close()
	var offs []int64
	var end int64
	for i := 0; end < 256<<10+100; i++ {
		var off int64
		off, end = appendSized(t, c, 1000, i)
		offs = append(offs, off)
	}
	b := c.Segments().Last().Bytes()
	last := end &^ (pageSize - 1)
	if !pm.mapped(b[0:]) || !pm.mapped(b[last:]) {
		t.Fatal("the written pages are not mapped before the flush")
	}
	if _, err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	for p := int64(0); p < last; p += pageSize {
		if pm.mapped(b[p:]) {
			t.Fatalf("page at %d is still mapped after the flush", p)
		}
	}
	if !pm.mapped(b[last:]) {
		t.Fatal("the partial last page was unmapped")
	}
	if n, pages, ok := mostlyCached(t, c.Segments().Last(), 0, last); !ok {
		t.Fatalf("%d of %d flushed pages left the page cache", pages-n, pages)
	}
	readBack(t, c, offs, 1000)
}

// pagemap reads this process's page table entries (/proc/self/pagemap).
type pagemap struct {
	t *testing.T
	f *os.File
}

// openPagemap opens /proc/self/pagemap for the test, or skips it where there is none.
func openPagemap(t *testing.T) *pagemap {
	t.Helper()
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Skipf("no pagemap: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return &pagemap{t: t, f: f}
}

// mapped reports whether the page holding b[0] is present in this process's page tables
// (bit 63 of its entry).
func (m *pagemap) mapped(b []byte) bool {
	m.t.Helper()
	var e [8]byte
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if _, err := m.f.ReadAt(e[:], int64(addr/uintptr(pageSize))*8); err != nil {
		m.t.Fatal(err)
	}
	return binary.LittleEndian.Uint64(e[:])>>63 == 1
}

// TestFlushUnmapsRead: in Buffered mode records become readable at their flush, so their readers
// (the dispatcher) map the pages after it; later flushes unmap them once the flushed end is
// unmapLag past them, so the resident set does not grow with the log. The pages stay cached and
// every record reads back.
func TestFlushUnmapsRead(t *testing.T) {
	pm := openPagemap(t)
	opts := testOptions()
	opts.Buffered, opts.SegmentSize = true, 64<<20
	c, _ := newLog(t, opts)
	defer c.Close()
	var offs []int64
	var end int64
	read := 0
	for i := 0; end < unmapLag+2*unmapStep; i++ {
		var off int64
		off, end = appendSized(t, c, 1000, i)
		offs = append(offs, off)
		if len(offs)%64 == 0 { // flush, then read what it made readable, as the dispatcher does
			if _, err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			for _, off := range offs[read:] {
				_, s, err := c.ReadRecord(off)
				if err != nil {
					t.Fatal(err)
				}
				s.Release()
			}
			read = len(offs)
		}
	}
	if _, err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if c.unmapped < end-unmapLag-unmapStep {
		t.Fatalf("unmapped up to %d, want at least %d", c.unmapped, end-unmapLag-unmapStep)
	}
	b := c.Segments().Last().Bytes()
	below := c.unmapped
	for p := int64(0); p < below; p += pageSize {
		if pm.mapped(b[p:]) {
			t.Fatalf("page at %d, read and below the unmapped mark %d (flushed end %d), is still mapped", p, below, end)
		}
	}
	if !pm.mapped(b[(end-unmapLag/2)&^(pageSize-1):]) {
		t.Fatal("a page read within unmapLag of the flushed end was unmapped")
	}
	if n, pages, ok := mostlyCached(t, c.Segments().Last(), 0, below); !ok {
		t.Fatalf("%d of %d unmapped pages left the page cache", pages-n, pages)
	}
	readBack(t, c, offs, 1000)
}

// TestLargeAppendWritesThrough: in mapped mode an append of directMin or more that the appends
// have not prepared for is written with pwrite (writeDirect): its pages are in the page cache,
// not in this process's page tables, and nothing past it is prepared. Small appends after it
// store into the mapping and prepare the log ahead again, and a large append into that prepared
// log stores into the mapping too. Every record reads back.
func TestLargeAppendWritesThrough(t *testing.T) {
	pm := openPagemap(t)
	const large, small = 64 << 10, 1000
	opts := testOptions()
	opts.SegmentSize, opts.ZeroAhead, opts.Prealloc = 32<<20, 16<<20, true
	c, dir := newLog(t, opts)
	defer c.Close()
	skipTmpfs(t, dir)
	var offs []int64
	var sizes []int
	add := func(size int) (off, end int64) {
		off, end = appendSized(t, c, size, len(offs))
		offs, sizes = append(offs, off), append(sizes, size)
		return off, end
	}
	_, end := add(large)
	b := c.Segments().Last().Bytes()
	for p := int64(0); p < end&^(pageSize-1); p += pageSize {
		if pm.mapped(b[p:]) {
			t.Fatalf("page at %d of the large append is mapped: it was stored, not written", p)
		}
	}
	if n, pages, ok := mostlyCached(t, c.Segments().Last(), 0, end); !ok {
		t.Fatalf("%d of the large append's %d pages are in the page cache", n, pages)
	}
	if c.warmed > end {
		t.Fatalf("warmed up to %d past a written append ending at %d", c.warmed, end)
	}
	for c.warmed < end+opts.ZeroAhead/2 {
		_, end = add(small)
	}
	off, _ := add(large) // inside the prepared log
	if !pm.mapped(b[off:]) || !pm.mapped(b[off+large-1:]) {
		t.Fatal("a large append into prepared pages was not stored into the mapping")
	}
	for i, off := range offs {
		v, s, err := c.ReadRecord(off)
		if err != nil {
			t.Fatalf("record %d at %d: %v", i, off, err)
		}
		if !bytes.Equal(v.Body(), newRecord(sizes[i], i).Body) || v.CheckCRC() != nil {
			t.Fatalf("record %d at %d differs", i, off)
		}
		s.Release()
	}
}

// TestLargeAppendFallsBackToTheMapping: when the pwrite of a large append fails (here: no file
// descriptor left to open the segment for writing), the append stores into the mapping instead
// and succeeds; the log goes on.
func TestLargeAppendFallsBackToTheMapping(t *testing.T) {
	opts := testOptions()
	opts.SegmentSize, opts.ZeroAhead = 1<<20, 0
	c, _ := newLog(t, opts)
	defer c.Close()
	offs := []int64{}
	off, _ := appendSized(t, c, 1000, 0) // creates the segment while descriptors are left
	offs = append(offs, off)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = 3
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	off, _, err := c.Append(64<<10, encodeRecord(newRecord(64<<10, 1)))
	if rerr := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatalf("large append with no descriptor left: %v", err)
	}
	offs = append(offs, off)
	if pm := openPagemap(t); !pm.mapped(c.Segments().Last().Bytes()[off+pageSize:]) {
		t.Fatal("the large append's pages are not mapped: was its pwrite not refused?")
	}
	off, _ = appendSized(t, c, 64<<10, 2) // pwrite again, now that it can open the file
	offs = append(offs, off)
	for i, size := range []int{1000, 64 << 10, 64 << 10} {
		v, s, err := c.ReadRecord(offs[i])
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !bytes.Equal(v.Body(), newRecord(size, i).Body) {
			t.Fatalf("record %d differs", i)
		}
		s.Release()
	}
}
