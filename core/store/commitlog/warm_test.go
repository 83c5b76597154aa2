package commitlog

import (
	"encoding/binary"
	"os"
	"testing"
	"unsafe"
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
	if n := resident(t, c.Segments().Last(), 0, last); n != int(last/pageSize) {
		t.Fatalf("%d of %d flushed pages left the page cache", int(last/pageSize)-n, last/pageSize)
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
	if n := resident(t, c.Segments().Last(), 0, below); n != int(below/pageSize) {
		t.Fatalf("%d of %d unmapped pages left the page cache", int(below/pageSize)-n, below/pageSize)
	}
	readBack(t, c, offs, 1000)
}
