package commitlog

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ternmq/tern/core/message"
)

func bufferedOptions(buffered bool) Options {
	o := testOptions()
	o.Buffered = buffered
	return o
}

func modeName(buffered bool) string {
	if buffered {
		return "buffered"
	}
	return "mapped"
}

// logBytes returns the log's readable bytes in [from, to) (within one segment).
func logBytes(t *testing.T, c *CommitLog, from, to int64) []byte {
	t.Helper()
	b, seg, err := c.Read(from, int(to-from))
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Release()
	return bytes.Clone(b)
}

// TestAppendAt copies a log into another with AppendAt, segment by segment, in both modes.
func TestAppendAt(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		t.Run(modeName(buffered), func(t *testing.T) {
			m, _ := newLog(t, testOptions())
			for i := range 40 {
				appendSized(t, m, 300+i*7, i)
			}
			s, dir := newLog(t, bufferedOptions(buffered))
			var committed []bool
			commit := func(restart bool) error { committed = append(committed, restart); return nil }
			for pos := int64(0); pos < m.MaxOffset(); {
				segEnd := pos - pos%segSize + segSize
				to := min(segEnd, m.MaxOffset())
				data := logBytes(t, m, pos, to)
				fill := message.BlankSize(data[len(data)-blankTail(t, data):]) > 0
				end, err := s.AppendAt(pos, data, fill, commit)
				if err != nil {
					t.Fatalf("AppendAt(%d): %v", pos, err)
				}
				if end != to {
					t.Fatalf("AppendAt(%d) ends at %d, want %d", pos, end, to)
				}
				if buffered {
					if _, err := s.Flush(); err != nil {
						t.Fatal(err)
					}
				}
				if s.MaxOffset() != end {
					t.Fatalf("readable end %d, want %d", s.MaxOffset(), end)
				}
				pos = end
			}
			if len(committed) == 0 || committed[0] {
				t.Fatalf("commits %v: want some, none restarting", committed)
			}
			for off := int64(0); off < m.MaxOffset(); off += segSize {
				to := min(off+segSize, m.MaxOffset())
				if !bytes.Equal(readAt(t, dir, off, int(to-off)), logBytes(t, m, off, to)) {
					t.Fatalf("segment %d differs", off)
				}
			}
			// Not at the end.
			end := s.MaxOffset()
			one := logBytes(t, m, 0, int64(newRecord(300, 0).Size()))
			for _, off := range []int64{end - 1, end + 1, end - end%segSize + segSize} {
				if _, err := s.AppendAt(off, one, false, nil); !errors.Is(err, ErrNotAtEnd) {
					t.Fatalf("AppendAt(%d) with the end at %d: %v", off, end, err)
				}
			}
			// A commit error writes nothing.
			boom := errors.New("boom")
			if _, err := s.AppendAt(end, one, false, func(bool) error { return boom }); !errors.Is(err, boom) {
				t.Fatalf("commit error: %v", err)
			}
			if s.MaxOffset() != end {
				t.Fatal("a refused commit moved the end")
			}
		})
	}
}

// blankTail returns the length of the blank marker that ends data, or 0.
func blankTail(t *testing.T, data []byte) int {
	t.Helper()
	for p := 0; p < len(data); {
		v, err := message.Parse(data[p:])
		if errors.Is(err, message.ErrBlank) {
			return len(data) - p
		}
		if err != nil {
			t.Fatal(err)
		}
		p += v.Size()
	}
	return 0
}

// TestAppendAtRestart: an empty log starts wherever a segment starts, above its end.
func TestAppendAtRestart(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		t.Run(modeName(buffered), func(t *testing.T) {
			c, _ := newLog(t, bufferedOptions(buffered))
			r := newRecord(200, 1)
			r.PhysicalOffset = 3 * segSize
			data := message.AppendRecord(nil, r)
			if _, err := c.AppendAt(3*segSize+8, data, false, nil); !errors.Is(err, ErrNotAtEnd) {
				t.Fatalf("restart off a segment start: %v", err)
			}
			var restarted bool
			end, err := c.AppendAt(3*segSize, data, false, func(restart bool) error { restarted = restart; return nil })
			if err != nil || !restarted || end != 3*segSize+200 {
				t.Fatalf("restart: end %d, restarted %v, %v", end, restarted, err)
			}
			if buffered {
				c.Flush()
			}
			if c.MinOffset() != 3*segSize || c.MaxOffset() != end {
				t.Fatalf("log [%d,%d)", c.MinOffset(), c.MaxOffset())
			}
			// Cut everything: the log is empty at 3*segSize and may not restart below.
			if err := c.Truncate(3 * segSize); err != nil {
				t.Fatal(err)
			}
			if c.Segments().Len() != 0 || c.MaxOffset() != 3*segSize {
				t.Fatalf("after cutting everything: %d segments, end %d", c.Segments().Len(), c.MaxOffset())
			}
			r.PhysicalOffset = segSize
			if _, err := c.AppendAt(segSize, message.AppendRecord(nil, r), false, nil); !errors.Is(err, ErrNotAtEnd) {
				t.Fatalf("restart below the end: %v", err)
			}
		})
	}
}

// TestTruncate cuts a log, also with appends still in the buffer, and checks that the cut bytes
// are gone from the files and that appends and recovery go on from the cut.
func TestTruncate(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		t.Run(modeName(buffered), func(t *testing.T) {
			c, dir := newLog(t, bufferedOptions(buffered))
			var offs []int64
			for i := range 30 {
				off, _ := appendSized(t, c, 500, i)
				offs = append(offs, off)
			}
			if buffered && c.MaxOffset() != 0 {
				t.Fatal("buffered appends readable before a flush")
			}
			cut := offs[len(offs)-5] // in the last segment
			segs := c.Segments().Len()
			if err := c.Truncate(cut + 10); err != nil { // the caller checks boundaries
				t.Fatal(err)
			}
			if err := c.Truncate(cut); err != nil {
				t.Fatal(err)
			}
			if err := c.Truncate(c.MaxOffset() + 1000); err != nil {
				t.Fatal(err)
			}
			if c.MaxOffset() != cut || c.FlushedOffset() > cut {
				t.Fatalf("after the cut: end %d, flushed %d, want %d", c.MaxOffset(), c.FlushedOffset(), cut)
			}
			if got := readAt(t, dir, cut, int(segSize-cut%segSize)); !bytes.Equal(got, make([]byte, len(got))) {
				t.Fatal("bytes after the cut are not zero")
			}
			// Cut at a segment start: later segments go.
			start := offs[0] - offs[0]%segSize + segSize
			if err := c.Truncate(start); err != nil {
				t.Fatal(err)
			}
			if c.Segments().Len() != 1 || segs < 3 {
				t.Fatalf("%d segments after a cut at %d (had %d)", c.Segments().Len(), start, segs)
			}
			off, _ := appendSized(t, c, 500, 99)
			if off != start {
				t.Fatalf("append after the cut at %d went to %d", start, off)
			}
			if _, err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			end := c.MaxOffset()
			c.Close()
			c = openLog(t, dir, bufferedOptions(buffered))
			rec, err := c.Recover(0, end, false, nil)
			if err != nil || rec.End != end || rec.TornTail != nil {
				t.Fatalf("recover: %+v %v, want end %d", rec, err, end)
			}
		})
	}
}
