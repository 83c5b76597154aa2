package index

import (
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"slices"
	"testing"
)

// small makes files roll after 255 entries and chains collide in 64 slots.
var small = Options{MaxHashSlots: 64, MaxIndexEntries: 256}

func open(t testing.TB, dir string, opts Options) *Index {
	t.Helper()
	x, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func put(t testing.TB, x *Index, topic, key string, off, ts int64) {
	t.Helper()
	if err := x.Put([]byte(topic), []byte(key), off, ts); err != nil {
		t.Fatalf("Put(%s, %s, %d): %v", topic, key, off, err)
	}
}

func query(t testing.TB, x *Index, topic, key string, max int, begin, end int64) []int64 {
	t.Helper()
	got, err := x.Query(topic, key, max, begin, end)
	if err != nil {
		t.Fatalf("Query(%s, %s): %v", topic, key, err)
	}
	return got
}

// crash drops the index's mappings without completing the record in progress or syncing, as a
// process crash would (the page cache keeps what was written), and the entries Put gathered; it
// returns the offset of the oldest of those (-1: none), where a caller's replay must start.
func crash(x *Index) (lost int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	lost = -1
	if len(x.gathered) > 0 {
		lost = x.gathered[0].phyOffset
	}
	x.gathered = nil // lost with the process
	for _, f := range x.files {
		f.m.Close()
	}
	x.files = nil
	x.closed = true
	return lost
}

// writeNow writes the entries Put gathered, as the next Put of a full batch would, and
// returns the first error.
func writeNow(x *Index) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.write()
}

const t0 = 1_700_000_000_000 // a store time in ms

func TestPutQuery(t *testing.T) {
	x := open(t, t.TempDir(), small)
	put(t, x, "orders", "k1", 100, t0)
	put(t, x, "orders", "k2", 200, t0+10)
	put(t, x, "orders", "k1", 300, t0+20)
	put(t, x, "payments", "k1", 400, t0+30)

	tests := []struct {
		name       string
		topic, key string
		want       []int64
	}{
		{"two records newest first", "orders", "k1", []int64{300, 100}},
		{"one record", "orders", "k2", []int64{200}},
		{"scoped by topic", "payments", "k1", []int64{400}},
		{"unknown key", "orders", "k3", nil},
		{"unknown topic", "nope", "k1", nil},
		{"topic and key are not concatenated", "orders#k", "1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := query(t, x, tt.topic, tt.key, 32, 0, t0+1_000_000)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if got := x.EndPhyOffset(); got != 400 {
		t.Errorf("EndPhyOffset = %d, want 400", got)
	}
	if got := x.EndTimestamp(); got != t0+30 {
		t.Errorf("EndTimestamp = %d, want %d", got, t0+30)
	}
}

func TestEmpty(t *testing.T) {
	x := open(t, t.TempDir(), small)
	if got := x.EndPhyOffset(); got != -1 {
		t.Errorf("EndPhyOffset = %d, want -1", got)
	}
	if got := query(t, x, "t", "k", 10, 0, t0); got != nil {
		t.Errorf("Query = %v, want nothing", got)
	}
	if x.Files() != 0 {
		t.Errorf("Files = %d, want 0", x.Files())
	}
	if err := x.Flush(); err != nil {
		t.Errorf("Flush: %v", err)
	}
}

func TestCollisions(t *testing.T) {
	// 4 slots and 200 keys: every chain holds about 50 keys of others.
	x := open(t, t.TempDir(), Options{MaxHashSlots: 4, MaxIndexEntries: 4096})
	want := map[string][]int64{}
	off := int64(0)
	for round := range 5 {
		for k := range 200 {
			key := fmt.Sprintf("key-%d", k)
			put(t, x, "T", key, off, t0+int64(round))
			want[key] = append([]int64{off}, want[key]...)
			off += 10
		}
	}
	hashes := map[uint32]string{}
	for k := range want {
		if other, ok := hashes[hashKey("T", k)]; ok {
			t.Fatalf("test keys %s and %s share a hash", k, other)
		}
		hashes[hashKey("T", k)] = k
	}
	for key, w := range want {
		if got := query(t, x, "T", key, 100, 0, t0+10_000); !slices.Equal(got, w) {
			t.Errorf("%s: got %v, want %v", key, got, w)
		}
	}
}

func TestTimeRange(t *testing.T) {
	x := open(t, t.TempDir(), small)
	// Offsets are the store time's distance from t0, in ms.
	for _, d := range []int64{0, 500, 999, 1000, 1500, 2999, 3000, 10_000, 60_000} {
		put(t, x, "T", "k", 1_000_000+d, t0+d)
	}
	off := func(ds ...int64) []int64 {
		var out []int64
		for _, d := range slices.Backward(ds) {
			out = append(out, 1_000_000+d)
		}
		return out
	}
	tests := []struct {
		name       string
		begin, end int64
		want       []int64 // exactly what the index returns: second granularity
	}{
		{"everything", 0, t0 + 100_000, off(0, 500, 999, 1000, 1500, 2999, 3000, 10_000, 60_000)},
		{"exact first second", t0, t0 + 999, off(0, 500, 999)},
		{"inside one second widens to the second", t0 + 600, t0 + 700, off(0, 500, 999)},
		{"second one", t0 + 1000, t0 + 1999, off(1000, 1500)},
		{"crossing seconds", t0 + 1999, t0 + 3000, off(1000, 1500, 2999, 3000)},
		{"gap", t0 + 4000, t0 + 9000, nil},
		{"single ms", t0 + 10_000, t0 + 10_000, off(10_000)},
		{"the last ms", t0 + 60_000, t0 + 100_000, off(60_000)},
		{"after the file's end time", t0 + 60_001, t0 + 100_000, nil},
		{"before the file's begin time", 0, t0 - 1, nil},
		{"ending at the file's begin time", 0, t0, off(0, 500, 999)},
		{"empty range", t0 + 5000, t0 + 4000, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := query(t, x, "T", "k", 100, tt.begin, tt.end); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTimeGoesBackwards(t *testing.T) {
	x := open(t, t.TempDir(), small)
	put(t, x, "T", "k", 10, t0)
	put(t, x, "T", "k", 20, t0-5000) // clock stepped back: a new file
	put(t, x, "T", "other", 20, t0-5000)
	put(t, x, "T", "k", 30, t0+5000)
	put(t, x, "T", "k", 40, t0-3000) // not before the newest file's begin time
	if x.Files() != 2 {
		t.Fatalf("Files = %d, want 2", x.Files())
	}
	tests := []struct {
		name       string
		begin, end int64
		want       []int64
	}{
		{"the stepped-back record alone", t0 - 5000, t0 - 5000, []int64{20}},
		{"the later step back", t0 - 3000, t0 - 3000, []int64{40}},
		{"the first", t0, t0, []int64{10}},
		{"all", t0 - 10_000, t0 + 10_000, []int64{40, 30, 20, 10}},
		{"the last", t0 + 5000, t0 + 5000, []int64{30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := query(t, x, "T", "k", 100, tt.begin, tt.end); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMaxLimit(t *testing.T) {
	x := open(t, t.TempDir(), small)
	for i := range int64(600) { // rolls into 3 files
		put(t, x, "T", "k", i*100, t0+i)
	}
	tests := []struct {
		name string
		max  int
		want int
	}{
		{"zero", 0, 0},
		{"negative", -1, 0},
		{"one", 1, 1},
		{"within one file", 10, 10},
		{"across files", 400, 400},
		{"more than there are", 1000, 600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := query(t, x, "T", "k", tt.max, 0, t0+10_000)
			if len(got) != tt.want {
				t.Fatalf("got %d offsets, want %d", len(got), tt.want)
			}
			for i, o := range got {
				if w := int64(599-i) * 100; o != w {
					t.Fatalf("got[%d] = %d, want %d (newest first)", i, o, w)
				}
			}
		})
	}
}

func TestRolling(t *testing.T) {
	dir := t.TempDir()
	x := open(t, dir, small)
	const records = 1000
	for i := range int64(records) {
		put(t, x, "T", fmt.Sprintf("k%d", i%7), i*64, t0+i*10)
	}
	// 255 entries per file.
	if got, want := x.Files(), (records+254)/255; got != want {
		t.Fatalf("Files = %d, want %d", got, want)
	}
	for k := range int64(7) {
		var want []int64
		for i := int64(records - 1); i >= 0; i-- {
			if i%7 == k {
				want = append(want, i*64)
			}
		}
		if got := query(t, x, "T", fmt.Sprintf("k%d", k), records, 0, t0+records*10); !slices.Equal(got, want) {
			t.Errorf("k%d: got %v, want %v", k, got, want)
		}
	}
	// Files are named by their first offset.
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	for i, n := range names {
		if want := Name(int64(i) * 255 * 64); filepath.Base(n) != want {
			t.Errorf("file %d is %s, want %s", i, filepath.Base(n), want)
		}
	}
	// A time range inside the second file (which starts at i = 255) matches its whole second.
	got := query(t, x, "T", "k0", records, t0+3550, t0+3600)
	var want []int64
	for i := int64(454); i >= 355; i-- {
		if i%7 == 0 {
			want = append(want, i*64)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("time range: got %v, want %v", got, want)
	}
}

func TestMultipleKeysOneRecord(t *testing.T) {
	x := open(t, t.TempDir(), Options{MaxHashSlots: 8, MaxIndexEntries: 6})
	// 5 entries per file: the second record's keys straddle two files.
	keys := [][]string{{"a", "b", "c"}, {"d", "e", "f", "g"}, {"a", "uniq"}}
	for r, ks := range keys {
		for _, k := range ks {
			put(t, x, "T", k, int64(r)*1000, t0+int64(r))
		}
	}
	if x.Files() != 2 {
		t.Fatalf("Files = %d, want 2", x.Files())
	}
	tests := []struct {
		key  string
		want []int64
	}{
		{"a", []int64{2000, 0}},
		{"b", []int64{0}},
		{"c", []int64{0}},
		{"d", []int64{1000}},
		{"e", []int64{1000}},
		{"f", []int64{1000}},
		{"g", []int64{1000}},
		{"uniq", []int64{2000}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := query(t, x, "T", tt.key, 10, 0, t0+10); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRecordTooLarge(t *testing.T) {
	x := open(t, t.TempDir(), Options{MaxHashSlots: 8, MaxIndexEntries: 3})
	put(t, x, "T", "a", 0, t0)
	put(t, x, "T", "b", 0, t0)
	put(t, x, "T", "c", 0, t0) // gathered: the error comes when it is written
	if err := writeNow(x); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("third key of one record in a 2-entry file: %v, want ErrRecordTooLarge", err)
	}
	put(t, x, "T", "d", 10, t0) // the next record goes on
	if got := query(t, x, "T", "d", 10, 0, t0); !slices.Equal(got, []int64{10}) {
		t.Errorf("got %v", got)
	}
}

func TestPutRejectsNegativeOffset(t *testing.T) {
	x := open(t, t.TempDir(), small)
	if err := x.Put([]byte("T"), []byte("k"), -1, t0); err == nil {
		t.Fatal("Put at -1 succeeded")
	}
}

func TestHashKey(t *testing.T) {
	tests := []struct {
		name, topic, key string
	}{
		{"empty", "", ""},
		{"short", "T", "k"},
		{"typical", "TopicTest", "ORDER-123"},
		{"separator in topic", "a#", "b"},
		{"utf-8", "主题", "键"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := fnv.New32a()
			ref.Write([]byte(tt.topic + "#" + tt.key))
			if got, want := hashKey(tt.topic, tt.key), ref.Sum32(); got != want {
				t.Errorf("hashKey(%q, %q) = %#x, want %#x", tt.topic, tt.key, got, want)
			}
			if hashKey([]byte(tt.topic), []byte(tt.key)) != hashKey(tt.topic, tt.key) {
				t.Errorf("string and []byte hashes differ")
			}
		})
	}
}

func TestPutDoesNotAllocate(t *testing.T) {
	x := open(t, t.TempDir(), Options{MaxHashSlots: 1024, MaxIndexEntries: 1 << 16})
	topic, key := []byte("TopicTest"), []byte("ORDER-000123")
	off := int64(0)
	put(t, x, "T", "first", off, t0) // creates the file
	allocs := testing.AllocsPerRun(1000, func() {
		off += 100
		if err := x.Put(topic, key, off, t0+off); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Put allocates %.1f times", allocs)
	}
}

// TestGatheredEntries: Put gathers entries and writes putBatch of them at once, and nothing
// else can tell: a Query, EndPhyOffset or Flush right after a Put sees its entry.
func TestGatheredEntries(t *testing.T) {
	x := open(t, t.TempDir(), small)
	gathered := func() int {
		x.mu.RLock()
		defer x.mu.RUnlock()
		return len(x.gathered)
	}
	put(t, x, "T", "a", 100, t0)
	put(t, x, "T", "b", 200, t0)
	if n := gathered(); n != 2 {
		t.Fatalf("%d entries gathered after 2 Puts, want 2", n)
	}
	if got := query(t, x, "T", "b", 10, 0, t0); !slices.Equal(got, []int64{200}) {
		t.Errorf("Query right after Put: got %v, want [200]", got)
	}
	put(t, x, "T", "c", 300, t0)
	if got := x.EndPhyOffset(); got != 300 {
		t.Errorf("EndPhyOffset right after Put = %d, want 300", got)
	}
	for i := range int64(putBatch - 1) {
		put(t, x, "T", "d", 400+i, t0)
	}
	if n := gathered(); n != putBatch-1 {
		t.Errorf("%d entries gathered, want %d", n, putBatch-1)
	}
	put(t, x, "T", "d", 400+putBatch-1, t0)
	if n := gathered(); n != 0 {
		t.Errorf("%d entries gathered after the batch's last Put, want 0", n)
	}
	put(t, x, "T", "e", 500, t0)
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := gathered(); n != 0 {
		t.Errorf("%d entries gathered after Flush, want 0", n)
	}
	if got := query(t, x, "T", "d", 100, 0, t0); len(got) != putBatch {
		t.Errorf("d: %d offsets, want %d", len(got), putBatch)
	}
}
