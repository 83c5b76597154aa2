package index

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// TestModel runs random Puts, reopens, crashes and deletions against a plain model and checks
// that no indexed record is ever missing from a query and results hold no duplicates.
func TestModel(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel() // mostly waiting for msync when files are created
			rng := rand.New(rand.NewPCG(seed, 1))
			dir := t.TempDir()
			opts := Options{MaxHashSlots: 1 + rng.IntN(16), MaxIndexEntries: 16 + rng.IntN(128)}
			x := open(t, dir, opts)
			type rec struct {
				off, ts int64
				keys    []string
			}
			var recs []rec
			var minOff int64 // records below may be deleted
			off, ts := int64(0), int64(t0)
			for step := range 2000 {
				switch r := rng.IntN(100); {
				case r < 85:
					n := 1 + rng.IntN(3)
					rc := rec{off: off, ts: ts}
					for range n {
						rc.keys = append(rc.keys, fmt.Sprintf("k%d", rng.IntN(20)))
					}
					for _, k := range rc.keys {
						put(t, x, "T", k, off, ts)
					}
					recs = append(recs, rc)
					off += 1 + rng.Int64N(500)
					ts += rng.Int64N(1500) - 100 // sometimes backwards
				case r < 90:
					x.Close()
					x = open(t, dir, opts)
				case r < 93:
					if rng.IntN(2) == 0 {
						// Crash in the middle of a record's keys.
						rc := rec{off: off, ts: ts, keys: []string{"k1", "k2", "k3"}}
						for _, k := range rc.keys[:rng.IntN(3)] {
							put(t, x, "T", k, rc.off, rc.ts)
						}
						recs = append(recs, rc)
						off += 1 + rng.Int64N(500)
					}
					lost := crash(x)
					x = open(t, dir, opts)
					// The caller replays its last records, and at least every record whose
					// entries were still gathered (the store replays from its checkpoint).
					from := max(0, len(recs)-1-rng.IntN(5))
					for lost >= 0 && from > 0 && recs[from-1].off >= lost {
						from--
					}
					for _, rc := range recs[from:] {
						for _, k := range rc.keys {
							put(t, x, "T", k, rc.off, rc.ts)
						}
					}
				case r < 95 && len(recs) > 0:
					minOff = max(minOff, recs[rng.IntN(len(recs))].off)
					if _, err := x.DeleteBefore(minOff); err != nil {
						t.Fatal(err)
					}
				default:
					key := fmt.Sprintf("k%d", rng.IntN(20))
					begin := t0 + rng.Int64N(ts-t0+2000) - 1000
					end := begin + rng.Int64N(20_000)
					got := query(t, x, "T", key, 1<<20, begin, end)
					seen := map[int64]bool{}
					for _, o := range got {
						if seen[o] {
							t.Fatalf("step %d: duplicate %d in %v", step, o, got)
						}
						seen[o] = true
					}
					if !slices.IsSortedFunc(got, func(a, b int64) int { return int(b - a) }) {
						t.Fatalf("step %d: not newest first: %v", step, got)
					}
					for _, rc := range recs {
						if rc.off < minOff || rc.ts < begin || rc.ts > end || !slices.Contains(rc.keys, key) {
							continue
						}
						if !seen[rc.off] {
							t.Fatalf("step %d: %s [%d,%d]: record %d (ts %d) missing from %v", step, key, begin, end, rc.off, rc.ts, got)
						}
					}
				}
			}
		})
	}
}

func TestConcurrentQuery(t *testing.T) {
	x := open(t, t.TempDir(), small)
	const records = 5000
	var wg sync.WaitGroup
	done := make(chan struct{})
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				got, err := x.Query("T", fmt.Sprintf("k%d", (i+r)%5), 50, 0, t0+records)
				if err != nil {
					t.Error(err)
					return
				}
				end := x.EndPhyOffset()
				for _, o := range got {
					if o > end+100 || o%10 != 0 {
						t.Errorf("bogus offset %d (end %d)", o, end)
						return
					}
				}
				if i%50 == 0 {
					x.Flush()
					x.Files()
				}
			}
		}()
	}
	for i := range int64(records) {
		if err := x.Put([]byte("T"), fmt.Appendf(nil, "k%d", i%5), i*10, t0+i); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			if _, err := x.DeleteBefore(i*10 - 3000); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	if got := query(t, x, "T", "k4", 3, 0, t0+records); !slices.Equal(got, []int64{49990, 49940, 49890}) {
		t.Errorf("got %v", got)
	}
}
