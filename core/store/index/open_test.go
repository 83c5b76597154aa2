package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestOpenIgnoresOtherNames(t *testing.T) {
	dir := t.TempDir()
	x := open(t, dir, small)
	put(t, x, "T", "k", 0, t0)
	x.Close()
	for _, name := range []string{"checkpoint", "0000000000000000000", "000000000000000000001", "9999999999999999999x", "99999999999999999999"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, Name(5)), 0o755); err != nil {
		t.Fatal(err)
	}
	x = open(t, dir, small)
	if x.Files() != 1 {
		t.Errorf("Files = %d, want 1", x.Files())
	}
}

// writeFileHeader builds a one-file index in dir and overwrites the start of its header with b.
func writeFileHeader(t testing.TB, dir string, b []byte) string {
	t.Helper()
	x, err := Open(dir, small)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(10) {
		if err := x.Put([]byte("T"), fmt.Appendf(nil, "k%d", i), i*10, t0+i); err != nil {
			t.Fatal(err)
		}
	}
	x.Close()
	path := filepath.Join(dir, Name(0))
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return path
}

func encodeHeader(h header) []byte {
	b := make([]byte, HeaderSize)
	h.encode(b)
	return b
}

func TestOpenCorruptHeader(t *testing.T) {
	good := header{beginTimestamp: t0, endTimestamp: t0 + 9, beginPhyOffset: 0, endPhyOffset: 90, hashSlotCount: 10, indexCount: 11}
	tests := []struct {
		name string
		mod  func(h *header)
		want string // in the error; "" = Open succeeds
	}{
		{"valid", func(h *header) {}, ""},
		{"indexCount zero", func(h *header) { h.indexCount = 0 }, "indexCount 0"},
		{"indexCount negative", func(h *header) { h.indexCount = -5 }, "indexCount -5"},
		{"indexCount too large", func(h *header) { h.indexCount = 257 }, "indexCount 257"},
		{"indexCount full", func(h *header) { h.indexCount = 256 }, ""},
		{"hashSlotCount negative", func(h *header) { h.hashSlotCount = -1 }, "hashSlotCount -1"},
		{"hashSlotCount above slots", func(h *header) { h.hashSlotCount = 65; h.indexCount = 200 }, "hashSlotCount 65"},
		{"hashSlotCount above entries", func(h *header) { h.hashSlotCount = 11 }, "hashSlotCount 11"},
		{"beginPhyOffset not the name", func(h *header) { h.beginPhyOffset = 7 }, "beginPhyOffset 7"},
		{"endPhyOffset below -1", func(h *header) { h.endPhyOffset = -2 }, "endPhyOffset -2"},
		{"endTimestamp before begin", func(h *header) { h.endTimestamp = t0 - 1 }, "endTimestamp"},
		// Lower counts than the entries on disk are consistent: chains are cut at indexCount.
		{"indexCount lower than written", func(h *header) { h.indexCount = 3; h.hashSlotCount = 2 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			h := good
			tt.mod(&h)
			path := writeFileHeader(t, dir, encodeHeader(h))
			x, err := Open(dir, small)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer x.Close()
				checkUsable(t, x)
				return
			}
			if err == nil {
				x.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: %v; want ErrCorrupt naming %s and %q", err, path, tt.want)
			}
		})
	}
}

// checkUsable queries, puts, flushes and queries again.
func checkUsable(t testing.TB, x *Index) {
	t.Helper()
	if _, err := x.Query("T", "k1", 10, 0, t0+100); err != nil {
		t.Fatalf("Query: %v", err)
	}
	off := max(x.EndPhyOffset()+1, 1<<20)
	if err := x.Put([]byte("T"), []byte("fresh"), off, t0+50); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := x.Query("T", "fresh", 10, t0+50, t0+50)
	if err != nil || !slices.Contains(got, off) {
		t.Fatalf("Query after Put = %v, %v; want %d", got, err, off)
	}
	if err := x.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func TestOpenZeroHeader(t *testing.T) {
	t.Run("trailing file is deleted", func(t *testing.T) {
		dir := t.TempDir()
		x := open(t, dir, small)
		for i := range int64(300) {
			put(t, x, "T", "k", i*10, t0)
		}
		x.Close()
		// The second file was created and never written back.
		if err := os.WriteFile(filepath.Join(dir, Name(2550)), make([]byte, small.FileSize()), 0o644); err != nil {
			t.Fatal(err)
		}
		x = open(t, dir, small)
		if x.Files() != 1 || x.EndPhyOffset() != 2540 {
			t.Fatalf("Files = %d, EndPhyOffset = %d; want 1, 2540", x.Files(), x.EndPhyOffset())
		}
		if _, err := os.Stat(filepath.Join(dir, Name(2550))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("empty file still there: %v", err)
		}
		// The records of the lost file are indexed again into a new file of the same name.
		for i := int64(255); i < 300; i++ {
			put(t, x, "T", "k", i*10, t0)
		}
		if got := query(t, x, "T", "k", 1000, 0, t0); len(got) != 300 {
			t.Errorf("%d offsets, want 300", len(got))
		}
	})
	t.Run("file in the middle is corrupt", func(t *testing.T) {
		dir := t.TempDir()
		x := open(t, dir, small)
		for i := range int64(600) {
			put(t, x, "T", "k", i*10, t0)
		}
		x.Close()
		path := filepath.Join(dir, Name(2550))
		if err := os.WriteFile(path, make([]byte, small.FileSize()), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, small)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open: %v; want ErrCorrupt naming %s", err, path)
		}
	})
}

func TestOpenWrongSize(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"more slots", Options{MaxHashSlots: 128, MaxIndexEntries: 256}},
		{"fewer entries", Options{MaxHashSlots: 64, MaxIndexEntries: 255}},
		{"defaults", Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			x := open(t, dir, small)
			put(t, x, "T", "k", 0, t0)
			x.Close()
			_, err := Open(dir, tt.opts)
			path := filepath.Join(dir, Name(0))
			if !errors.Is(err, ErrOptionsMismatch) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open: %v; want ErrOptionsMismatch naming %s", err, path)
			}
		})
	}
	t.Run("truncated file", func(t *testing.T) {
		dir := t.TempDir()
		x := open(t, dir, small)
		put(t, x, "T", "k", 0, t0)
		x.Close()
		if err := os.Truncate(filepath.Join(dir, Name(0)), 10); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, small); !errors.Is(err, ErrOptionsMismatch) {
			t.Fatalf("Open: %v; want ErrOptionsMismatch", err)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"zero value is the defaults", Options{}, true},
		{"defaults", DefaultOptions(), true},
		{"small", small, true},
		{"smallest", Options{MaxHashSlots: 1, MaxIndexEntries: 2}, true},
		{"negative slots", Options{MaxHashSlots: -1}, false},
		{"negative entries", Options{MaxIndexEntries: -1}, false},
		{"one entry", Options{MaxIndexEntries: 1}, false},
		{"entries at 2^31", Options{MaxIndexEntries: 1 << 31}, false},
		{"slots at 2^31", Options{MaxHashSlots: 1 << 31}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				if _, err := Open(t.TempDir(), tt.opts); err == nil {
					t.Fatal("Open accepted invalid options")
				}
			}
		})
	}
	if got, want := DefaultOptions().FileSize(), int64(40+4*5_000_000+20*20_000_000); got != want {
		t.Errorf("default FileSize = %d, want %d", got, want)
	}
}
