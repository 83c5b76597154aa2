package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/segment"
)

// ErrCorrupt is wrapped by every *CorruptionError.
var ErrCorrupt = errors.New("commitlog: corrupt data below the durable mark")

// ErrInvalidRecord, returned (wrapped) by a Recover visit function, marks the record as bad: the
// scan treats it like a CRC mismatch (a torn tail above the durable mark, corruption below).
var ErrInvalidRecord = errors.New("commitlog: invalid record")

// CorruptionError reports a bad record in data that a flush had covered.
type CorruptionError struct {
	Offset  int64  // physical offset of the first bad byte
	Segment string // file holding it
	Durable int64  // the durable mark it lies below
	Err     error  // what is wrong with it
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("commitlog: corrupt record at offset %d in %s (data up to %d was flushed): %v", e.Offset, e.Segment, e.Durable, e.Err)
}

// Unwrap lets errors.Is match both ErrCorrupt and the underlying decoding error.
func (e *CorruptionError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// Recovery describes what Recover found.
type Recovery struct {
	From    int64 // where the scan started
	End     int64 // the end of valid data: the log's new MaxOffset
	Records int   // valid records scanned
	Removed int   // segments deleted after the end
	// Corruption is set when corrupt data below the durable mark was cut because the caller
	// allowed it.
	Corruption *CorruptionError
	// TornTail describes the bad or partial record found above the durable mark, if any.
	TornTail error
}

// Recover finds the end of the valid data, starting at from (a record boundary; below MinOffset
// means MinOffset) and checking every record's structure and body CRC. visit is called for each
// valid record in order; its error stops the scan and is returned. A bad record below durable is
// corruption: Recover returns a *CorruptionError and changes nothing, unless truncateCorrupt is
// set, in which case the log is cut there and the error is reported in Recovery.Corruption. visit
// may reject a record the CRC cannot vouch for by returning an error wrapping ErrInvalidRecord. A bad
// record at or above durable is a torn tail and is cut. The recovered data is then flushed, and
// the log's MaxOffset and FlushedOffset are set to its end.
func (c *CommitLog) Recover(from, durable int64, truncateCorrupt bool, visit func(message.View) error) (Recovery, error) {
	segs := c.q.Segments()
	rec := Recovery{From: from}
	if len(segs) == 0 {
		rec.From, rec.End = 0, 0
		if from > 0 {
			// Everything was deleted or never written: start where the caller expects.
			aligned := from - from%c.opts.SegmentSize
			rec.From, rec.End = aligned, aligned
		}
		c.setEnd(rec.End)
		return rec, nil
	}
	if from < segs[0].Start {
		from = segs[0].Start
	}
	last := segs[len(segs)-1]
	if from > last.End() {
		from = last.End()
	}
	rec.From = from

	pos := from
	var bad error
scan:
	for i := range segs {
		s := segs[i]
		if pos >= s.End() {
			continue
		}
		data := s.Bytes()
		for {
			rel := pos - s.Start
			left := s.Size() - rel
			if left < message.BlankHeaderSize {
				bad = fmt.Errorf("%d bytes left at the end of segment %s, no room for a blank marker", left, segment.Name(s.Start))
				break scan
			}
			b := data[rel:]
			if binary.BigEndian.Uint64(b) == 0 {
				break scan // zero size and magic: the end of the written data
			}
			v, err := message.Parse(b)
			if errors.Is(err, message.ErrBlank) {
				if n := message.BlankSize(b); int64(n) != left {
					bad = fmt.Errorf("blank marker of %d bytes, segment has %d left", n, left)
					break scan
				}
				pos = s.End()
				if i == len(segs)-1 {
					break scan // the next record starts a new segment
				}
				break // next segment
			}
			if err == nil {
				err = v.CheckCRC()
			}
			if err == nil && v.PhysicalOffset() != pos {
				err = fmt.Errorf("record says physical offset %d", v.PhysicalOffset())
			}
			if err == nil && int64(v.Size())+message.BlankHeaderSize > left {
				// Append never writes this: the segment could not be ended with a blank marker.
				err = fmt.Errorf("record of %d bytes leaves no room for a blank marker in the %d bytes left", v.Size(), left)
			}
			if err != nil {
				bad = err
				break scan
			}
			if visit != nil {
				if err := visit(v); errors.Is(err, ErrInvalidRecord) {
					bad = err
					break scan
				} else if err != nil {
					return rec, err
				}
			}
			rec.Records++
			pos += int64(v.Size())
		}
	}
	rec.End = pos
	if bad != nil || pos < durable {
		if bad == nil {
			bad = errors.New("the log ends here")
		}
		if pos < durable {
			seg := c.q.Find(pos)
			name := ""
			if seg != nil {
				name = seg.Path()
			}
			ce := &CorruptionError{Offset: pos, Segment: name, Durable: durable, Err: bad}
			if !truncateCorrupt {
				return rec, ce
			}
			rec.Corruption = ce
			c.log.Error("commitlog corruption below the durable mark: truncating", "offset", pos, "durable", durable, "err", bad)
		} else {
			rec.TornTail = bad
			c.log.Warn("commitlog torn tail: truncating", "offset", pos, "err", bad)
		}
	}
	// Cut every later segment and clear the rest of the last one, so that zeros mark the end
	// again: stale records left beyond the end (after a lost page, say) must never line up with
	// a later append and come back at the next recovery. Clearing keeps the segment's blocks
	// allocated (mmap.File.Zero) and costs next to nothing where the tail was never written.
	for _, s := range segs {
		if s.Start >= pos {
			rec.Removed++
		}
	}
	if err := c.q.TruncateFrom(pos); err != nil {
		return rec, fmt.Errorf("commitlog: truncate at %d: %w", pos, err)
	}
	if err := c.q.Sync(min(durable, pos), pos); err != nil {
		return rec, fmt.Errorf("commitlog: flush recovered data: %w", err)
	}
	c.setEnd(pos)
	return rec, nil
}
