package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestIdempotentReput(t *testing.T) {
	tests := []struct {
		name string
		stop func(*Index)
		// entries added by replaying everything after the restart
		extra int32
	}{
		{"clean close", func(x *Index) { x.Close() }, 0},
		// The last record was never completed: its two keys are indexed again.
		{"crash", func(x *Index) { writeNow(x); crash(x) }, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			replay := func(x *Index) {
				for i := range int64(300) {
					put(t, x, "T", "k", i*10, t0+i)
					put(t, x, "T", fmt.Sprintf("u%d", i), i*10, t0+i)
				}
			}
			x := open(t, dir, small)
			replay(x)
			writeNow(x)
			before := x.files[len(x.files)-1].h.indexCount
			tt.stop(x)

			x = open(t, dir, small)
			replay(x)
			writeNow(x)
			if got := x.files[len(x.files)-1].h.indexCount - before; got != tt.extra {
				t.Errorf("replay added %d entries, want %d", got, tt.extra)
			}
			got := query(t, x, "T", "k", 1000, 0, t0+1000)
			if len(got) != 300 {
				t.Fatalf("got %d offsets, want 300", len(got))
			}
			for i, o := range got {
				if o != int64(299-i)*10 {
					t.Fatalf("got[%d] = %d", i, o)
				}
			}
			if got := query(t, x, "T", "u299", 10, 0, t0+1000); !slices.Equal(got, []int64{2990}) {
				t.Errorf("u299: got %v", got)
			}
			if x.EndPhyOffset() != 2990 {
				t.Errorf("EndPhyOffset = %d", x.EndPhyOffset())
			}
		})
	}
}

func TestCrashMidRecord(t *testing.T) {
	dir := t.TempDir()
	x := open(t, dir, small)
	put(t, x, "T", "a", 0, t0)
	put(t, x, "T", "b", 100, t0)
	put(t, x, "T", "c", 100, t0) // crash before "d" of the record at 100
	writeNow(x)
	crash(x)

	x = open(t, dir, small)
	if got := x.EndPhyOffset(); got != 0 {
		t.Fatalf("EndPhyOffset after crash = %d, want 0 (100 is incomplete)", got)
	}
	for _, k := range []string{"b", "c", "d"} {
		put(t, x, "T", k, 100, t0)
	}
	put(t, x, "T", "a", 0, t0) // already complete: skipped
	for _, k := range []string{"b", "c", "d"} {
		if got := query(t, x, "T", k, 10, 0, t0); !slices.Equal(got, []int64{100}) {
			t.Errorf("%s: got %v, want [100]", k, got)
		}
	}
	if got := query(t, x, "T", "a", 10, 0, t0); !slices.Equal(got, []int64{0}) {
		t.Errorf("a: got %v, want [0]", got)
	}
}

func TestSkipRules(t *testing.T) {
	x := open(t, t.TempDir(), small)
	steps := []struct {
		off     int64
		key     string
		indexed bool
	}{
		{100, "a", true},
		{100, "b", true}, // same record
		{200, "c", true}, // next record: 100 complete
		{100, "d", false},
		{150, "e", false}, // older than the record in progress
		{200, "f", true},
		{300, "g", true},
		{200, "h", false},
	}
	for i, s := range steps {
		before := int32(1)
		if len(x.files) > 0 {
			before = x.files[0].h.indexCount
		}
		put(t, x, "T", s.key, s.off, t0)
		writeNow(x)
		if got := x.files[0].h.indexCount > before; got != s.indexed {
			t.Errorf("step %d (%d %s): indexed = %v, want %v", i, s.off, s.key, got, s.indexed)
		}
	}
}

func TestResetEnd(t *testing.T) {
	setup := func(t *testing.T) (string, *Index) {
		dir := t.TempDir()
		x := open(t, dir, small)
		for i := range int64(600) { // files at 0, 255*10, 510*10
			put(t, x, "T", "k", i*10, t0+i)
		}
		return dir, x
	}
	tests := []struct {
		name      string
		at        int64
		files     int
		end       int64
		reindexed int64 // first offset indexed again
	}{
		{"inside the newest file", 5500, 3, 5499, 5500},
		{"at a file's start", 5100, 2, 5090, 5100},
		{"inside an older file", 3000, 2, 2999, 3000},
		{"at zero", 0, 0, -1, 0},
		// The record in progress (5990) is forgotten and indexed again.
		{"beyond the end", 100_000, 3, 5980, 5990},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, x := setup(t)
			if err := x.ResetEnd(tt.at); err != nil {
				t.Fatal(err)
			}
			if x.Files() != tt.files {
				t.Errorf("Files = %d, want %d", x.Files(), tt.files)
			}
			if x.EndPhyOffset() != tt.end {
				t.Errorf("EndPhyOffset = %d, want %d", x.EndPhyOffset(), tt.end)
			}
			// The truncated records come back with another key; the earlier ones are skipped.
			for off := tt.reindexed - 50; off < tt.reindexed+50; off += 10 {
				if off >= 0 {
					put(t, x, "T", "again", off, t0)
				}
			}
			got := query(t, x, "T", "again", 100, 0, t0)
			var want []int64
			for off := tt.reindexed + 40; off >= tt.reindexed; off -= 10 {
				want = append(want, off)
			}
			if !slices.Equal(got, want) {
				t.Errorf("re-indexed %v, want %v", got, want)
			}
			// Survives a reopen.
			x.Close()
			x = open(t, dir, small)
			if x.EndPhyOffset() != tt.reindexed+40 {
				t.Errorf("EndPhyOffset after reopen = %d, want %d", x.EndPhyOffset(), tt.reindexed+40)
			}
		})
	}
}

func TestDeleteBefore(t *testing.T) {
	tests := []struct {
		name    string
		min     int64
		deleted int
	}{
		{"nothing below", 0, 0},
		{"inside the first file", 1000, 0},
		{"at the second file's start", 2550, 0},
		{"just past the second file's start", 2551, 1},
		{"inside the third file", 6000, 2},
		{"never the newest", 1 << 40, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			x := open(t, dir, small)
			for i := range int64(1000) { // files at 0, 2550, 5100, 7650
				put(t, x, "T", "k", i*10, t0+i)
			}
			n, err := x.DeleteBefore(tt.min)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.deleted || x.Files() != 4-tt.deleted {
				t.Fatalf("deleted %d, %d files left; want %d deleted", n, x.Files(), tt.deleted)
			}
			names, _ := os.ReadDir(dir)
			if len(names) != 4-tt.deleted {
				t.Errorf("%d files on disk", len(names))
			}
			got := query(t, x, "T", "k", 2000, 0, t0+2000)
			if w := 1000 - 255*tt.deleted; len(got) != w {
				t.Errorf("%d offsets left, want %d", len(got), w)
			}
			if oldest := got[len(got)-1]; oldest != 2550*int64(tt.deleted) {
				t.Errorf("oldest offset left %d, want %d", oldest, 2550*tt.deleted)
			}
		})
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	x := open(t, dir, small)
	type rec struct {
		key string
		off int64
	}
	var recs []rec
	for i := range int64(700) {
		r := rec{fmt.Sprintf("k%d", i%13), i * 100}
		recs = append(recs, r)
		put(t, x, "T", r.key, r.off, t0+i*1000)
	}
	files, end, endTs := x.Files(), x.EndPhyOffset(), x.EndTimestamp()
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := x.Query("T", "k1", 1, 0, t0); !errors.Is(err, ErrClosed) {
		t.Errorf("Query after Close: %v, want ErrClosed", err)
	}
	if err := x.Put([]byte("T"), []byte("k"), 1<<40, t0); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v, want ErrClosed", err)
	}

	x = open(t, dir, small)
	if x.Files() != files || x.EndPhyOffset() != end || x.EndTimestamp() != endTs {
		t.Fatalf("reopened: files %d end %d ts %d, want %d %d %d",
			x.Files(), x.EndPhyOffset(), x.EndTimestamp(), files, end, endTs)
	}
	for k := range 13 {
		key := fmt.Sprintf("k%d", k)
		var want []int64
		for _, r := range slices.Backward(recs) {
			if r.key == key {
				want = append(want, r.off)
			}
		}
		if got := query(t, x, "T", key, 1000, 0, t0+1_000_000); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", key, got, want)
		}
	}
	// And it keeps going where it left off.
	put(t, x, "T", "k0", 70_000, t0+700_000)
	if got := query(t, x, "T", "k0", 1, 0, t0+1_000_000); !slices.Equal(got, []int64{70_000}) {
		t.Errorf("after reopen: got %v", got)
	}
}

// TestFilesAreReserved: a new index file's blocks are all reserved when it is created, so a
// store into its mapping cannot meet a full filesystem (a SIGBUS), only its creation can (an
// error). Filesystems without fallocate(2) skip it.
func TestFilesAreReserved(t *testing.T) {
	dir := t.TempDir()
	probe := filepath.Join(dir, "probe")
	fd, err := unix.Open(probe, unix.O_RDWR|unix.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Fallocate(fd, 0, 0, 1<<16)
	unix.Close(fd)
	os.Remove(probe)
	if err != nil {
		t.Skipf("no fallocate here: %v", err)
	}
	x := open(t, dir, Options{MaxHashSlots: 4096, MaxIndexEntries: 16384})
	put(t, x, "T", "k", 0, 1)
	if err := writeNow(x); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "[0-9]*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("index files %v, %v", files, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(files[0], &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 < st.Size {
		t.Fatalf("%s: %d of %d bytes reserved", files[0], st.Blocks*512, st.Size)
	}
}
