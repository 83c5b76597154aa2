package consumequeue

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ternmq/tern/core/store/segment"
)

// perSeg entries per segment keep every boundary a few Puts away.
const (
	perSeg  = 5
	segSize = perSeg * EntrySize
)

// entry returns the entry used for logical offset i: records of 100 bytes, one after another.
func entry(i int64) Entry {
	return Entry{PhysicalOffset: phy(i), Size: 100, TagsCode: i*7919 - 3}
}

func phy(i int64) int64 { return 1000 + 100*i }

func open(t *testing.T, dir string) *Queue {
	t.Helper()
	c, err := Open(dir, "TopicTest", 3, segSize)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// put writes entry(off) for every off, checking the holes Put reports against the gaps.
func put(t *testing.T, c *Queue, offs ...int64) {
	t.Helper()
	for _, off := range offs {
		max := c.MaxOffset()
		holes, err := c.Put(off, entry(off))
		if err != nil {
			t.Fatalf("Put(%d): %v", off, err)
		}
		if want := off - max; max > 0 && holes != want {
			t.Fatalf("Put(%d) reported %d holes, want %d", off, holes, want)
		}
	}
}

func span(from, to int64) []int64 {
	var out []int64
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func segStarts(c *Queue) []int64 {
	var out []int64
	for _, s := range c.q.Segments() {
		out = append(out, s.Start)
	}
	return out
}

// zeroEntries clears entries [from, to) in the files of a closed queue, as a power loss that
// kept the files but not the pages would.
func zeroEntries(t *testing.T, dir string, from, to int64) {
	t.Helper()
	for i := from; i < to; i++ {
		pos := i * EntrySize
		start := pos - pos%segSize
		f, err := os.OpenFile(filepath.Join(dir, segment.Name(start)), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(make([]byte, EntrySize), pos-start); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// checkEntries checks Get for every offset in [MinOffset, MaxOffset): holes where listed,
// entry(off) elsewhere.
func checkEntries(t *testing.T, c *Queue, holes ...int64) {
	t.Helper()
	for off := c.MinOffset(); off < c.MaxOffset(); off++ {
		got, err := c.Get(off)
		if err != nil {
			t.Fatalf("Get(%d): %v", off, err)
		}
		want := entry(off)
		if slices.Contains(holes, off) {
			want = Entry{}
		}
		if got != want {
			t.Fatalf("Get(%d) = %+v, want %+v", off, got, want)
		}
		if got.Hole() != slices.Contains(holes, off) {
			t.Fatalf("Get(%d).Hole() = %v", off, got.Hole())
		}
	}
}

func TestOpenSegmentSize(t *testing.T) {
	tests := []struct {
		name    string
		size    int64
		wantErr bool
	}{
		{name: "one entry", size: EntrySize},
		{name: "many entries", size: 300000 * EntrySize},
		{name: "zero", size: 0, wantErr: true},
		{name: "negative", size: -EntrySize, wantErr: true},
		{name: "not a multiple", size: 30, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Open(t.TempDir(), "T", 0, tt.size)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Open(size %d) error = %v, want error %v", tt.size, err, tt.wantErr)
			}
			if err == nil {
				c.Close()
			}
		})
	}
}

func TestOpenBadDirectory(t *testing.T) {
	dir := t.TempDir()
	for _, start := range []int64{0, 2 * segSize} {
		if err := os.WriteFile(filepath.Join(dir, segment.Name(start)), make([]byte, segSize), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Open(dir, "T", 1, segSize)
	if !errors.Is(err, segment.ErrGap) || !strings.Contains(err.Error(), "T-1") {
		t.Fatalf("Open over a gap = %v, want segment.ErrGap naming the queue", err)
	}
}

func TestDecode(t *testing.T) {
	b := []byte{
		0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, // physical offset
		0x00, 0x00, 0x01, 0x00, // size
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, // tags code -2
		0xAA, // not part of the entry
	}
	want := Entry{PhysicalOffset: 0x0102030405, Size: 256, TagsCode: -2}
	if got := Decode(b); got != want {
		t.Fatalf("Decode = %+v, want %+v", got, want)
	}
	if !Decode(make([]byte, EntrySize)).Hole() {
		t.Fatal("zero entry is not a hole")
	}
}

func TestPutGet(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	if c.MinOffset() != 0 || c.MaxOffset() != 0 || c.MaxPhysicalEnd() != 0 {
		t.Fatalf("new queue: min %d max %d end %d", c.MinOffset(), c.MaxOffset(), c.MaxPhysicalEnd())
	}
	put(t, c, span(0, 13)...)
	if c.MaxOffset() != 13 || c.MaxPhysicalEnd() != phy(12)+100 {
		t.Fatalf("max %d end %d", c.MaxOffset(), c.MaxPhysicalEnd())
	}
	checkEntries(t, c)
	if got, want := segStarts(c), []int64{0, segSize, 2 * segSize}; !slices.Equal(got, want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
	for _, off := range []int64{-1, 13, 100} {
		if _, err := c.Get(off); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Get(%d) = %v, want ErrOutOfRange", off, err)
		}
	}
	// The layout is the wire format: entry i at byte 20*i, big-endian.
	c.Close()
	raw, err := os.ReadFile(filepath.Join(dir, segment.Name(segSize)))
	if err != nil {
		t.Fatal(err)
	}
	if got := Decode(raw[2*EntrySize:]); got != entry(perSeg+2) {
		t.Fatalf("file holds %+v at entry %d", got, perSeg+2)
	}
}

func TestPutAgain(t *testing.T) {
	other := entry(4)
	other.TagsCode++
	tests := []struct {
		name    string
		off     int64
		e       Entry
		wantErr bool
	}{
		{name: "same content", off: 4, e: entry(4)},
		{name: "same content in an older segment", off: 1, e: entry(1)},
		{name: "different physical offset", off: 4, e: entry(5), wantErr: true},
		{name: "different tags code", off: 4, e: other, wantErr: true},
		{name: "last entry again", off: 7, e: entry(7)},
		{name: "below the minimum", off: 0, e: entry(9)}, // deleted by retention: ignored
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := open(t, t.TempDir())
			put(t, c, span(0, 8)...)
			if _, err := c.DeleteBefore(phy(1)); err != nil || c.MinOffset() != 1 {
				t.Fatalf("DeleteBefore: %v, min %d", err, c.MinOffset())
			}
			holes, err := c.Put(tt.off, tt.e)
			if (err != nil) != tt.wantErr || holes != 0 {
				t.Fatalf("Put(%d) = %d, %v; want error %v", tt.off, holes, err, tt.wantErr)
			}
			if c.MaxOffset() != 8 || c.MaxPhysicalEnd() != phy(7)+100 {
				t.Fatalf("re-Put moved max to %d, end to %d", c.MaxOffset(), c.MaxPhysicalEnd())
			}
			checkEntries(t, c)
		})
	}
}

func TestPutHoles(t *testing.T) {
	tests := []struct {
		name       string
		offs       []int64
		wantHoles  []int64 // holes reported by each Put
		wantMin    int64
		wantMax    int64
		wantSegs   []int64
		holeOffset []int64
	}{
		{
			name: "skip inside a segment", offs: []int64{0, 1, 4},
			wantHoles: []int64{0, 0, 2}, wantMin: 0, wantMax: 5,
			wantSegs: []int64{0}, holeOffset: []int64{2, 3},
		},
		{
			name: "skip to the next segment", offs: []int64{0, 6},
			wantHoles: []int64{0, 5}, wantMin: 0, wantMax: 7,
			wantSegs: []int64{0, segSize}, holeOffset: []int64{1, 2, 3, 4, 5},
		},
		{
			name: "skip whole segments", offs: []int64{0, 1, 17, 18},
			wantHoles: []int64{0, 0, 15, 0}, wantMin: 0, wantMax: 19,
			wantSegs: []int64{0, segSize, 2 * segSize, 3 * segSize}, holeOffset: span(2, 17),
		},
		{
			name: "empty queue starting above zero", offs: []int64{12, 13},
			wantHoles: []int64{0, 0}, wantMin: 12, wantMax: 14,
			wantSegs: []int64{2 * segSize},
		},
		{
			name: "empty queue starting at a boundary", offs: []int64{10},
			wantHoles: []int64{0}, wantMin: 10, wantMax: 11,
			wantSegs: []int64{2 * segSize},
		},
		{
			name: "starting above zero, then a skip", offs: []int64{7, 11},
			wantHoles: []int64{0, 3}, wantMin: 7, wantMax: 12,
			wantSegs: []int64{segSize, 2 * segSize}, holeOffset: []int64{8, 9, 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := open(t, t.TempDir())
			for i, off := range tt.offs {
				holes, err := c.Put(off, entry(off))
				if err != nil || holes != tt.wantHoles[i] {
					t.Fatalf("Put(%d) = %d, %v; want %d holes", off, holes, err, tt.wantHoles[i])
				}
			}
			if c.MinOffset() != tt.wantMin || c.MaxOffset() != tt.wantMax {
				t.Fatalf("min %d max %d, want %d %d", c.MinOffset(), c.MaxOffset(), tt.wantMin, tt.wantMax)
			}
			if got := segStarts(c); !slices.Equal(got, tt.wantSegs) {
				t.Fatalf("segments %v, want %v", got, tt.wantSegs)
			}
			last := tt.offs[len(tt.offs)-1]
			if c.MaxPhysicalEnd() != phy(last)+100 {
				t.Fatalf("MaxPhysicalEnd %d", c.MaxPhysicalEnd())
			}
			checkEntries(t, c, tt.holeOffset...)
			if tt.wantMin > 0 {
				if _, err := c.Get(tt.wantMin - 1); !errors.Is(err, ErrOutOfRange) {
					t.Fatalf("Get below the minimum = %v", err)
				}
			}
		})
	}
}

// TestReopen covers loadBounds: the bounds come back from the files, the maximum from the last
// entry that is not a hole.
func TestReopen(t *testing.T) {
	tests := []struct {
		name string
		offs []int64
		// lost clears entries [lost[0], lost[1]) after Close.
		lost      [2]int64
		wantMin   int64
		wantMax   int64
		wantEnd   int64
		wantSegs  []int64
		holes     []int64
		thenWrite []int64 // Put after reopening, then check everything
	}{
		{
			name: "full segments", offs: span(0, 10),
			wantMin: 0, wantMax: 10, wantEnd: phy(9) + 100, wantSegs: []int64{0, segSize},
			thenWrite: []int64{10, 11},
		},
		{
			name: "partial last segment", offs: span(0, 13),
			wantMin: 0, wantMax: 13, wantEnd: phy(12) + 100, wantSegs: []int64{0, segSize, 2 * segSize},
			thenWrite: []int64{13},
		},
		{
			name: "lost tail entries", offs: span(0, 13), lost: [2]int64{11, 13},
			wantMin: 0, wantMax: 11, wantEnd: phy(10) + 100, wantSegs: []int64{0, segSize, 2 * segSize},
			thenWrite: []int64{11, 12, 13},
		},
		{
			name: "holes in the middle", offs: []int64{0, 3, 4, 8},
			wantMin: 0, wantMax: 9, wantEnd: phy(8) + 100, wantSegs: []int64{0, segSize},
			holes: []int64{1, 2, 5, 6, 7},
		},
		{
			name: "last segment lost entirely", offs: span(0, 7), lost: [2]int64{5, 7},
			wantMin: 0, wantMax: 5, wantEnd: phy(4) + 100, wantSegs: []int64{0, segSize},
			thenWrite: []int64{5, 6, 7},
		},
		{
			// The last file holds only holes and the one before lost its tail too: writing
			// resumes in the older segment.
			name: "last segment and an older tail lost", offs: span(0, 7), lost: [2]int64{3, 7},
			wantMin: 0, wantMax: 3, wantEnd: phy(2) + 100, wantSegs: []int64{0, segSize},
			thenWrite: []int64{3, 4, 5, 6, 7, 8, 9, 10},
		},
		{
			name: "every entry lost", offs: span(0, 7), lost: [2]int64{0, 7},
			wantMin: 0, wantMax: 0, wantEnd: 0, wantSegs: []int64{0, segSize},
			thenWrite: []int64{0, 1},
		},
		{
			name: "starting above zero", offs: []int64{12, 13, 14, 15},
			wantMin: 10, wantMax: 16, wantEnd: phy(15) + 100, wantSegs: []int64{2 * segSize, 3 * segSize},
			holes: []int64{10, 11},
		},
		{name: "empty", wantSegs: nil, thenWrite: []int64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := open(t, dir)
			put(t, c, tt.offs...)
			c.Close()
			zeroEntries(t, dir, tt.lost[0], tt.lost[1])
			c = open(t, dir)
			if c.MinOffset() != tt.wantMin || c.MaxOffset() != tt.wantMax || c.MaxPhysicalEnd() != tt.wantEnd {
				t.Fatalf("reopened: min %d max %d end %d, want %d %d %d",
					c.MinOffset(), c.MaxOffset(), c.MaxPhysicalEnd(), tt.wantMin, tt.wantMax, tt.wantEnd)
			}
			if got := segStarts(c); !slices.Equal(got, tt.wantSegs) {
				t.Fatalf("segments %v, want %v", got, tt.wantSegs)
			}
			if c.flushedOff.Load() != tt.wantMax {
				t.Fatalf("flushed %d, want %d: what is on the disk after reopening", c.flushedOff.Load(), tt.wantMax)
			}
			checkEntries(t, c, tt.holes...)
			put(t, c, tt.thenWrite...)
			checkEntries(t, c, tt.holes...)
			want := c.MaxOffset()
			c.Close()
			c = open(t, dir)
			if c.MaxOffset() != want {
				t.Fatalf("second reopen: max %d, want %d", c.MaxOffset(), want)
			}
			checkEntries(t, c, tt.holes...)
		})
	}
}

func TestRead(t *testing.T) {
	c := open(t, t.TempDir())
	put(t, c, span(0, 13)...)
	tests := []struct {
		name      string
		from      int64
		n         int
		wantFirst int64
		wantN     int
		wantErr   bool
	}{
		{name: "one", from: 0, n: 1, wantFirst: 0, wantN: 1},
		{name: "inside a segment", from: 5, n: 3, wantFirst: 5, wantN: 3},
		{name: "stops at the segment end", from: 3, n: 5, wantFirst: 3, wantN: 2},
		{name: "whole segment", from: 5, n: 100, wantFirst: 5, wantN: 5},
		{name: "stops at the maximum", from: 11, n: 100, wantFirst: 11, wantN: 2},
		{name: "last entry", from: 12, n: 1, wantFirst: 12, wantN: 1},
		{name: "at the maximum", from: 13, n: 1, wantErr: true},
		{name: "negative offset", from: -1, n: 1, wantErr: true},
		{name: "zero count", from: 0, n: 0, wantErr: true},
		{name: "negative count", from: 0, n: -3, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, seg, err := c.Read(tt.from, tt.n)
			if tt.wantErr {
				if !errors.Is(err, ErrOutOfRange) || seg != nil {
					t.Fatalf("Read(%d, %d) = %v, %v; want ErrOutOfRange", tt.from, tt.n, seg, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read(%d, %d): %v", tt.from, tt.n, err)
			}
			defer seg.Release()
			if len(b) != tt.wantN*EntrySize {
				t.Fatalf("Read(%d, %d) returned %d bytes, want %d entries", tt.from, tt.n, len(b), tt.wantN)
			}
			for i := range tt.wantN {
				if got := Decode(b[i*EntrySize:]); got != entry(tt.wantFirst+int64(i)) {
					t.Fatalf("entry %d = %+v", i, got)
				}
			}
		})
	}
}

// TestReadBelowMinimum checks that reads stop at the minimum that retention moved.
func TestReadBelowMinimum(t *testing.T) {
	c := open(t, t.TempDir())
	put(t, c, span(0, 8)...)
	if _, err := c.DeleteBefore(phy(2)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(1, 1); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("Read below the minimum = %v", err)
	}
}

func TestTruncatePhysical(t *testing.T) {
	tests := []struct {
		name     string
		offs     []int64
		deleteTo int64 // DeleteBefore(deleteTo) first when > 0
		phyEnd   int64
		wantMax  int64
		wantMin  int64
		wantEnd  int64
		wantSegs []int64
	}{
		{
			name: "past the end", offs: span(0, 13), phyEnd: phy(20),
			wantMax: 13, wantEnd: phy(12) + 100, wantSegs: []int64{0, segSize, 2 * segSize},
		},
		{
			name: "at the end", offs: span(0, 13), phyEnd: phy(13),
			wantMax: 13, wantEnd: phy(12) + 100, wantSegs: []int64{0, segSize, 2 * segSize},
		},
		{
			name: "middle of a segment", offs: span(0, 13), phyEnd: phy(8),
			wantMax: 8, wantEnd: phy(7) + 100, wantSegs: []int64{0, segSize},
		},
		{
			name: "inside a record keeps it", offs: span(0, 13), phyEnd: phy(8) + 1,
			wantMax: 9, wantEnd: phy(8) + 100, wantSegs: []int64{0, segSize},
		},
		{
			name: "segment boundary", offs: span(0, 13), phyEnd: phy(10),
			wantMax: 10, wantEnd: phy(9) + 100, wantSegs: []int64{0, segSize},
		},
		{
			name: "everything", offs: span(0, 13), phyEnd: 0,
			wantMax: 0, wantEnd: 0, wantSegs: nil,
		},
		{
			name: "trailing holes go too", offs: []int64{0, 1, 8}, phyEnd: phy(8),
			wantMax: 2, wantEnd: phy(1) + 100, wantSegs: []int64{0},
		},
		{
			name: "holes in between stay", offs: []int64{0, 3, 8}, phyEnd: phy(8),
			wantMax: 4, wantEnd: phy(3) + 100, wantSegs: []int64{0},
		},
		{
			name: "everything above the minimum", offs: span(0, 13), deleteTo: phy(7), phyEnd: 0,
			wantMin: 7, wantMax: 7, wantEnd: 0, wantSegs: []int64{segSize},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := open(t, dir)
			put(t, c, tt.offs...)
			if tt.deleteTo > 0 {
				if _, err := c.DeleteBefore(tt.deleteTo); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Flush(0); err != nil {
				t.Fatal(err)
			}
			if err := c.TruncatePhysical(tt.phyEnd); err != nil {
				t.Fatalf("TruncatePhysical(%d): %v", tt.phyEnd, err)
			}
			if c.MaxOffset() != tt.wantMax || c.MinOffset() != tt.wantMin || c.MaxPhysicalEnd() != tt.wantEnd {
				t.Fatalf("min %d max %d end %d, want %d %d %d",
					c.MinOffset(), c.MaxOffset(), c.MaxPhysicalEnd(), tt.wantMin, tt.wantMax, tt.wantEnd)
			}
			if got := segStarts(c); !slices.Equal(got, tt.wantSegs) {
				t.Fatalf("segments %v, want %v", got, tt.wantSegs)
			}
			if c.flushedOff.Load() > c.MaxOffset() {
				t.Fatalf("flushed %d above max %d", c.flushedOff.Load(), c.MaxOffset())
			}
			// Writing resumes at the cut, and the cut entries are gone from the files too: a
			// reopen finds the end just past the rewritten ones.
			next := c.MaxOffset()
			put(t, c, next, next+1)
			if got, err := c.Get(next); err != nil || got != entry(next) {
				t.Fatalf("Get(%d) after rewrite = %+v, %v", next, got, err)
			}
			c.Close()
			c = open(t, dir)
			if c.MaxOffset() != next+2 {
				t.Fatalf("reopened max %d, want %d", c.MaxOffset(), next+2)
			}
		})
	}
}

func TestDeleteBefore(t *testing.T) {
	tests := []struct {
		name     string
		offs     []int64
		minPhy   int64
		wantN    int
		wantMin  int64 // -1: only check that no live entry was skipped
		wantSegs []int64
	}{
		{name: "nothing older", offs: span(0, 13), minPhy: phy(0), wantN: 0, wantMin: 0, wantSegs: []int64{0, segSize, 2 * segSize}},
		{name: "inside the first segment", offs: span(0, 13), minPhy: phy(3), wantN: 0, wantMin: 3, wantSegs: []int64{0, segSize, 2 * segSize}},
		{name: "inside a record", offs: span(0, 13), minPhy: phy(3) + 50, wantN: 0, wantMin: 4, wantSegs: []int64{0, segSize, 2 * segSize}},
		{name: "first segment", offs: span(0, 13), minPhy: phy(5), wantN: 1, wantMin: 5, wantSegs: []int64{segSize, 2 * segSize}},
		{name: "last entry of the first segment", offs: span(0, 13), minPhy: phy(4), wantN: 0, wantMin: 4, wantSegs: []int64{0, segSize, 2 * segSize}},
		{name: "into the second segment", offs: span(0, 13), minPhy: phy(7) + 1, wantN: 1, wantMin: 8, wantSegs: []int64{segSize, 2 * segSize}},
		{name: "everything", offs: span(0, 13), minPhy: phy(100), wantN: 2, wantMin: 13, wantSegs: []int64{2 * segSize}},
		{name: "empty queue", minPhy: phy(3), wantN: 0, wantMin: 0},
		{
			// The first segment's last slot is a hole, but it holds a live entry before it.
			name: "hole at the end of a segment", offs: []int64{0, 1, 7, 8}, minPhy: phy(1),
			wantN: 0, wantMin: -1, wantSegs: []int64{0, segSize},
		},
		{
			name: "hole between old and live entries", offs: []int64{0, 1, 3, 4, 5}, minPhy: phy(1),
			wantN: 0, wantMin: -1, wantSegs: []int64{0, segSize},
		},
		{
			name: "holes around the cut", offs: []int64{0, 2, 3, 6, 9, 11}, minPhy: phy(4),
			wantN: 1, wantMin: -1, wantSegs: []int64{segSize, 2 * segSize},
		},
		{
			name: "holes around the cut inside a segment", offs: []int64{0, 2, 3, 6, 7, 9, 11}, minPhy: phy(7),
			wantN: 1, wantMin: -1, wantSegs: []int64{segSize, 2 * segSize},
		},
		{
			name: "segments of holes", offs: []int64{0, 13, 14}, minPhy: phy(13),
			wantN: 2, wantMin: -1, wantSegs: []int64{2 * segSize},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := open(t, t.TempDir())
			put(t, c, tt.offs...)
			n, err := c.DeleteBefore(tt.minPhy)
			if err != nil || n != tt.wantN {
				t.Fatalf("DeleteBefore(%d) = %d, %v; want %d", tt.minPhy, n, err, tt.wantN)
			}
			if got := segStarts(c); !slices.Equal(got, tt.wantSegs) {
				t.Fatalf("segments %v, want %v", got, tt.wantSegs)
			}
			if tt.wantMin >= 0 && c.MinOffset() != tt.wantMin {
				t.Fatalf("MinOffset %d, want %d", c.MinOffset(), tt.wantMin)
			}
			// Never past a live entry: every written entry at or after minPhy stays readable.
			for _, off := range tt.offs {
				if phy(off) < tt.minPhy {
					continue
				}
				if got, err := c.Get(off); err != nil || got != entry(off) {
					t.Fatalf("live entry %d lost: Get = %+v, %v (min %d)", off, got, err, c.MinOffset())
				}
			}
			if c.MinOffset() > c.MaxOffset() {
				t.Fatalf("min %d above max %d", c.MinOffset(), c.MaxOffset())
			}
			// The minimum never goes back.
			before := c.MinOffset()
			if _, err := c.DeleteBefore(0); err != nil || c.MinOffset() != before {
				t.Fatalf("DeleteBefore(0) moved the minimum from %d to %d (%v)", before, c.MinOffset(), err)
			}
		})
	}
}

func TestFlush(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	if err := c.Flush(0); err != nil {
		t.Fatalf("Flush of an empty queue: %v", err)
	}
	put(t, c, span(0, 7)...)
	if err := c.Flush(0); err != nil {
		t.Fatal(err)
	}
	if c.flushedOff.Load() != 7 {
		t.Fatalf("flushed %d, want 7", c.flushedOff.Load())
	}
	if err := c.Flush(0); err != nil {
		t.Fatalf("second Flush: %v", err)
	}
	put(t, c, 7, 8)
	if err := c.Flush(0); err != nil || c.flushedOff.Load() != 9 {
		t.Fatalf("Flush: %v, flushed %d", err, c.flushedOff.Load())
	}
	raw, err := os.ReadFile(filepath.Join(dir, segment.Name(segSize)))
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := int64(perSeg); i < 9; i++ {
		want = appendEntry(want, entry(i))
	}
	if !bytes.Equal(raw[:len(want)], want) {
		t.Fatal("flushed file differs from the entries")
	}
}

func appendEntry(b []byte, e Entry) []byte {
	b = append(b, byte(e.PhysicalOffset>>56), byte(e.PhysicalOffset>>48), byte(e.PhysicalOffset>>40), byte(e.PhysicalOffset>>32),
		byte(e.PhysicalOffset>>24), byte(e.PhysicalOffset>>16), byte(e.PhysicalOffset>>8), byte(e.PhysicalOffset))
	b = append(b, byte(e.Size>>24), byte(e.Size>>16), byte(e.Size>>8), byte(e.Size))
	return append(b, byte(e.TagsCode>>56), byte(e.TagsCode>>48), byte(e.TagsCode>>40), byte(e.TagsCode>>32),
		byte(e.TagsCode>>24), byte(e.TagsCode>>16), byte(e.TagsCode>>8), byte(e.TagsCode))
}

func TestDestroy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "TopicTest", "3")
	c := open(t, dir)
	put(t, c, span(0, 12)...)
	if err := c.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("queue directory still there: %v", err)
	}
}

// TestFlushLeastPages: with leastPages, Flush waits until the entries written since the last
// flush reach that many pages further; 0 flushes whatever was written.
func TestFlushLeastPages(t *testing.T) {
	c := open(t, t.TempDir())
	perPage := int64(pageSize / EntrySize) // 204 entries and a part of the next
	put(t, c, span(0, perPage)...)         // within page 0
	if err := c.Flush(2); err != nil || c.flushedOff.Load() != 0 {
		t.Fatalf("Flush(2) within one page: %v, flushed %d, want 0", err, c.flushedOff.Load())
	}
	put(t, c, span(perPage, 2*perPage+2)...) // into page 2 (byte 8,200)
	if err := c.Flush(2); err != nil || c.flushedOff.Load() != 2*perPage+2 {
		t.Fatalf("Flush(2) two pages on: %v, flushed %d, want %d", err, c.flushedOff.Load(), 2*perPage+2)
	}
	put(t, c, 2*perPage+2)
	if err := c.Flush(2); err != nil || c.flushedOff.Load() != 2*perPage+2 {
		t.Fatalf("Flush(2) after one entry: %v, flushed %d", err, c.flushedOff.Load())
	}
	if err := c.Flush(0); err != nil || c.flushedOff.Load() != 2*perPage+3 {
		t.Fatalf("Flush(0): %v, flushed %d, want %d", err, c.flushedOff.Load(), 2*perPage+3)
	}
}

// TestPutKeepsOneDescriptor: Put writes with pwrite and gives a file's descriptor back when the
// queue moves on to the next file, so a queue holds one descriptor whatever its length.
func TestPutKeepsOneDescriptor(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	put(t, c, span(0, 20*perSeg)...) // 20 files
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(target, dir) {
			n++
		}
	}
	if n > 1 {
		t.Fatalf("%d descriptors open on the queue's files after writing 20 of them, want at most 1", n)
	}
	for off := range int64(20 * perSeg) { // and every entry reads back through the mappings
		if got, err := c.Get(off); err != nil || got != entry(off) {
			t.Fatalf("Get(%d) = %+v, %v; want %+v", off, got, err, entry(off))
		}
	}
}

// TestAppendCommit checks the dispatcher's buffered writes: appended entries are published only
// by Commit (or when Append has to write them itself: the next entry is in another file, leaves
// holes, or the buffer is full), and every entry reads back.
func TestAppendCommit(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, "TopicTest", 3, 3*maxPending*EntrySize) // room for full buffers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	app := func(off, wantHoles int64) {
		t.Helper()
		holes, err := c.Append(off, entry(off))
		if err != nil || holes != wantHoles {
			t.Fatalf("Append(%d) = %d holes, %v; want %d holes", off, holes, err, wantHoles)
		}
	}
	for off := range int64(3) {
		app(off, 0)
	}
	if got := c.MaxOffset(); got != 0 {
		t.Fatalf("MaxOffset %d before Commit, want 0: appended entries are not published yet", got)
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := c.MaxOffset(); got != 3 || c.MaxPhysicalEnd() != phy(2)+100 {
		t.Fatalf("after Commit: MaxOffset %d, MaxPhysicalEnd %d; want 3, %d", got, c.MaxPhysicalEnd(), phy(2)+100)
	}

	app(3, 0)
	app(6, 2) // holes at 4 and 5: the buffered entry 3 is written first
	if got := c.MaxOffset(); got != 4 {
		t.Fatalf("MaxOffset %d after an Append past a gap, want 4 (entry 3 written)", got)
	}
	// A full buffer writes itself; entries past it stay buffered until Commit.
	for off := int64(7); off < 7+maxPending+5; off++ {
		app(off, 0)
	}
	if got, want := c.MaxOffset(), int64(6+maxPending); got != want {
		t.Fatalf("MaxOffset %d after %d appends, want %d (one full buffer written)", got, maxPending+6, want)
	}
	// Across a file boundary: the first file's entries are written before the next file opens.
	end := int64(3 * maxPending)
	for off := 7 + int64(maxPending) + 5; off < end+10; off++ {
		app(off, 0)
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := c.MaxOffset(); got != end+10 {
		t.Fatalf("MaxOffset %d, want %d", got, end+10)
	}
	checkEntries(t, c, 4, 5)

	// The same entry again is a no-op, a different one an error; an entry still buffered counts.
	app(12, 0)
	app(end+10, 0)
	if _, err := c.Append(end+10, entry(end+11)); err == nil {
		t.Fatal("Append of a different entry over a buffered one succeeded")
	}
	if _, err := c.Append(2, entry(3)); err == nil {
		t.Fatal("Append of a different entry over a written one succeeded")
	}

	// What was written is there after a reopen: the Append over the buffered entry wrote the
	// buffer before comparing.
	c.Close()
	re, err := Open(dir, "TopicTest", 3, 3*maxPending*EntrySize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(re.Close)
	if got := re.MaxOffset(); got != end+11 {
		t.Fatalf("MaxOffset %d after a reopen, want %d", got, end+11)
	}
	checkEntries(t, re, 4, 5)
}

// TestCommitThroughMapping: entries committed one at a time are stored through the mapping
// while they fall in the page this queue last wrote with pwrite and no Flush ran since, and
// written with pwrite otherwise (the first entry, one that crosses a page, the first after a
// Flush); the file and a reopened queue hold every entry.
func TestCommitThroughMapping(t *testing.T) {
	dir := t.TempDir()
	const size = 1000 * EntrySize // 20,000 bytes: five pages
	c, err := Open(dir, "TopicTest", 3, size)
	if err != nil {
		t.Fatal(err)
	}
	if !c.storeOK {
		t.Skip("the file system's blocks are smaller than a page: every commit uses pwrite")
	}
	const n = 450 // past the second page boundary (entry 204 straddles the first)
	flushed := false
	for i := int64(0); i < n; i++ {
		at := i * EntrySize // the segment starts at 0
		wantHot := i > 0 && !flushed && at/pageSize == (at+EntrySize-1)/pageSize && at/pageSize == ((at-1)/pageSize)
		if got := c.hot(c.q.Last(), at, EntrySize, c.flushes.Load()); i > 0 && got != wantHot {
			t.Fatalf("entry %d: stored through the mapping %v, want %v", i, got, wantHot)
		}
		if _, err := c.Put(i, entry(i)); err != nil {
			t.Fatal(err)
		}
		flushed = false
		if i == 100 || i == 300 {
			if err := c.Flush(0); err != nil {
				t.Fatal(err)
			}
			flushed = true
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, segment.Name(0)))
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := int64(0); i < n; i++ {
		want = appendEntry(want, entry(i))
	}
	if !bytes.Equal(raw[:len(want)], want) {
		t.Fatal("the file differs from the entries committed")
	}
	if err := c.Flush(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, err = Open(dir, "TopicTest", 3, size)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.MaxOffset() != n {
		t.Fatalf("reopened with %d entries, want %d", c.MaxOffset(), n)
	}
	for i := int64(0); i < n; i++ {
		if got, err := c.Get(i); err != nil || got != entry(i) {
			t.Fatalf("entry %d after reopen: %+v, %v", i, got, err)
		}
	}
}

// TestPrepare checks that Prepare creates the first file of a new queue, which the first
// Append then writes into, and leaves a queue that has entries, or starts above zero, alone.
func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	if err := c.Prepare(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if got := segStarts(c); !slices.Equal(got, []int64{0}) {
		t.Fatalf("after Prepare the queue has files at %v, want the first one", got)
	}
	if _, err := os.Stat(filepath.Join(dir, segment.Name(0))); err != nil {
		t.Fatalf("the first file: %v", err)
	}
	if err := c.Prepare(); err != nil { // again: nothing to do
		t.Fatalf("Prepare again: %v", err)
	}
	put(t, c, span(0, perSeg+1)...)
	if err := c.Prepare(); err != nil {
		t.Fatalf("Prepare of a queue with entries: %v", err)
	}
	if got := segStarts(c); !slices.Equal(got, []int64{0, segSize}) {
		t.Fatalf("files at %v, want [0 %d]", got, segSize)
	}
	for off := range int64(perSeg + 1) {
		if e, err := c.Get(off); err != nil || e != entry(off) {
			t.Fatalf("Get(%d) = %+v, %v; want %+v", off, e, err, entry(off))
		}
	}

	// A queue that starts above zero (its older entries deleted): no file at 0.
	c2 := open(t, t.TempDir())
	put(t, c2, 3*perSeg)
	if err := c2.Prepare(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if got := segStarts(c2); slices.Contains(got, 0) {
		t.Fatalf("Prepare of a queue starting at %d created the file at 0: files at %v", 3*perSeg, got)
	}
}

// TestPrepareRacesAppend runs Prepare while the first Append creates the same file (run with
// -race): whichever comes second finds the file there.
func TestPrepareRacesAppend(t *testing.T) {
	dir := t.TempDir()
	for i := range 200 {
		c := open(t, filepath.Join(dir, strconv.Itoa(i)))
		start, done, put := make(chan struct{}), make(chan error, 1), make(chan error, 1)
		go func() {
			<-start
			done <- c.Prepare()
		}()
		go func() {
			<-start
			_, err := c.Put(0, entry(0))
			put <- err
		}()
		close(start)
		if err := <-put; err != nil {
			t.Fatalf("Put(0) while Prepare ran: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Prepare while Put(0) ran: %v", err)
		}
		if e, err := c.Get(0); err != nil || e != entry(0) {
			t.Fatalf("Get(0) = %+v, %v", e, err)
		}
	}
}
