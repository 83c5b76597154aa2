package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/segment"
)

// The log every Recover case starts from: the fourth record does not fit in the first segment
// with 8 bytes to spare, so that segment ends with a blank marker at 3000 and the fourth record
// starts the second segment.
var (
	stdSizes = []int{1000, 1000, 1000, 1100, 500, 300}
	stdOffs  = []int64{0, 1000, 2000, segSize, segSize + 1100, segSize + 1600}
)

const (
	stdBlank = 3000
	stdEnd   = segSize + 1900
)

// buildStd writes the standard log into a new directory and closes it.
func buildStd(t *testing.T) string {
	t.Helper()
	c, dir := newLog(t, testOptions())
	for i, size := range stdSizes {
		if off, _ := appendSized(t, c, size, i); off != stdOffs[i] {
			t.Fatalf("record %d at %d, want %d", i, off, stdOffs[i])
		}
	}
	if c.MaxOffset() != stdEnd {
		t.Fatalf("log ends at %d, want %d", c.MaxOffset(), stdEnd)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bodyOff is the offset of the first body byte of a standard record (IPv4 hosts).
const bodyOff = 88

func flipByte(t *testing.T, dir string, off int64) {
	t.Helper()
	b := readAt(t, dir, off, 1)
	writeAt(t, dir, off, []byte{b[0] ^ 0x01})
}

func putUint32(t *testing.T, dir string, off int64, v uint32) {
	t.Helper()
	writeAt(t, dir, off, binary.BigEndian.AppendUint32(nil, v))
}

// encodedAt returns a valid record of size bytes stamped with physical offset off.
func encodedAt(size int, off int64, seq int) []byte {
	r := newRecord(size, seq)
	r.PhysicalOffset = off
	return message.AppendRecord(nil, r)
}

func TestRecover(t *testing.T) {
	all := []int{0, 1, 2, 3, 4, 5}
	errVisit := errors.New("visit failed")
	tests := []struct {
		name     string
		setup    func(t *testing.T, dir string)
		from     int64
		durable  int64
		truncate bool
		// visitErr, when set, is returned by the visit of the record at that offset.
		visitAt  int64
		visitErr error

		wantErr      error // errors.Is target of Recover's error; nil for success
		wantCorrupt  int64 // CorruptionError.Offset when wantErr is ErrCorrupt
		wantCause    error // errors.Is target of the underlying cause, when set
		wantFrom     int64
		wantEnd      int64
		wantVisited  []int // indexes into the standard records
		wantTorn     bool
		wantTornIs   error
		wantCut      bool // Recovery.Corruption set
		wantRemoved  int
		wantSegments []int64 // segment starts after Recover (nil: unchanged check skipped)
	}{
		{
			name: "clean", durable: stdEnd,
			wantEnd: stdEnd, wantVisited: all, wantSegments: []int64{0, segSize},
		},
		{
			name: "clean, nothing durable", durable: 0,
			wantEnd: stdEnd, wantVisited: all, wantSegments: []int64{0, segSize},
		},
		{
			name: "garbage after the last record",
			setup: func(t *testing.T, dir string) {
				writeAt(t, dir, stdEnd, []byte("garbage, garbage, garbage"))
			},
			durable: stdEnd, wantEnd: stdEnd, wantVisited: all, wantTorn: true, wantTornIs: message.ErrBadMagic,
		},
		{
			name: "record torn by the crash",
			setup: func(t *testing.T, dir string) {
				rec := encodedAt(700, stdEnd, 6)
				clear(rec[bodyOff+300 : bodyOff+600]) // part of the body never reached the file
				writeAt(t, dir, stdEnd, rec)
			},
			durable: stdEnd, wantEnd: stdEnd, wantVisited: all, wantTorn: true, wantTornIs: message.ErrCRC,
		},
		{
			name: "size written, rest missing",
			setup: func(t *testing.T, dir string) {
				putUint32(t, dir, stdEnd, 700)
			},
			durable: stdEnd, wantEnd: stdEnd, wantVisited: all, wantTorn: true,
		},
		{
			name: "record cut by the segment end",
			setup: func(t *testing.T, dir string) {
				writeAt(t, dir, stdEnd, encodedAt(700, stdEnd, 6)[:400])
				putUint32(t, dir, stdEnd, segSize) // claims more than the segment holds
			},
			durable: stdEnd, wantEnd: stdEnd, wantVisited: all, wantTorn: true, wantTornIs: message.ErrTruncated,
		},
		{
			name:    "bad body above the durable mark",
			setup:   func(t *testing.T, dir string) { flipByte(t, dir, stdOffs[5]+bodyOff+10) },
			durable: stdOffs[5], wantEnd: stdOffs[5], wantVisited: all[:5], wantTorn: true, wantTornIs: message.ErrCRC,
		},
		{
			name:    "bad body below the durable mark",
			setup:   func(t *testing.T, dir string) { flipByte(t, dir, stdOffs[1]+bodyOff+500) },
			durable: stdEnd, wantErr: ErrCorrupt, wantCorrupt: stdOffs[1], wantCause: message.ErrCRC,
			wantVisited: all[:1],
		},
		{
			name:    "bad body below the durable mark, truncated",
			setup:   func(t *testing.T, dir string) { flipByte(t, dir, stdOffs[1]+bodyOff+500) },
			durable: stdEnd, truncate: true, wantCut: true, wantCause: message.ErrCRC,
			wantEnd: stdOffs[1], wantVisited: all[:1], wantRemoved: 1, wantSegments: []int64{0},
		},
		{
			name:    "bad body just below the durable mark",
			setup:   func(t *testing.T, dir string) { flipByte(t, dir, stdOffs[5]+bodyOff) },
			durable: stdOffs[5] + 1, wantErr: ErrCorrupt, wantCorrupt: stdOffs[5], wantCause: message.ErrCRC,
			wantVisited: all[:5],
		},
		{
			name: "physical offset field disagrees",
			setup: func(t *testing.T, dir string) {
				writeAt(t, dir, stdOffs[4]+28, binary.BigEndian.AppendUint64(nil, uint64(stdOffs[3])))
			},
			durable: stdEnd, wantErr: ErrCorrupt, wantCorrupt: stdOffs[4], wantVisited: all[:4],
		},
		{
			name: "physical offset field disagrees above the durable mark",
			setup: func(t *testing.T, dir string) {
				writeAt(t, dir, stdOffs[4]+28, binary.BigEndian.AppendUint64(nil, 1<<40))
			},
			durable: stdOffs[4], wantEnd: stdOffs[4], wantVisited: all[:4], wantTorn: true,
		},
		{
			name:    "blank marker of the wrong size",
			setup:   func(t *testing.T, dir string) { putUint32(t, dir, stdBlank, segSize-stdBlank-8) },
			durable: stdEnd, wantErr: ErrCorrupt, wantCorrupt: stdBlank, wantVisited: all[:3],
		},
		{
			name:    "blank marker of the wrong size, truncated",
			setup:   func(t *testing.T, dir string) { putUint32(t, dir, stdBlank, segSize) },
			durable: stdEnd, truncate: true, wantCut: true,
			wantEnd: stdBlank, wantVisited: all[:3], wantRemoved: 1, wantSegments: []int64{0},
		},
		{
			name:    "blank marker below its minimum size",
			setup:   func(t *testing.T, dir string) { putUint32(t, dir, stdBlank, 4) },
			durable: stdEnd, wantErr: ErrCorrupt, wantCorrupt: stdBlank, wantCause: message.ErrCorrupt, wantVisited: all[:3],
		},
		{
			name:    "zeros below the durable mark",
			setup:   func(t *testing.T, dir string) { writeAt(t, dir, stdOffs[2], make([]byte, 1000)) },
			durable: stdEnd, wantErr: ErrCorrupt, wantCorrupt: stdOffs[2], wantVisited: all[:2],
		},
		{
			name: "log ends below the durable mark", durable: stdEnd + 100,
			wantErr: ErrCorrupt, wantCorrupt: stdEnd, wantVisited: all,
		},
		{
			name: "log ends below the durable mark, truncated", durable: stdEnd + 100, truncate: true,
			wantEnd: stdEnd, wantVisited: all, wantCut: true, wantSegments: []int64{0, segSize},
		},
		{
			name: "empty segment after the end",
			setup: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, segment.Name(2*segSize)), make([]byte, segSize), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			durable: stdEnd, wantEnd: stdEnd, wantVisited: all, wantRemoved: 1, wantSegments: []int64{0, segSize},
		},
		{
			name: "garbage segment after the end",
			setup: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, segment.Name(2*segSize)), bytes.Repeat([]byte{0xAB}, segSize), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			durable: stdEnd, wantEnd: stdEnd, wantVisited: all, wantRemoved: 1, wantSegments: []int64{0, segSize},
		},
		{
			name: "from the second segment", from: segSize, durable: stdEnd,
			wantFrom: segSize, wantEnd: stdEnd, wantVisited: all[3:], wantSegments: []int64{0, segSize},
		},
		{
			name: "from below the first segment",
			setup: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, segment.Name(0))); err != nil {
					t.Fatal(err)
				}
			},
			from: 0, durable: stdEnd, wantFrom: segSize, wantEnd: stdEnd, wantVisited: all[3:], wantSegments: []int64{segSize},
		},
		{
			name: "from beyond the last segment", from: 10 * segSize, durable: stdEnd,
			wantFrom: 2 * segSize, wantEnd: 2 * segSize, wantVisited: nil, wantSegments: []int64{0, segSize},
		},
		{
			name: "visit error stops the scan", durable: stdEnd, visitAt: stdOffs[2], visitErr: errVisit,
			wantErr: errVisit, wantVisited: all[:2],
		},
		{
			name: "visit rejects a record above the durable mark", durable: stdOffs[4],
			visitAt: stdOffs[4], visitErr: fmt.Errorf("%w: bad topic", ErrInvalidRecord),
			wantEnd: stdOffs[4], wantVisited: all[:4], wantTorn: true, wantTornIs: ErrInvalidRecord,
			wantSegments: []int64{0, segSize},
		},
		{
			name: "visit rejects a record below the durable mark", durable: stdEnd,
			visitAt: stdOffs[4], visitErr: fmt.Errorf("%w: bad topic", ErrInvalidRecord),
			wantErr: ErrCorrupt, wantCorrupt: stdOffs[4], wantCause: ErrInvalidRecord, wantVisited: all[:4],
		},
		{
			// A record that would leave less than a blank marker's room at the end of its segment
			// is never written by Append; accepting it would leave the next Append unable to end
			// the segment.
			name: "record leaving no room for a blank marker",
			setup: func(t *testing.T, dir string) {
				writeAt(t, dir, stdEnd, encodedAt(2*segSize-4-stdEnd, stdEnd, 6))
			},
			durable: stdEnd, wantEnd: stdEnd, wantVisited: all, wantTorn: true,
		},
		{
			name: "record filling its segment to the last byte",
			setup: func(t *testing.T, dir string) {
				writeAt(t, dir, stdEnd, encodedAt(2*segSize-stdEnd, stdEnd, 6))
			},
			durable: stdEnd, wantEnd: stdEnd, wantVisited: all, wantTorn: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := buildStd(t)
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			before := readDir(t, dir)
			c := openLog(t, dir, testOptions())
			var got []visited
			visit := collect(&got)
			if tt.visitErr != nil {
				inner := visit
				visit = func(v message.View) error {
					if v.PhysicalOffset() == tt.visitAt {
						return tt.visitErr
					}
					return inner(v)
				}
			}
			rec, err := c.Recover(tt.from, tt.durable, tt.truncate, visit)

			var offs []int64
			for _, v := range got {
				offs = append(offs, v.off)
				if pv, perr := message.Parse(v.data); perr != nil || pv.CheckCRC() != nil || pv.Size() != len(v.data) {
					t.Fatalf("visited record at %d is not valid: %v", v.off, perr)
				}
			}
			var wantOffs []int64
			for _, i := range tt.wantVisited {
				wantOffs = append(wantOffs, stdOffs[i])
			}
			if !slices.Equal(offs, wantOffs) {
				t.Fatalf("visited %v, want %v", offs, wantOffs)
			}

			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Recover = %+v, %v; want %v", rec, err, tt.wantErr)
				}
				if errors.Is(tt.wantErr, ErrCorrupt) {
					var ce *CorruptionError
					if !errors.As(err, &ce) {
						t.Fatalf("error %v is not a *CorruptionError", err)
					}
					if ce.Offset != tt.wantCorrupt || ce.Durable != tt.durable || ce.Segment != segPath(dir, tt.wantCorrupt) {
						t.Fatalf("CorruptionError at %d in %q durable %d, want %d in %q durable %d",
							ce.Offset, ce.Segment, ce.Durable, tt.wantCorrupt, segPath(dir, tt.wantCorrupt), tt.durable)
					}
					if tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
						t.Fatalf("CorruptionError %v does not wrap %v", err, tt.wantCause)
					}
					if !strings.Contains(ce.Error(), fmt.Sprint(ce.Offset)) {
						t.Fatalf("error text %q does not name the offset", ce.Error())
					}
				}
				// A failed Recover changes nothing on the disk.
				c.Close()
				if after := readDir(t, dir); !maps.EqualFunc(before, after, bytes.Equal) {
					t.Fatal("Recover changed the files although it failed")
				}
				return
			}
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if rec.From != tt.wantFrom || rec.End != tt.wantEnd || rec.Records != len(tt.wantVisited) || rec.Removed != tt.wantRemoved {
				t.Fatalf("Recovery %+v, want from %d end %d records %d removed %d",
					rec, tt.wantFrom, tt.wantEnd, len(tt.wantVisited), tt.wantRemoved)
			}
			if (rec.TornTail != nil) != tt.wantTorn || (tt.wantTornIs != nil && !errors.Is(rec.TornTail, tt.wantTornIs)) {
				t.Fatalf("TornTail = %v, want torn %v (%v)", rec.TornTail, tt.wantTorn, tt.wantTornIs)
			}
			if (rec.Corruption != nil) != tt.wantCut {
				t.Fatalf("Corruption = %v, want %v", rec.Corruption, tt.wantCut)
			}
			if rec.Corruption != nil {
				if rec.Corruption.Offset != rec.End || !errors.Is(rec.Corruption, ErrCorrupt) {
					t.Fatalf("Corruption %v at %d, end %d", rec.Corruption, rec.Corruption.Offset, rec.End)
				}
				if tt.wantCause != nil && !errors.Is(rec.Corruption, tt.wantCause) {
					t.Fatalf("Corruption %v does not wrap %v", rec.Corruption, tt.wantCause)
				}
			}
			if c.MaxOffset() != rec.End || c.FlushedOffset() != rec.End {
				t.Fatalf("MaxOffset %d FlushedOffset %d, want %d", c.MaxOffset(), c.FlushedOffset(), rec.End)
			}
			if tt.wantSegments != nil {
				var starts []int64
				for _, s := range c.Segments().Segments() {
					starts = append(starts, s.Start)
				}
				if !slices.Equal(starts, tt.wantSegments) {
					t.Fatalf("segments %v, want %v", starts, tt.wantSegments)
				}
			}
			// Whatever was cut reads as the end of the data again.
			if s := c.Segments().Find(rec.End); s != nil {
				if rest := s.Bytes()[rec.End-s.Start:]; !bytes.Equal(rest, make([]byte, len(rest))) {
					t.Fatalf("bytes after the recovered end %d are not zero", rec.End)
				}
			}
			checkAppendAfterRecover(t, c, dir, got)
		})
	}
}

// checkAppendAfterRecover appends to a recovered log, reopens it and checks that a full Recover
// finds the old records followed by the new ones, with a clean end.
func checkAppendAfterRecover(t *testing.T, c *CommitLog, dir string, old []visited) {
	t.Helper()
	start := c.MinOffset()
	// Keep only the records at or after the first segment: a partial scan saw only some.
	var want []visited
	for _, v := range old {
		if v.off >= start {
			want = append(want, v)
		}
	}
	if len(want) != len(old) {
		t.Fatalf("visited records below MinOffset %d", start)
	}
	for i, size := range []int{300, 3500, 200} {
		r := newRecord(size, 100+i)
		off, _, err := c.Append(size, encodeRecord(r))
		if err != nil {
			t.Fatalf("Append after Recover: %v", err)
		}
		want = append(want, visited{off: off, data: message.AppendRecord(nil, r)})
	}
	end := c.MaxOffset()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := openLog(t, dir, testOptions())
	var got []visited
	from := want[0].off - want[0].off%segSize
	if start > from {
		from = start
	}
	rec, err := c2.Recover(from, end, false, collect(&got))
	if err != nil || rec.End != end || rec.TornTail != nil || rec.Corruption != nil || rec.Removed != 0 {
		t.Fatalf("Recover after appending = %+v, %v; want a clean end at %d", rec, err, end)
	}
	// A scan from a segment start may see records that precede the first one we know of.
	for len(got) > 0 && got[0].off < want[0].off {
		got = got[1:]
	}
	if len(got) != len(want) {
		t.Fatalf("recovered %d records after appending, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].off != want[i].off || !bytes.Equal(got[i].data, want[i].data) {
			t.Fatalf("record %d after appending: at %d, want %d", i, got[i].off, want[i].off)
		}
	}
}

func TestRecoverEmptyLog(t *testing.T) {
	tests := []struct {
		name    string
		from    int64
		wantEnd int64
	}{
		{name: "from zero", from: 0, wantEnd: 0},
		{name: "from inside a segment", from: 2*segSize + 100, wantEnd: 2 * segSize},
		{name: "from a segment start", from: 3 * segSize, wantEnd: 3 * segSize},
		{name: "from below zero", from: -5, wantEnd: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := openLog(t, dir, testOptions())
			calls := 0
			rec, err := c.Recover(tt.from, 0, false, func(message.View) error { calls++; return nil })
			if err != nil || rec.End != tt.wantEnd || rec.From != tt.wantEnd || rec.Records != 0 || calls != 0 {
				t.Fatalf("Recover(%d) = %+v, %v (%d visits); want end %d", tt.from, rec, err, calls, tt.wantEnd)
			}
			if c.MaxOffset() != tt.wantEnd || c.FlushedOffset() != tt.wantEnd {
				t.Fatalf("MaxOffset %d FlushedOffset %d", c.MaxOffset(), c.FlushedOffset())
			}
			off, _ := appendSized(t, c, 500, 0)
			if off != tt.wantEnd || c.MinOffset() != tt.wantEnd {
				t.Fatalf("first append at %d (min %d), want %d", off, c.MinOffset(), tt.wantEnd)
			}
			checkAppendAfterRecover(t, c, dir, []visited{{off: off, data: encodedAt(500, off, 0)}})
		})
	}
}

// TestRecoverTwice checks that recovering a recovered log finds the same records and end.
func TestRecoverTwice(t *testing.T) {
	dir := buildStd(t)
	writeAt(t, dir, stdEnd, []byte("torn"))
	var first, second []visited
	c := openLog(t, dir, testOptions())
	rec1, err := c.Recover(0, 0, false, collect(&first))
	if err != nil || rec1.TornTail == nil {
		t.Fatalf("first Recover = %+v, %v", rec1, err)
	}
	c.Close()
	c = openLog(t, dir, testOptions())
	rec2, err := c.Recover(0, rec1.End, false, collect(&second))
	if err != nil || rec2.TornTail != nil || rec2.End != rec1.End || rec2.Records != rec1.Records {
		t.Fatalf("second Recover = %+v, %v; first %+v", rec2, err, rec1)
	}
	if !slices.EqualFunc(first, second, func(a, b visited) bool { return a.off == b.off && bytes.Equal(a.data, b.data) }) {
		t.Fatal("the second Recover visited other records")
	}
}

// A lost page in the unflushed tail leaves zeros in front of valid old records. Recovery cuts
// the log at the zeros and clears what follows, so an append of the lost record's exact size
// cannot line an old record up again for the next recovery to accept.
func TestRecoverClearsStaleRecordsBeyondTheEnd(t *testing.T) {
	dir := buildStd(t)
	writeAt(t, dir, stdOffs[4], make([]byte, 8)) // record 4's size and magic lost; record 5 intact

	c := openLog(t, dir, testOptions())
	rec, err := c.Recover(0, 0, false, nil)
	if err != nil || rec.End != stdOffs[4] {
		t.Fatalf("first recovery: end %d err %v, want end %d", rec.End, err, stdOffs[4])
	}
	if _, end := appendSized(t, c, stdSizes[4], 99); end != stdOffs[5] {
		t.Fatalf("append of the lost record's size ends at %d, want %d", end, stdOffs[5])
	}
	c.Close()

	c = openLog(t, dir, testOptions())
	defer c.Close()
	var got []visited
	rec, err = c.Recover(0, 0, false, collect(&got))
	if err != nil {
		t.Fatal(err)
	}
	if rec.End != stdOffs[5] || len(got) != 5 {
		t.Fatalf("second recovery: end %d, %d records; want end %d, 5 records (the stale record came back)", rec.End, len(got), stdOffs[5])
	}
}
