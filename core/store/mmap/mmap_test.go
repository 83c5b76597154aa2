package mmap

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// fill writes b to every byte of f's mapping.
func fill(f *File, b byte) {
	data := f.Bytes()
	for i := range data {
		data[i] = b
	}
}

func create(t *testing.T, size int64) *File {
	t.Helper()
	f, err := Create(filepath.Join(t.TempDir(), "f"), size, false)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestCreate(t *testing.T) {
	tests := []struct {
		name     string
		size     int64
		prealloc bool
		wantErr  string
	}{
		{name: "sparse", size: 3*pageSize + 5},
		{name: "preallocated", size: 2 * pageSize, prealloc: true},
		{name: "one byte", size: 1},
		{name: "zero size", size: 0, wantErr: "must be positive"},
		{name: "negative size", size: -1, wantErr: "must be positive"},
		// Too big for the filesystem or for the address space: either way it fails, and the
		// half-made file must not be left behind.
		{name: "too large sparse", size: 1 << 62, wantErr: "mmap:"},
		{name: "too large preallocated", size: 1 << 62, prealloc: true, wantErr: "mmap:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "seg")
			f, err := Create(path, tt.size, tt.prealloc)
			if _, serr := os.Stat(path + TempSuffix); !errors.Is(serr, fs.ErrNotExist) {
				t.Fatalf("Create left its temporary file behind (stat: %v)", serr)
			}
			if tt.wantErr != "" {
				if err == nil {
					f.Close()
					t.Fatalf("Create succeeded, want error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Create error %q, want it to contain %q", err, tt.wantErr)
				}
				if _, serr := os.Stat(path); !errors.Is(serr, fs.ErrNotExist) {
					t.Fatalf("failed Create left %s behind (stat: %v)", path, serr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			defer f.Close()
			if f.Path() != path || f.Size() != tt.size || int64(len(f.Bytes())) != tt.size {
				t.Fatalf("Path %q Size %d len %d, want %q %d", f.Path(), f.Size(), len(f.Bytes()), path, tt.size)
			}
			st, err := os.Stat(path)
			if err != nil || st.Size() != tt.size {
				t.Fatalf("file size %v (%v), want %d", st, err, tt.size)
			}
			if !bytes.Equal(f.Bytes(), make([]byte, tt.size)) {
				t.Fatal("new file is not zero")
			}
		})
	}
}

func TestCreateExistingPathFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg")
	want := []byte("someone else's data")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path, pageSize, true)
	if err == nil {
		f.Close()
		t.Fatal("Create over an existing file succeeded")
	}
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create error %v, want fs.ErrExist", err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("existing file changed: %q, %v", got, err)
	}
}

// TestCreateOverStaleTemp checks that a temporary file left by a crashed Create does not stop
// the next Create of the same path.
func TestCreateOverStaleTemp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg")
	if err := os.WriteFile(path+TempSuffix, []byte("half-made"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path, pageSize, false)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer f.Close()
	if !bytes.Equal(f.Bytes(), make([]byte, pageSize)) {
		t.Fatal("new file holds the stale temporary file's bytes")
	}
	if _, err := os.Stat(path + TempSuffix); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temporary file still there: %v", err)
	}
}

func TestOpen(t *testing.T) {
	const size = 2*4096 + 100
	tests := []struct {
		name     string
		fileSize int64 // -1: no file
		openSize int64
		wantErr  error  // checked with errors.Is when set
		errText  string // substring of the error when set
	}{
		{name: "exact size", fileSize: size, openSize: size},
		{name: "file shorter", fileSize: size - 1, openSize: size, errText: "want 8292"},
		{name: "file longer", fileSize: size + 1, openSize: size, errText: "has 8293 bytes"},
		{name: "missing", fileSize: -1, openSize: size, wantErr: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "seg")
			content := bytes.Repeat([]byte("tern"), size/4+1)
			if tt.fileSize >= 0 {
				if err := os.WriteFile(path, content[:tt.fileSize], 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f, err := Open(path, tt.openSize)
			if tt.wantErr != nil || tt.errText != "" {
				if err == nil {
					f.Close()
					t.Fatal("Open succeeded, want an error")
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
			defer f.Close()
			if !bytes.Equal(f.Bytes(), content[:size]) {
				t.Fatal("mapping does not show the file's content")
			}
		})
	}
}

// TestWriteThroughMapping checks that stores into Bytes reach the file, and that Open maps what
// an earlier mapping wrote.
func TestWriteThroughMapping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seg")
	f, err := Create(path, 3*pageSize, true)
	if err != nil {
		t.Fatal(err)
	}
	copy(f.Bytes()[pageSize-2:], "across a page")
	if err := f.Sync(pageSize-2, pageSize+11); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	f.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(raw[pageSize-2 : pageSize+11]); got != "across a page" {
		t.Fatalf("file holds %q", got)
	}
	g, err := Open(path, 3*pageSize)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got := string(g.Bytes()[pageSize-2 : pageSize+11]); got != "across a page" {
		t.Fatalf("reopened mapping holds %q", got)
	}
}

func TestSync(t *testing.T) {
	size := 4*pageSize + 10
	tests := []struct {
		name     string
		from, to int64
	}{
		{name: "whole file", from: 0, to: size},
		{name: "unaligned start", from: pageSize + 7, to: 2*pageSize + 1},
		{name: "one byte", from: 5, to: 6},
		{name: "tail past the end", from: 3 * pageSize, to: size + 1<<20},
		{name: "negative start", from: -100, to: 10},
		{name: "empty range", from: 50, to: 50},
		{name: "reversed range", from: 60, to: 50},
		{name: "entirely past the end", from: size + 1, to: size + 10},
	}
	f := create(t, size)
	fill(f, 0x5A)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.Sync(tt.from, tt.to); err != nil {
				t.Fatalf("Sync(%d, %d): %v", tt.from, tt.to, err)
			}
		})
	}
	raw, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, bytes.Repeat([]byte{0x5A}, int(size))) {
		t.Fatal("file does not hold what was written through the mapping")
	}
}

func TestZero(t *testing.T) {
	size := 40*pageSize + 123
	tests := []struct {
		name           string
		from, to       int64
		wantLo, wantHi int64 // the bytes expected to be cleared
	}{
		{name: "small in-memory range", from: 10, to: 300, wantLo: 10, wantHi: 300},
		{name: "just under the punch threshold", from: 1, to: 16 * pageSize, wantLo: 1, wantHi: 16 * pageSize},
		{name: "at the punch threshold", from: 1, to: 17 * pageSize, wantLo: 1, wantHi: 17 * pageSize},
		{name: "punched hole with unaligned edges", from: pageSize/2 + 1, to: 30*pageSize + 17, wantLo: pageSize/2 + 1, wantHi: 30*pageSize + 17},
		{name: "aligned punched hole", from: 2 * pageSize, to: 22 * pageSize, wantLo: 2 * pageSize, wantHi: 22 * pageSize},
		{name: "tail past the end", from: 20*pageSize + 3, to: size + 1<<20, wantLo: 20*pageSize + 3, wantHi: size},
		{name: "negative start", from: -5, to: 9, wantLo: 0, wantHi: 9},
		{name: "empty range", from: 77, to: 77},
		{name: "reversed range", from: 78, to: 77},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := create(t, size)
			fill(f, 0xEE)
			if err := f.Zero(tt.from, tt.to); err != nil {
				t.Fatalf("Zero(%d, %d): %v", tt.from, tt.to, err)
			}
			want := bytes.Repeat([]byte{0xEE}, int(size))
			clear(want[tt.wantLo:tt.wantHi])
			if !bytes.Equal(f.Bytes(), want) {
				t.Fatalf("mapping after Zero(%d, %d) differs from expected (first diff at %d)", tt.from, tt.to, firstDiff(f.Bytes(), want))
			}
			if err := f.Sync(0, size); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(f.Path())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, want) {
				t.Fatalf("file after Zero(%d, %d) differs from expected (first diff at %d)", tt.from, tt.to, firstDiff(raw, want))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestAdvise(t *testing.T) {
	size := 8*pageSize + 1
	tests := []struct {
		name     string
		from, to int64
		advice   int
		wantErr  bool
	}{
		{name: "willneed whole file", from: 0, to: size, advice: unix.MADV_WILLNEED},
		{name: "sequential unaligned", from: pageSize + 3, to: 3*pageSize - 1, advice: unix.MADV_SEQUENTIAL},
		{name: "random past the end", from: 2 * pageSize, to: size * 2, advice: unix.MADV_RANDOM},
		{name: "negative start", from: -pageSize - 1, to: pageSize, advice: unix.MADV_NORMAL},
		{name: "empty range", from: pageSize, to: pageSize, advice: unix.MADV_WILLNEED},
		{name: "past the end", from: size + pageSize, to: size + 2*pageSize, advice: unix.MADV_WILLNEED},
		{name: "invalid advice", from: 0, to: pageSize, advice: 1 << 20, wantErr: true},
	}
	f := create(t, size)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.Advise(tt.from, tt.to, tt.advice)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Advise(%d, %d, %d) = %v, want error %v", tt.from, tt.to, tt.advice, err, tt.wantErr)
			}
		})
	}
}

func TestLifetime(t *testing.T) {
	tests := []struct {
		name string
		// run drives f (opened with one owner reference) and reports whether the file should
		// still exist on disk at the end.
		run      func(t *testing.T, f *File) (fileRemains bool)
		wantLive bool // the mapping is still there when run returns
	}{
		{
			name: "close unmaps",
			run: func(t *testing.T, f *File) bool {
				f.Close()
				return true
			},
		},
		{
			name: "close is idempotent",
			run: func(t *testing.T, f *File) bool {
				for range 3 {
					if err := f.Close(); err != nil {
						t.Fatalf("Close: %v", err)
					}
				}
				return true
			},
		},
		{
			name: "reader keeps the mapping after close",
			run: func(t *testing.T, f *File) bool {
				mustAcquire(t, f)
				f.Close()
				if f.Bytes() == nil || f.Bytes()[7] != 0x11 {
					t.Fatal("reader lost the mapping when the owner closed")
				}
				return true
			},
			wantLive: true,
		},
		{
			name: "reader slice stays valid after remove until release",
			run: func(t *testing.T, f *File) bool {
				mustAcquire(t, f)
				b := f.Bytes()[:16]
				if err := f.Remove(); err != nil {
					t.Fatalf("Remove: %v", err)
				}
				if _, err := os.Stat(f.Path()); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("file still on disk after Remove: %v", err)
				}
				if !bytes.Equal(b, bytes.Repeat([]byte{0x11}, 16)) {
					t.Fatal("reader's slice changed after Remove")
				}
				b[0] = 0x22 // still mapped: writable without a fault
				if !f.Acquire() {
					t.Fatal("Acquire failed while a reader still holds the mapping")
				}
				f.Release()
				f.Release()
				return false
			},
		},
		{
			name: "acquire after the last release fails",
			run: func(t *testing.T, f *File) bool {
				mustAcquire(t, f)
				mustAcquire(t, f)
				f.Release()
				f.Close()
				f.Release()
				return true
			},
		},
		{
			name: "remove after close still unlinks",
			run: func(t *testing.T, f *File) bool {
				f.Close()
				if err := f.Remove(); err != nil {
					t.Fatalf("Remove: %v", err)
				}
				return false
			},
		},
		{
			name: "remove twice",
			run: func(t *testing.T, f *File) bool {
				for range 2 {
					if err := f.Remove(); err != nil {
						t.Fatalf("Remove: %v", err)
					}
				}
				return false
			},
		},
		{
			name: "release without acquire panics",
			run: func(t *testing.T, f *File) bool {
				f.Close()
				func() {
					defer func() {
						if recover() == nil {
							t.Fatal("Release after the last reference did not panic")
						}
					}()
					f.Release()
				}()
				return true
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := create(t, 2*pageSize)
			fill(f, 0x11)
			remains := tt.run(t, f)
			if live := f.Bytes() != nil; live != tt.wantLive {
				t.Fatalf("mapping live = %v, want %v", live, tt.wantLive)
			}
			if got := f.Acquire(); got != tt.wantLive {
				t.Fatalf("Acquire = %v, want %v", got, tt.wantLive)
			}
			if tt.wantLive {
				f.Release() // the Acquire just above
				f.Release() // the reader run left
			}
			_, err := os.Stat(f.Path())
			if exists := err == nil; exists != remains {
				t.Fatalf("file exists = %v, want %v", exists, remains)
			}
		})
	}
}

func mustAcquire(t *testing.T, f *File) {
	t.Helper()
	if !f.Acquire() {
		t.Fatal("Acquire failed on a live file")
	}
}

// TestConcurrentReaders races readers taking and dropping references against the owner's
// Remove: every successful Acquire must see intact data, and the mapping must be gone once
// everyone is done.
func TestConcurrentReaders(t *testing.T) {
	const (
		readers = 8
		rounds  = 500
	)
	f := create(t, pageSize)
	fill(f, 0x42)
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan string, readers)
	for range readers {
		wg.Go(func() {
			<-start
			for range rounds {
				if !f.Acquire() {
					return // removed: every later Acquire fails too
				}
				b := f.Bytes()
				if b[0] != 0x42 || b[len(b)-1] != 0x42 {
					errs <- "reader saw changed data"
					f.Release()
					return
				}
				f.Release()
			}
		})
	}
	close(start)
	if err := f.Remove(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if f.Acquire() {
		t.Fatal("Acquire succeeded after the owner removed the file and every reader released it")
	}
	if f.Bytes() != nil {
		t.Fatal("mapping still present after the last release")
	}
}

// TestZeroKeepsPreallocation zeroes the tail of a preallocated file on a tmpfs (/dev/shm), which
// has no FALLOC_FL_ZERO_RANGE: the punched range must be reserved again, or a later store into
// it on a full filesystem is a SIGBUS (reliability.TestDiskFull found it, at recovery).
func TestZeroKeepsPreallocation(t *testing.T) {
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Skip("no tmpfs at /dev/shm")
	}
	dir, err := os.MkdirTemp("/dev/shm", "tern-mmap-")
	if err != nil {
		t.Skip(err)
	}
	defer os.RemoveAll(dir)
	size := 64 * pageSize
	for _, prealloc := range []bool{true, false} {
		f, err := Create(filepath.Join(dir, fmt.Sprint(prealloc)), size, prealloc)
		fill(f, 0xEE) // a sparse file gets its blocks too, and must keep them allocated
		if err != nil {
			t.Fatal(err)
		}
		blocks := func() int64 {
			var s unix.Stat_t
			if err := unix.Stat(f.Path(), &s); err != nil {
				t.Fatal(err)
			}
			return s.Blocks
		}
		before := blocks()
		if err := f.Zero(3*pageSize+5, size); err != nil {
			t.Fatalf("prealloc %v: Zero: %v", prealloc, err)
		}
		if after := blocks(); after != before {
			t.Errorf("prealloc %v: %d blocks before Zero, %d after", prealloc, before, after)
		}
		f.Close()
	}
}

// TestDataEnd: DataEnd is never below the last byte written, through the mapping or with
// WriteAt, flushed or not; on a filesystem that reports holes it stops near that byte.
func TestDataEnd(t *testing.T) {
	const size = 4 << 20
	f, err := Create(filepath.Join(t.TempDir(), "sparse"), size, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if end := f.DataEnd(); end != 0 && end != size {
		t.Fatalf("DataEnd of an empty sparse file = %d, want 0 (or %d without hole reporting)", end, size)
	}
	f.Bytes()[300_000] = 1 // dirty in the page cache only
	if end := f.DataEnd(); end <= 300_000 {
		t.Fatalf("DataEnd after a write through the mapping at 300,000 = %d", end)
	}
	if err := f.WriteAt([]byte{2}, 1_000_000); err != nil {
		t.Fatal(err)
	}
	end := f.DataEnd()
	if end <= 1_000_000 {
		t.Fatalf("DataEnd after WriteAt at 1,000,000 = %d", end)
	}
	if err := f.Sync(0, size); err != nil {
		t.Fatal(err)
	}
	if e := f.DataEnd(); e <= 1_000_000 {
		t.Fatalf("DataEnd after the flush = %d", e)
	}
	if end == size {
		t.Skip("the filesystem does not report holes: DataEnd is the size, which is safe")
	}
	if end > 1_000_000+1<<20 {
		t.Errorf("DataEnd = %d, far past the last byte written (1,000,000)", end)
	}
}
