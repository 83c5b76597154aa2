package timer

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/ternmq/tern/core/internal/fuzzcorpus"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/segment"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/seed-*. Regenerate them after changing the
// seeds below with:
//
//	go test ./core/broker/timer/ -run '^TestFuzzCorpus$' -update-corpus
//
// Other files in those directories are inputs the fuzzer found; keep them. Anchor the name
// when fuzzing:
//
//	go test ./core/broker/timer/ -run '^$' -fuzz '^FuzzWheel$' -fuzztime 20s

// The fuzzed wheel is small so that short inputs span several segments and slots.
const (
	fuzzSegEntries = 4
	fuzzSegSize    = fuzzSegEntries * entrySize
	fuzzSlots      = 8
)

// fuzzEntry encodes one timer-log entry as add writes it.
func fuzzEntry(prev, at, phy int64, size int32) []byte {
	b := make([]byte, entrySize)
	binary.BigEndian.PutUint64(b[0:], uint64(prev))
	binary.BigEndian.PutUint64(b[8:], uint64(at))
	binary.BigEndian.PutUint64(b[16:], uint64(phy))
	binary.BigEndian.PutUint32(b[24:], uint32(size))
	binary.BigEndian.PutUint32(b[28:], magic)
	return b
}

func fuzzSlot(sec, last, count int64) []byte {
	b := make([]byte, slotSize)
	binary.BigEndian.PutUint64(b[0:], uint64(sec))
	binary.BigEndian.PutUint64(b[8:], uint64(last))
	binary.BigEndian.PutUint64(b[16:], uint64(count))
	return b
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func fuzzSeeds() map[string]map[string][]any {
	// A log as add writes it: two entries in second 5000, one in 7000, one in 2000 (fired).
	chain := cat(fuzzEntry(-1, 5100, 100, 10), fuzzEntry(0, 5900, 200, 20), fuzzEntry(-1, 7000, 300, 30),
		fuzzEntry(-1, 2000, 400, 40), fuzzEntry(32, 5500, 500, 50))
	slots := make([]byte, fuzzSlots*slotSize)
	copy(slots[5*slotSize:], fuzzSlot(5000, 128, 3))
	copy(slots[7*slotSize:], fuzzSlot(7000, 64, 1))
	copy(slots[2*slotSize:], fuzzSlot(2000, 96, 1))
	badSlots := cat(fuzzSlot(0, 17, 1<<40), fuzzSlot(1000, -5, -1), fuzzSlot(2000, 1<<62, 3), fuzzSlot(-3000, 0, 1))
	return map[string]map[string][]any{
		"FuzzWheel": {
			"clean":           {chain, slots, int64(3000), int64(len(chain)), false, false},
			"rebuild":         {chain, slots, int64(3000), int64(len(chain)), true, false},
			"truncated":       {chain, slots, int64(0), int64(40), true, false},
			"empty":           {[]byte{}, []byte{}, int64(0), int64(0), true, false},
			"bad-magic":       {cat(chain[:60], []byte("XXXX"), chain[64:]), slots, int64(0), int64(len(chain)), true, false},
			"bad-slots":       {chain, badSlots, int64(0), int64(len(chain)), false, true},
			"unaligned-link":  {cat(fuzzEntry(-1, 1000, 1, 1), fuzzEntry(-1, 1000, 1, 1), fuzzEntry(-1, 1000, 1, 1), fuzzEntry(-1, 1000, 1, 1), fuzzEntry(112, 1000, 1, 1)), cat(make([]byte, slotSize), fuzzSlot(1000, 128, 5)), int64(0), int64(160), false, true},
			"negative-at":     {cat(fuzzEntry(-1, -1500, 1, 1)), []byte{}, int64(-2000), int64(32), true, true},
			"negative-from":   {chain, slots, int64(-9000), int64(len(chain)), false, true},
			"huge-end":        {chain, slots, int64(math.MaxInt64), int64(math.MaxInt64), true, false},
			"arbitrary-bytes": {[]byte("the quick brown fox jumps over the lazy dog, twice: the quick brown fox"), []byte("slots?"), int64(1), int64(-1), true, true},
		},
		"FuzzCheckpoint": {
			"written":   {[]byte(`{"inboxOffset":12,"logEnd":4096,"firedUpTo":1700000000000,"segmentMaxAt":{"0":1700000001000,"33554432":1700000002000},"clean":true}`)},
			"empty":     {[]byte(`{}`)},
			"null-map":  {[]byte(`{"segmentMaxAt":null}`)},
			"bad-keys":  {[]byte(`{"segmentMaxAt":{"x":1,"-1":2,"01":3,"9223372036854775808":4}}`)},
			"wrong":     {[]byte(`{"logEnd":"12"}`)},
			"truncated": {[]byte(`{"inboxOffset":12,"logE`)},
			"cancels":   {[]byte(`{"cancelled":[1,2,3,-4,9223372036854775807]}`)},
		},
		"FuzzScan": {
			"deliver-ms": {"TIMER_DELIVER_MS\x011234567\x02", int64(1_000_000)},
			"delay-ms":   {"TIMER_DELAY_MS\x01250\x02TAGS\x01x\x02", int64(1_000_000)},
			"delay-sec":  {"TIMER_DELAY_SEC\x013\x02", int64(1_000_000)},
			"start":      {"__STARTDELIVERTIME\x012000000\x02", int64(0)},
			"precedence": {"__STARTDELIVERTIME\x015\x02TIMER_DELAY_SEC\x011\x02TIMER_DELIVER_MS\x017\x02", int64(5)},
			"level":      {"DELAY\x013\x02TIMER_DEL_UNIQKEY\x01T+ID\x02", int64(5)},
			"repeated":   {"TIMER_DELAY_MS\x01x\x02TIMER_DELAY_MS\x0110\x02", int64(5)},
			"overflow":   {"TIMER_DELAY_MS\x019223372036854775807\x02", int64(1_700_000_000_000)},
			"no-sep":     {"TIMER_DELAY_MS\x01", int64(0)},
			"garbage":    {"\x01\x02\x01\x01\x02\x02", int64(-1)},
		},
	}
}

func TestFuzzCorpus(t *testing.T) {
	for target, seeds := range fuzzSeeds() {
		files := make(map[string][]byte, len(seeds))
		for name, vals := range seeds {
			files[name] = fuzzcorpus.Marshal(vals...)
		}
		fuzzcorpus.Check(t, target, files)
	}
}

// writeWheelFiles lays logBytes out as fuzzSegSize segment files from offset 0 (the last one
// zero-padded) and slotBytes as the slot file (cut or zero-padded to fuzzSlots slots).
func writeWheelFiles(t *testing.T, root string, logBytes, slotBytes []byte) {
	t.Helper()
	dir := filepath.Join(root, "timerlog")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(logBytes); off += fuzzSegSize {
		seg := make([]byte, fuzzSegSize)
		copy(seg, logBytes[off:])
		if err := os.WriteFile(filepath.Join(dir, segment.Name(int64(off))), seg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	slots := make([]byte, fuzzSlots*slotSize)
	copy(slots, slotBytes)
	if err := os.WriteFile(filepath.Join(root, "timerwheel"), slots, 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzWheel opens a wheel over arbitrary log and slot bytes and recovers it as New does: cut
// the log back to logEnd, rebuild the slots from the log when rebuild (an unclean stop) or
// trust them, then load slots. Nothing may panic, whatever the files and the checkpoint's
// numbers say. stampMagic makes every log entry carry the magic, so the fuzzer explores the
// links and times rather than the magic. Properties: load returns at most the slot's count
// of entries, each a readable log entry of that second; after a rebuild every entry due at
// or after from is loaded from its second's slot exactly once, and nothing else is.
func FuzzWheel(f *testing.F) {
	f.Fuzz(func(t *testing.T, logBytes, slotBytes []byte, from, logEnd int64, rebuild, stampMagic bool) {
		if len(logBytes) > 16*fuzzSegSize {
			logBytes = logBytes[:16*fuzzSegSize]
		}
		if stampMagic {
			logBytes = append([]byte(nil), logBytes...)
			for i := 28; i+4 <= len(logBytes); i += entrySize {
				binary.BigEndian.PutUint32(logBytes[i:], magic)
			}
		}
		root := t.TempDir()
		writeWheelFiles(t, root, logBytes, slotBytes)
		w, err := openWheel(root, fuzzSlots, fuzzSegSize)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer w.close()
		if w.end < 0 || w.end%fuzzSegSize != 0 {
			t.Fatalf("log end %d", w.end)
		}
		if err := w.truncate(logEnd); err != nil {
			return
		}
		if w.end > int64(len(logBytes)+fuzzSegSize) {
			t.Fatalf("log end %d past the %d bytes written", w.end, len(logBytes))
		}
		// Every second the slots or the log mention.
		var secs []int64
		for i := range int64(fuzzSlots) {
			secs = append(secs, int64(binary.BigEndian.Uint64(w.slots.Bytes()[i*slotSize:])))
		}
		var live []entry // the log's entries due at or after from, in log order
		if rebuild {
			maxAt, err := w.rebuild(from)
			if err != nil {
				return
			}
			for pos := w.log.MinOffset(); pos < w.end; pos += entrySize {
				e, _, err := w.read(pos)
				if err != nil {
					t.Fatalf("read %d after a rebuild that read it: %v", pos, err)
				}
				if e.at > maxAt[pos-pos%fuzzSegSize] {
					t.Fatalf("entry at %d due %d after its segment's max %d", pos, e.at, maxAt[pos-pos%fuzzSegSize])
				}
				if e.at >= from {
					live = append(live, e)
					secs = append(secs, e.at-e.at%precision)
				}
			}
		}
		secs = append(secs, from-from%precision)
		loaded := map[int64]int{} // log position → times loaded
		seen := map[int64]bool{}
		for _, sec := range secs {
			if seen[sec] {
				continue
			}
			seen[sec] = true
			_, count := w.chain(sec)
			es, err := w.load(sec)
			if int64(len(es)) > max(count, 0) {
				t.Fatalf("load(%d) returned %d entries of a chain of %d", sec, len(es), count)
			}
			if rebuild && err != nil {
				t.Fatalf("load(%d) after a rebuild: %v", sec, err)
			}
			for _, e := range es {
				again, _, err := w.read(e.pos)
				if err != nil || again != e {
					t.Fatalf("load(%d) returned %+v, the log holds %+v (%v)", sec, e, again, err)
				}
				if rebuild && e.at-e.at%precision != sec {
					t.Fatalf("load(%d) returned an entry due %d", sec, e.at)
				}
				loaded[e.pos]++
			}
		}
		if !rebuild {
			return
		}
		// Seconds that share a slot overwrite each other's chains (the horizon prevents that
		// in the broker): check completeness only without such collisions.
		slotOf := map[int64]int64{}
		for _, e := range live {
			sec := e.at - e.at%precision
			i := (sec / precision) % fuzzSlots
			if other, ok := slotOf[i]; ok && other != sec {
				return
			}
			slotOf[i] = sec
		}
		for _, e := range live {
			if loaded[e.pos] != 1 {
				t.Fatalf("entry at %d due %d loaded %d times", e.pos, e.at, loaded[e.pos])
			}
		}
		if len(loaded) != len(live) {
			t.Fatalf("loaded %d entries, %d are live", len(loaded), len(live))
		}
	})
}

// FuzzCheckpoint reads arbitrary bytes as timerCheckpoint.json and timerCancel.json. Whatever
// reads writes back and reads again the same, and the segment table survives the conversion
// to the wheel's form and back.
func FuzzCheckpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "timerCheckpoint.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if c, found, err := readCheckpoint(path); err == nil {
			if !found {
				t.Fatal("an existing checkpoint not found")
			}
			if err := writeCheckpoint(path, c); err != nil {
				t.Fatal(err)
			}
			again, found, err := readCheckpoint(path)
			if err != nil || !found || !reflect.DeepEqual(again, c) {
				t.Fatalf("round trip: %+v -> %+v (%v)", c, again, err)
			}
			m := segMaxFromFile(c.SegmentMax)
			for k := range c.SegmentMax {
				if n, err := strconv.ParseInt(k, 10, 64); err == nil {
					if m[n] < c.SegmentMax[k] {
						t.Fatalf("segment %s: %d < %d", k, m[n], c.SegmentMax[k])
					}
				}
			}
			if back := segMaxFromFile(segMaxToFile(m)); !reflect.DeepEqual(back, m) {
				t.Fatalf("segment table %v -> %v", m, back)
			}
		}
		cpath := filepath.Join(dir, "timerCancel.json")
		if err := os.WriteFile(cpath, data, 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := readCancels(cpath)
		if err != nil {
			return
		}
		if err := writeCancels(cpath, set); err != nil {
			t.Fatal(err)
		}
		again, err := readCancels(cpath)
		if err != nil || !reflect.DeepEqual(again, set) {
			t.Fatalf("cancellations %v -> %v (%v)", set, again, err)
		}
	})
}

// FuzzScan: Scan over arbitrary properties agrees with reading each property on its own
// (the last occurrence wins), and a time it accepts is not before the store time for a
// relative request, and not negative.
func FuzzScan(f *testing.F) {
	f.Fuzz(func(t *testing.T, props string, storedAt int64) {
		p := []byte(props)
		a, err := Scan(p, storedAt)
		if lv, ok := message.Property(p, message.PropertyDelayLevel); ok != (a.Level != nil) || string(lv) != string(a.Level) {
			t.Fatalf("level %q, Property says %q %v", a.Level, lv, ok)
		}
		if cv, ok := message.Property(p, PropertyDelUniqKey); ok != (a.Cancel != nil) || string(cv) != string(a.Cancel) {
			t.Fatalf("cancel %q, Property says %q %v", a.Cancel, cv, ok)
		}
		// The reference: the first request property present, by precedence.
		var want int64
		timed, bad := false, false
		for i, k := range requestProps {
			v, ok := message.Property(p, k)
			if !ok {
				continue
			}
			n, perr := strconv.ParseInt(string(v), 10, 64)
			if perr != nil || n < 0 {
				bad = true
				break
			}
			switch i {
			case 1:
				want = storedAt + n
			case 2:
				want = storedAt + n*1000
			default:
				want = n
			}
			timed = true
			break
		}
		if bad {
			if err == nil {
				t.Fatalf("Scan(%q) accepted a bad time: %+v", props, a)
			}
			return
		}
		if err != nil {
			// Only a relative time that would overflow may be refused.
			if !timed {
				t.Fatalf("Scan(%q): %v", props, err)
			}
			return
		}
		if a.Timed != timed || timed && a.At != want {
			t.Fatalf("Scan(%q, %d) = %+v, want at %d timed %v", props, storedAt, a, want, timed)
		}
		if a.Timed && a.At < 0 && storedAt >= 0 {
			t.Fatalf("Scan(%q, %d): negative time %d", props, storedAt, a.At)
		}
		at, ok, rerr := Requested(p, storedAt)
		if at != a.At || ok != a.Timed || rerr != nil {
			t.Fatalf("Requested = %d %v %v, Scan = %+v", at, ok, rerr, a)
		}
	})
}
