package segment

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ternmq/tern/core/store/mmap"
)

const segSize = 4096

// file is a file to lay out in a directory before Open.
type file struct {
	name string
	size int64
	dir  bool
}

func seg(start int64) file { return file{name: Name(start), size: segSize} }

func layout(t *testing.T, dir string, files []file) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if f.dir {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(len(f.name))}, int(f.size)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func starts(q *Queue) []int64 {
	var out []int64
	for _, s := range q.Segments() {
		out = append(out, s.Start)
	}
	return out
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func openQueue(t *testing.T, dir string) *Queue {
	t.Helper()
	q, err := Open(dir, segSize, false)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(q.Close)
	return q
}

func TestName(t *testing.T) {
	tests := []struct {
		offset int64
		want   string
	}{
		{0, "00000000000000000000"},
		{1073741824, "00000000001073741824"},
		{1<<63 - 1, "09223372036854775807"},
	}
	for _, tt := range tests {
		if got := Name(tt.offset); got != tt.want || len(got) != NameLen {
			t.Errorf("Name(%d) = %q, want %q", tt.offset, got, tt.want)
		}
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name       string
		size       int64
		files      []file
		wantStarts []int64
		wantErr    error  // errors.Is target
		errText    string // substring of the error
		wantNames  []string
	}{
		{name: "empty directory", size: segSize},
		{
			name:       "contiguous from zero",
			size:       segSize,
			files:      []file{seg(0), seg(segSize), seg(2 * segSize)},
			wantStarts: []int64{0, segSize, 2 * segSize},
		},
		{
			name:       "contiguous above zero",
			size:       segSize,
			files:      []file{seg(7 * segSize), seg(5 * segSize), seg(6 * segSize)},
			wantStarts: []int64{5 * segSize, 6 * segSize, 7 * segSize},
		},
		{
			name:    "gap",
			size:    segSize,
			files:   []file{seg(0), seg(segSize), seg(3 * segSize)},
			wantErr: ErrGap,
			errText: Name(3*segSize) + " follows " + Name(segSize),
		},
		{
			name:    "wrong size",
			size:    segSize,
			files:   []file{seg(0), {name: Name(segSize), size: segSize - 1}},
			errText: "want 4096",
		},
		{
			name:    "start not a multiple of the size",
			size:    segSize,
			files:   []file{{name: Name(100), size: segSize}},
			errText: "not a multiple",
		},
		{
			name:    "later start not a multiple of the size",
			size:    segSize,
			files:   []file{{name: Name(100), size: segSize}, {name: Name(100 + segSize), size: segSize}},
			errText: "not a multiple",
		},
		{
			name: "foreign files ignored",
			size: segSize,
			files: []file{
				seg(segSize),
				{name: "checkpoint", size: 10},
				{name: "0000000000000000000", size: segSize},   // 19 digits
				{name: "000000000000000000000", size: segSize}, // 21 digits
				{name: "0000000000000000000x", size: segSize},
				{name: "-0000000000000004096", size: segSize},
				{name: "+0000000000000004096", size: segSize},
				{name: "+0000000000000008192", size: segSize},
				{name: " 0000000000000008192", size: segSize},
				{name: "99999999999999999999", size: segSize}, // overflows int64
				{name: Name(2 * segSize), dir: true},
			},
			wantStarts: []int64{segSize},
		},
		{
			name:       "interrupted create removed",
			size:       segSize,
			files:      []file{seg(0), {name: Name(segSize) + mmap.TempSuffix, size: 3}},
			wantStarts: []int64{0},
			wantNames:  []string{Name(0)},
		},
		{
			name: "foreign temporary files kept",
			size: segSize,
			files: []file{
				seg(0),
				{name: "abcdefghijklmnopqrst" + mmap.TempSuffix, size: 3},
				{name: "+0000000000000004096" + mmap.TempSuffix, size: 3},
			},
			wantStarts: []int64{0},
			wantNames:  []string{"+0000000000000004096" + mmap.TempSuffix, Name(0), "abcdefghijklmnopqrst" + mmap.TempSuffix},
		},
		{name: "zero size", size: 0, errText: "must be positive"},
		{name: "negative size", size: -segSize, errText: "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			layout(t, dir, tt.files)
			q, err := Open(dir, tt.size, false)
			if tt.wantErr != nil || tt.errText != "" {
				if err == nil {
					q.Close()
					t.Fatalf("Open succeeded with %v, want an error", starts(q))
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open error %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("Open error %q, want it to contain %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer q.Close()
			if got := starts(q); !slices.Equal(got, tt.wantStarts) {
				t.Fatalf("segments %v, want %v", got, tt.wantStarts)
			}
			if q.Len() != len(tt.wantStarts) || q.Dir() != dir || q.SegmentSize() != tt.size {
				t.Fatalf("Len %d Dir %q SegmentSize %d", q.Len(), q.Dir(), q.SegmentSize())
			}
			wantMin := int64(0)
			if len(tt.wantStarts) > 0 {
				wantMin = tt.wantStarts[0]
				if q.First().Start != wantMin || q.Last().Start != tt.wantStarts[len(tt.wantStarts)-1] {
					t.Fatalf("First %d Last %d", q.First().Start, q.Last().Start)
				}
			} else if q.First() != nil || q.Last() != nil {
				t.Fatal("First or Last of an empty queue is not nil")
			}
			if q.MinOffset() != wantMin {
				t.Fatalf("MinOffset %d, want %d", q.MinOffset(), wantMin)
			}
			if tt.wantNames != nil {
				if got := dirNames(t, dir); !slices.Equal(got, tt.wantNames) {
					t.Fatalf("directory holds %q, want %q", got, tt.wantNames)
				}
			}
		})
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	q := openQueue(t, dir)
	if q.Len() != 0 {
		t.Fatalf("Len %d", q.Len())
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("directory not created: %v", err)
	}
}

func TestCreate(t *testing.T) {
	type step struct {
		start   int64
		wantErr error  // errors.Is target
		errText string // substring of the error
	}
	tests := []struct {
		name       string
		steps      []step
		wantStarts []int64
	}{
		{
			name:       "contiguous from zero",
			steps:      []step{{start: 0}, {start: segSize}, {start: 2 * segSize}},
			wantStarts: []int64{0, segSize, 2 * segSize},
		},
		{
			name:       "first segment anywhere on the grid",
			steps:      []step{{start: 9 * segSize}, {start: 10 * segSize}},
			wantStarts: []int64{9 * segSize, 10 * segSize},
		},
		{
			name:       "off the grid",
			steps:      []step{{start: 100, errText: "not a multiple"}, {start: 0}, {start: segSize + 1, errText: "not a multiple"}},
			wantStarts: []int64{0},
		},
		{
			name:       "gap",
			steps:      []step{{start: 0}, {start: 2 * segSize, wantErr: ErrGap}},
			wantStarts: []int64{0},
		},
		{
			name:       "same start again",
			steps:      []step{{start: 0}, {start: 0, wantErr: ErrGap}},
			wantStarts: []int64{0},
		},
		{
			name:       "before the first",
			steps:      []step{{start: 2 * segSize}, {start: segSize, wantErr: ErrGap}},
			wantStarts: []int64{2 * segSize},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			q := openQueue(t, dir)
			for i, st := range tt.steps {
				s, err := q.Create(st.start)
				if st.wantErr != nil || st.errText != "" {
					if err == nil {
						t.Fatalf("step %d: Create(%d) succeeded, want an error", i, st.start)
					}
					if st.wantErr != nil && !errors.Is(err, st.wantErr) {
						t.Fatalf("step %d: Create(%d) = %v, want %v", i, st.start, err, st.wantErr)
					}
					if !strings.Contains(err.Error(), st.errText) {
						t.Fatalf("step %d: Create(%d) = %q, want it to contain %q", i, st.start, err, st.errText)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: Create(%d): %v", i, st.start, err)
				}
				if s.Start != st.start || s.End() != st.start+segSize || s.Path() != filepath.Join(dir, Name(st.start)) {
					t.Fatalf("step %d: segment Start %d End %d Path %q", i, s.Start, s.End(), s.Path())
				}
			}
			if got := starts(q); !slices.Equal(got, tt.wantStarts) {
				t.Fatalf("segments %v, want %v", got, tt.wantStarts)
			}
			var wantNames []string
			for _, s := range tt.wantStarts {
				wantNames = append(wantNames, Name(s))
			}
			if got := dirNames(t, dir); !slices.Equal(got, wantNames) {
				t.Fatalf("directory holds %q, want %q", got, wantNames)
			}
		})
	}
}

// TestCreateExistingFile checks that Create refuses to replace a file it does not know about.
func TestCreateExistingFile(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir)
	layout(t, dir, []file{seg(0)})
	if _, err := q.Create(0); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing file = %v, want fs.ErrExist", err)
	}
	if q.Len() != 0 {
		t.Fatalf("Len %d after a failed Create", q.Len())
	}
}

// TestEnsure checks that Ensure creates a segment as Create does, returns the last one when it
// starts at start, and refuses what Create refuses otherwise.
func TestEnsure(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir)
	first, err := q.Ensure(0)
	if err != nil || first.Start != 0 {
		t.Fatalf("Ensure(0) on an empty queue = %v, %v", first, err)
	}
	again, err := q.Ensure(0)
	if err != nil || again != first {
		t.Fatalf("Ensure(0) again = %p, %v; want the segment it created (%p)", again, err, first)
	}
	next, err := q.Ensure(segSize)
	if err != nil || next.Start != segSize {
		t.Fatalf("Ensure(%d) = %v, %v", segSize, next, err)
	}
	if _, err := q.Ensure(0); !errors.Is(err, ErrGap) {
		t.Fatalf("Ensure(0) behind the last segment = %v, want ErrGap", err)
	}
	if _, err := q.Ensure(3 * segSize); !errors.Is(err, ErrGap) {
		t.Fatalf("Ensure past a gap = %v, want ErrGap", err)
	}
	if got := starts(q); !slices.Equal(got, []int64{0, segSize}) {
		t.Fatalf("segments %v, want [0 %d]", got, segSize)
	}
}

// TestReopen checks that what is written through the mappings is there after Close and Open.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir, segSize, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(3) {
		s, err := q.Create(i * segSize)
		if err != nil {
			t.Fatal(err)
		}
		copy(s.Bytes()[segSize-5:], "seg-"+string(rune('a'+i)))
	}
	if err := q.Sync(0, 3*segSize); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if q.Len() != 0 {
		t.Fatalf("Len %d after Close", q.Len())
	}
	q = openQueue(t, dir)
	for i, s := range q.Segments() {
		if got, want := string(s.Bytes()[segSize-5:]), "seg-"+string(rune('a'+i)); got != want {
			t.Fatalf("segment %d ends with %q, want %q", i, got, want)
		}
	}
}

func TestFindAcquire(t *testing.T) {
	dir := t.TempDir()
	layout(t, dir, []file{seg(2 * segSize), seg(3 * segSize), seg(4 * segSize)})
	q := openQueue(t, dir)
	tests := []struct {
		name      string
		offset    int64
		wantStart int64 // -1: none
	}{
		{name: "negative", offset: -1, wantStart: -1},
		{name: "below the first", offset: 2*segSize - 1, wantStart: -1},
		{name: "first byte", offset: 2 * segSize, wantStart: 2 * segSize},
		{name: "inside", offset: 3*segSize + 17, wantStart: 3 * segSize},
		{name: "last byte of a segment", offset: 4*segSize - 1, wantStart: 3 * segSize},
		{name: "boundary", offset: 4 * segSize, wantStart: 4 * segSize},
		{name: "last byte", offset: 5*segSize - 1, wantStart: 4 * segSize},
		{name: "end", offset: 5 * segSize, wantStart: -1},
		{name: "far beyond", offset: 1 << 62, wantStart: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found := q.Find(tt.offset)
			acquired := q.Acquire(tt.offset)
			if tt.wantStart < 0 {
				if found != nil || acquired != nil {
					t.Fatalf("Find/Acquire(%d) = %v/%v, want nil", tt.offset, found, acquired)
				}
				return
			}
			if found == nil || found.Start != tt.wantStart {
				t.Fatalf("Find(%d) = %v, want start %d", tt.offset, found, tt.wantStart)
			}
			if acquired != found {
				t.Fatalf("Acquire(%d) = %v, Find %v", tt.offset, acquired, found)
			}
			acquired.Release()
		})
	}
}

// TestAcquireOutlivesRemoval checks that a reader's reference keeps a segment's bytes readable
// after the queue deleted it, and that a deleted segment can no longer be acquired.
func TestAcquireOutlivesRemoval(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir)
	for i := range int64(2) {
		s, err := q.Create(i * segSize)
		if err != nil {
			t.Fatal(err)
		}
		copy(s.Bytes(), "payload")
	}
	s := q.Acquire(10)
	if s == nil {
		t.Fatal("Acquire(10) = nil")
	}
	stale := q.Find(10)
	if n, err := q.RemoveHead(1, func(*Segment) bool { return true }); n != 1 || err != nil {
		t.Fatalf("RemoveHead = %d, %v", n, err)
	}
	if q.Acquire(10) != nil {
		t.Fatal("Acquire found a removed segment")
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("removed segment still on disk: %v", err)
	}
	if got := string(s.Bytes()[:7]); got != "payload" {
		t.Fatalf("reader sees %q after removal", got)
	}
	s.Release()
	if stale.File.Acquire() {
		t.Fatal("a removed segment could be acquired after its last reader released it")
	}
}

// filled returns a queue of n segments starting at first, every byte 0xFF.
func filled(t *testing.T, first int64, n int) (*Queue, string) {
	t.Helper()
	dir := t.TempDir()
	q := openQueue(t, dir)
	for i := range int64(n) {
		s, err := q.Create(first + i*segSize)
		if err != nil {
			t.Fatal(err)
		}
		for j := range s.Bytes() {
			s.Bytes()[j] = 0xFF
		}
	}
	return q, dir
}

func TestTruncateFrom(t *testing.T) {
	const first = 2 * segSize
	tests := []struct {
		name       string
		offset     int64
		wantStarts []int64
		wantZeroAt int64 // stream offset from which the last kept segment reads zero; -1: none
	}{
		{name: "middle of a segment", offset: first + segSize + 100, wantStarts: []int64{first, first + segSize}, wantZeroAt: first + segSize + 100},
		{name: "first byte of the last segment", offset: first + 2*segSize + 1, wantStarts: []int64{first, first + segSize, first + 2*segSize}, wantZeroAt: first + 2*segSize + 1},
		{name: "segment boundary", offset: first + segSize, wantStarts: []int64{first}, wantZeroAt: -1},
		{name: "just below a boundary", offset: first + segSize - 1, wantStarts: []int64{first}, wantZeroAt: first + segSize - 1},
		{name: "at the first start", offset: first, wantStarts: nil, wantZeroAt: -1},
		{name: "below the first start", offset: first - 1000, wantStarts: nil, wantZeroAt: -1},
		{name: "at the end", offset: first + 3*segSize, wantStarts: []int64{first, first + segSize, first + 2*segSize}, wantZeroAt: -1},
		{name: "past the end", offset: first + 10*segSize, wantStarts: []int64{first, first + segSize, first + 2*segSize}, wantZeroAt: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, dir := filled(t, first, 3)
			if err := q.TruncateFrom(tt.offset); err != nil {
				t.Fatalf("TruncateFrom(%d): %v", tt.offset, err)
			}
			if got := starts(q); !slices.Equal(got, tt.wantStarts) {
				t.Fatalf("segments %v, want %v", got, tt.wantStarts)
			}
			var wantNames []string
			for _, s := range tt.wantStarts {
				wantNames = append(wantNames, Name(s))
			}
			if got := dirNames(t, dir); !slices.Equal(got, wantNames) {
				t.Fatalf("directory holds %q, want %q", got, wantNames)
			}
			for _, s := range q.Segments() {
				want := bytes.Repeat([]byte{0xFF}, segSize)
				if tt.wantZeroAt >= s.Start && tt.wantZeroAt < s.End() {
					clear(want[tt.wantZeroAt-s.Start:])
				}
				if !bytes.Equal(s.Bytes(), want) {
					t.Fatalf("segment %d content wrong after TruncateFrom(%d)", s.Start, tt.offset)
				}
			}
			// The stream goes on from the new end.
			next := int64(first)
			if l := q.Last(); l != nil {
				next = l.End()
			}
			if _, err := q.Create(next); err != nil {
				t.Fatalf("Create(%d) after truncation: %v", next, err)
			}
		})
	}
}

func TestRemoveHead(t *testing.T) {
	tests := []struct {
		name       string
		segments   int
		max        int
		remove     func(*Segment) bool
		wantN      int
		wantStarts []int64
		wantAsked  []int64 // segments the predicate saw, in order
	}{
		{
			name: "never the last", segments: 3, max: 10, remove: func(*Segment) bool { return true },
			wantN: 2, wantStarts: []int64{2 * segSize}, wantAsked: []int64{0, segSize},
		},
		{
			name: "max bounds the count", segments: 4, max: 2, remove: func(*Segment) bool { return true },
			wantN: 2, wantStarts: []int64{2 * segSize, 3 * segSize}, wantAsked: []int64{0, segSize},
		},
		{
			name: "stops at the first kept", segments: 4, max: 10, remove: func(s *Segment) bool { return s.Start != segSize },
			wantN: 1, wantStarts: []int64{segSize, 2 * segSize, 3 * segSize}, wantAsked: []int64{0, segSize},
		},
		{
			name: "keeps the first", segments: 3, max: 10, remove: func(*Segment) bool { return false },
			wantN: 0, wantStarts: []int64{0, segSize, 2 * segSize}, wantAsked: []int64{0},
		},
		{
			name: "single segment", segments: 1, max: 10, remove: func(*Segment) bool { return true },
			wantN: 0, wantStarts: []int64{0}, wantAsked: nil,
		},
		{
			name: "empty queue", segments: 0, max: 10, remove: func(*Segment) bool { return true },
			wantN: 0, wantStarts: nil, wantAsked: nil,
		},
		{
			name: "zero max", segments: 3, max: 0, remove: func(*Segment) bool { return true },
			wantN: 0, wantStarts: []int64{0, segSize, 2 * segSize}, wantAsked: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, dir := filled(t, 0, tt.segments)
			var asked []int64
			n, err := q.RemoveHead(tt.max, func(s *Segment) bool {
				asked = append(asked, s.Start)
				return tt.remove(s)
			})
			if err != nil || n != tt.wantN {
				t.Fatalf("RemoveHead = %d, %v; want %d", n, err, tt.wantN)
			}
			if !slices.Equal(asked, tt.wantAsked) {
				t.Fatalf("predicate saw %v, want %v", asked, tt.wantAsked)
			}
			if got := starts(q); !slices.Equal(got, tt.wantStarts) {
				t.Fatalf("segments %v, want %v", got, tt.wantStarts)
			}
			if len(tt.wantStarts) > 0 && q.MinOffset() != tt.wantStarts[0] {
				t.Fatalf("MinOffset %d, want %d", q.MinOffset(), tt.wantStarts[0])
			}
			var wantNames []string
			for _, s := range tt.wantStarts {
				wantNames = append(wantNames, Name(s))
			}
			if got := dirNames(t, dir); !slices.Equal(got, wantNames) {
				t.Fatalf("directory holds %q, want %q", got, wantNames)
			}
		})
	}
}

func TestRemoveAll(t *testing.T) {
	tests := []struct {
		name      string
		segments  int
		foreign   []file
		wantNames []string // nil: the directory is gone
	}{
		{name: "segments only", segments: 3},
		{name: "empty queue", segments: 0},
		{name: "foreign file kept", segments: 2, foreign: []file{{name: "notes.txt", size: 5}}, wantNames: []string{"notes.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, dir := filled(t, 0, tt.segments)
			layout(t, dir, tt.foreign)
			if err := q.RemoveAll(); err != nil {
				t.Fatalf("RemoveAll: %v", err)
			}
			if q.Len() != 0 || q.First() != nil || q.MinOffset() != 0 {
				t.Fatalf("queue not empty: Len %d", q.Len())
			}
			if tt.wantNames == nil {
				if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("directory still there: %v", err)
				}
				return
			}
			if got := dirNames(t, dir); !slices.Equal(got, tt.wantNames) {
				t.Fatalf("directory holds %q, want %q", got, tt.wantNames)
			}
		})
	}
}

func TestSync(t *testing.T) {
	tests := []struct {
		name     string
		from, to int64
	}{
		{name: "everything", from: 0, to: 3 * segSize},
		{name: "across a boundary", from: segSize - 10, to: segSize + 10},
		{name: "across all boundaries", from: 5, to: 3*segSize - 5},
		{name: "one segment", from: segSize, to: 2 * segSize},
		{name: "past the end", from: 2 * segSize, to: 100 * segSize},
		{name: "before the start", from: -segSize, to: 10},
		{name: "empty", from: 100, to: 100},
		{name: "reversed", from: 200, to: 100},
		{name: "outside", from: 5 * segSize, to: 6 * segSize},
	}
	q, dir := filled(t, 0, 3)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := q.Sync(tt.from, tt.to); err != nil {
				t.Fatalf("Sync(%d, %d): %v", tt.from, tt.to, err)
			}
		})
	}
	for i := range 3 {
		raw, err := os.ReadFile(filepath.Join(dir, Name(int64(i)*segSize)))
		if err != nil || !bytes.Equal(raw, bytes.Repeat([]byte{0xFF}, segSize)) {
			t.Fatalf("segment %d on disk differs from its mapping (%v)", i, err)
		}
	}
	q.Close()
	if err := q.Sync(0, 3*segSize); err != nil {
		t.Fatalf("Sync after Close: %v", err)
	}
}

// TestSyncSkipsReleasedSegments checks that Sync passes over a segment whose mapping is gone
// (removed by someone else between the snapshot and the flush) instead of touching it.
func TestSyncSkipsReleasedSegments(t *testing.T) {
	q, _ := filled(t, 0, 2)
	q.First().Close() // the mapping goes; the queue still lists the segment
	if err := q.Sync(0, 2*segSize); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}
