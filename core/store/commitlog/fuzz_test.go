package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ternmq/tern/core/internal/fuzzcorpus"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/segment"
)

// The seed corpus lives in testdata/fuzz/FuzzRecover/seed-*. Regenerate it after changing
// recoverSeeds or the template log with:
//
//	go test ./core/store/commitlog/ -run '^TestFuzzCorpus$' -update-corpus
//
// Other files in that directory are inputs the fuzzer found; keep them. To fuzz:
//
//	go test ./core/store/commitlog/ -run '^$' -fuzz '^FuzzRecover$' -fuzztime 30s

// fuzzTemplate is the log FuzzRecover damages: two segments, records of assorted sizes, a blank
// marker ending the first segment.
type fuzzTemplate struct {
	image []byte    // both segment files, back to back
	recs  []visited // the records, in order
	end   int64     // the end of the written data
	blank int64     // the blank marker's offset
	// read holds the byte ranges a scan of the intact log looks at: the records, the blank
	// marker's header and the 8 zero bytes at the end.
	read [][2]int64
}

var templateSizes = []int{300, 1200, 200, 2000, 500, 150, 92, 1000, 400}

func buildTemplate(tb testing.TB) fuzzTemplate {
	tb.Helper()
	c, dir := newLog(tb, testOptions())
	var tpl fuzzTemplate
	prevEnd := int64(0)
	for i, size := range templateSizes {
		r := newRecord(size, i)
		off, end, err := c.Append(size, encodeRecord(r))
		if err != nil {
			tb.Fatal(err)
		}
		if off != prevEnd {
			tpl.blank = prevEnd
			tpl.read = append(tpl.read, [2]int64{prevEnd, prevEnd + message.BlankHeaderSize})
		}
		tpl.recs = append(tpl.recs, visited{off: off, data: message.AppendRecord(nil, r)})
		tpl.read = append(tpl.read, [2]int64{off, end})
		prevEnd = end
	}
	tpl.end = c.MaxOffset()
	tpl.read = append(tpl.read, [2]int64{tpl.end, tpl.end + message.BlankHeaderSize})
	if err := c.Close(); err != nil {
		tb.Fatal(err)
	}
	if tpl.blank == 0 || tpl.end <= segSize || tpl.end >= 2*segSize {
		tb.Fatalf("template layout changed: blank %d end %d", tpl.blank, tpl.end)
	}
	for start := int64(0); start < 2*segSize; start += segSize {
		b, err := os.ReadFile(filepath.Join(dir, segment.Name(start)))
		if err != nil {
			tb.Fatal(err)
		}
		tpl.image = append(tpl.image, b...)
	}
	return tpl
}

// fuzzArgs is one FuzzRecover input: data is written over the log at pos, then Recover runs
// with durable and truncate.
type fuzzArgs struct {
	data     []byte
	pos      uint16
	durable  uint16
	truncate bool
}

func recoverSeeds(tpl fuzzTemplate) map[string]fuzzArgs {
	end := uint16(tpl.end)
	at := func(i int) uint16 { return uint16(tpl.recs[i].off) }
	flipped := []byte{tpl.image[tpl.recs[1].off+bodyOff+5] ^ 0x01}
	torn := encodedAt(700, tpl.end, 50)
	clear(torn[bodyOff+100 : bodyOff+300])
	lastSeg := int(2*segSize - tpl.recs[6].off)
	return map[string]fuzzArgs{
		"clean":                      {nil, 0, end, false},
		"clean-nothing-durable":      {nil, 0, 0, false},
		"garbage-tail":               {[]byte("garbage!garbage!"), end, end, false},
		"flipped-body":               {flipped, at(1) + bodyOff + 5, end, false},
		"flipped-body-truncate":      {flipped, at(1) + bodyOff + 5, end, true},
		"torn-record":                {torn, end, end, false},
		"wrong-physical-offset":      {binary.BigEndian.AppendUint64(nil, 12345), at(5) + 28, end, false},
		"blank-wrong-size":           {binary.BigEndian.AppendUint32(nil, 100), uint16(tpl.blank), end, true},
		"blank-in-the-last-segment":  {message.AppendBlank(nil, lastSeg), at(6), 0, false},
		"record-leaves-no-room":      {encodedAt(int(2*segSize-4-tpl.end), tpl.end, 51), end, end, false},
		"record-copied-elsewhere":    {tpl.recs[2].data, end, end, false},
		"zeros-mid-log":              {make([]byte, 300), at(3), end, true},
		"valid-record-after-the-end": {encodedAt(300, tpl.end, 52), end, end, false},
		"durable-past-the-end":       {nil, 0, 2*segSize - 1, true},
	}
}

// TestFuzzCorpus checks that the seed files match recoverSeeds, or rewrites them with
// -update-corpus.
func TestFuzzCorpus(t *testing.T) {
	files := map[string][]byte{}
	for name, a := range recoverSeeds(buildTemplate(t)) {
		files[name] = fuzzcorpus.Marshal(a.data, a.pos, a.durable, a.truncate)
	}
	fuzzcorpus.Check(t, "FuzzRecover", files)
}

// FuzzRecover damages a small log with the input and checks what Recover makes of it.
func FuzzRecover(f *testing.F) {
	tpl := buildTemplate(f)
	f.Fuzz(func(t *testing.T, data []byte, pos, durable uint16, truncate bool) {
		img := bytes.Clone(tpl.image)
		p := int64(pos) % int64(len(img))
		n := int64(copy(img[p:], data))
		d := int64(durable) % int64(len(img)+1)
		dir := t.TempDir()
		for start := int64(0); start < int64(len(img)); start += segSize {
			if err := os.WriteFile(filepath.Join(dir, segment.Name(start)), img[start:start+segSize], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// untouched: the input changed nothing the scan of the intact log reads.
		untouched := true
		for _, r := range tpl.read {
			if n > 0 && p < r[1] && r[0] < p+n {
				untouched = false
			}
		}

		c := openLog(t, dir, testOptions())
		var got []visited
		rec, err := c.Recover(0, d, truncate, collect(&got))
		checkVisited(t, got)
		// Records wholly before the damage are found as they were.
		for i, r := range tpl.recs {
			if n > 0 && r.off+int64(len(r.data)) > p {
				break
			}
			if i >= len(got) || got[i].off != r.off || !bytes.Equal(got[i].data, r.data) {
				t.Fatalf("intact record %d at %d not found first (visited %d records)", i, r.off, len(got))
			}
		}
		lastEnd := int64(0)
		if len(got) > 0 {
			last := got[len(got)-1]
			lastEnd = last.off + int64(len(last.data))
		}

		if err != nil {
			var ce *CorruptionError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Recover error %v is not a *CorruptionError", err)
			}
			if truncate || ce.Offset >= d || ce.Offset < lastEnd || ce.Durable != d {
				t.Fatalf("CorruptionError at %d (durable %d, truncate %v, last record ends at %d)", ce.Offset, d, truncate, lastEnd)
			}
			if untouched && (ce.Offset != tpl.end || len(got) != len(tpl.recs)) {
				t.Fatalf("undamaged log: corruption at %d, want %d", ce.Offset, tpl.end)
			}
			c.Close()
			for start := int64(0); start < int64(len(img)); start += segSize {
				b, err := os.ReadFile(filepath.Join(dir, segment.Name(start)))
				if err != nil || !bytes.Equal(b, img[start:start+segSize]) {
					t.Fatalf("Recover changed segment %d although it failed (%v)", start, err)
				}
			}
			return
		}

		switch {
		case rec.End < lastEnd || rec.End > int64(len(img)) || rec.Records != len(got) || rec.From != 0:
			t.Fatalf("Recovery %+v: last record ends at %d", rec, lastEnd)
		case c.MaxOffset() != rec.End || c.FlushedOffset() != rec.End:
			t.Fatalf("MaxOffset %d FlushedOffset %d, end %d", c.MaxOffset(), c.FlushedOffset(), rec.End)
		case rec.Corruption != nil && (!truncate || rec.Corruption.Offset != rec.End || rec.End >= d):
			t.Fatalf("Corruption %v at end %d (durable %d, truncate %v)", rec.Corruption, rec.End, d, truncate)
		case rec.Corruption == nil && rec.End < d:
			t.Fatalf("end %d below the durable mark %d reported as neither corruption nor error", rec.End, d)
		case untouched && (rec.End != tpl.end || len(got) != len(tpl.recs)):
			t.Fatalf("undamaged log recovered to %d with %d records, want %d with %d", rec.End, len(got), tpl.end, len(tpl.recs))
		case rec.End > tpl.end && p >= rec.End:
			// Past the old end only through what the input wrote (a blank marker or a record
			// that checks out): the scan must have read some of it.
			t.Fatalf("end %d past the template's %d, but the input starts at %d", rec.End, tpl.end, p)
		}

		// Recovering the recovered log changes nothing.
		c.Close()
		c = openLog(t, dir, testOptions())
		var again []visited
		rec2, err := c.Recover(0, rec.End, false, collect(&again))
		if err != nil || rec2.End != rec.End || rec2.TornTail != nil || rec2.Corruption != nil || rec2.Removed != 0 {
			t.Fatalf("second Recover = %+v, %v; first %+v", rec2, err, rec)
		}
		if !slices.EqualFunc(got, again, sameRecord) {
			t.Fatalf("second Recover visited %d records, first %d", len(again), len(got))
		}

		// And it takes appends: one that fits where the log ends (when it can) and one that
		// needs a new segment.
		want := again
		for i, size := range []int{200, 3900} {
			r := newRecord(size, 200+i)
			off, _, err := c.Append(size, encodeRecord(r))
			if err != nil {
				t.Fatalf("Append after Recover: %v", err)
			}
			want = append(want, visited{off: off, data: message.AppendRecord(nil, r)})
		}
		end := c.MaxOffset()
		c.Close()
		c = openLog(t, dir, testOptions())
		var after []visited
		rec3, err := c.Recover(0, end, false, collect(&after))
		if err != nil || rec3.End != end || rec3.Corruption != nil {
			t.Fatalf("Recover after appending = %+v, %v; want end %d", rec3, err, end)
		}
		if !slices.EqualFunc(want, after, sameRecord) {
			t.Fatalf("Recover after appending visited %d records, want %d", len(after), len(want))
		}
	})
}

func sameRecord(a, b visited) bool { return a.off == b.off && bytes.Equal(a.data, b.data) }

// checkVisited checks that every visited record is valid where it lies: it parses to its full
// length, its CRC matches, it names its own offset, it sits inside one segment with room for a
// blank marker after it, and it follows the previous record directly or starts a later segment.
func checkVisited(t *testing.T, got []visited) {
	t.Helper()
	prevEnd := int64(0)
	for i, r := range got {
		v, err := message.Parse(r.data)
		switch {
		case err != nil:
			t.Fatalf("visited record %d at %d does not parse: %v", i, r.off, err)
		case v.Size() != len(r.data):
			t.Fatalf("visited record %d at %d: size %d, visited %d bytes", i, r.off, v.Size(), len(r.data))
		case v.CheckCRC() != nil:
			t.Fatalf("visited record %d at %d: %v", i, r.off, v.CheckCRC())
		case v.PhysicalOffset() != r.off:
			t.Fatalf("visited record %d at %d says %d", i, r.off, v.PhysicalOffset())
		case r.off%segSize+int64(v.Size())+message.BlankHeaderSize > segSize:
			t.Fatalf("visited record %d at %d (%d bytes) leaves no room for a blank marker", i, r.off, v.Size())
		case r.off != prevEnd && (r.off%segSize != 0 || r.off < prevEnd):
			t.Fatalf("visited record %d at %d does not follow the previous end %d", i, r.off, prevEnd)
		}
		prevEnd = r.off + int64(v.Size())
	}
}
