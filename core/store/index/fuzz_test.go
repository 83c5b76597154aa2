package index

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzOpenHeader writes arbitrary bytes over the start of an index file (the header, and the
// slots when longer) and opens it. Open must either fail with ErrCorrupt or give an index that
// answers queries, takes new entries, closes and reopens.
func FuzzOpenHeader(f *testing.F) {
	good := header{beginTimestamp: t0, endTimestamp: t0 + 9, beginPhyOffset: 0, endPhyOffset: 90, hashSlotCount: 10, indexCount: 11}
	f.Add(encodeHeader(good))
	f.Add(make([]byte, HeaderSize))
	f.Add([]byte{1, 2, 3})

	// One file with 10 entries, built once; every run starts from a copy.
	tmpl := f.TempDir()
	writeFileHeader(f, tmpl, nil)
	image, err := os.ReadFile(filepath.Join(tmpl, Name(0)))
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, hdr []byte) {
		hdr = hdr[:min(len(hdr), HeaderSize+SlotSize*small.MaxHashSlots)]
		dir := t.TempDir()
		data := slices.Clone(image)
		copy(data, hdr)
		if err := os.WriteFile(filepath.Join(dir, Name(0)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		x, err := Open(dir, small)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			return
		}
		for _, k := range []string{"k0", "k5", "k9", "none"} {
			if _, err := x.Query("T", k, 100, -1<<62, 1<<62); err != nil {
				t.Fatalf("Query: %v", err)
			}
		}
		end := x.EndPhyOffset()
		if end > 1<<61 {
			// Usable, but everything below end counts as indexed already.
			x.Close()
			return
		}
		off := max(end+1, 1<<20)
		for i := range int64(3) {
			if err := x.Put([]byte("T"), []byte("fresh"), off+i, t0+50); err != nil {
				t.Fatalf("Put: %v", err)
			}
		}
		got, err := x.Query("T", "fresh", 10, t0+50, t0+50)
		if err != nil || !slices.Contains(got, off+2) || !slices.Contains(got, off) {
			t.Fatalf("Query after Put = %v, %v; want %d..%d", got, err, off, off+2)
		}
		if err := x.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		y, err := Open(dir, small)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer y.Close()
		if got := y.EndPhyOffset(); got != off+2 {
			t.Fatalf("EndPhyOffset after reopen = %d, want %d", got, off+2)
		}
	})
}
