package commitlog

import (
	"fmt"
	"slices"

	"github.com/ternmq/tern/core/message"
)

// End returns the writer's end, where the next append goes: MaxOffset, or beyond it while a
// Buffered write waits for its flush.
func (c *CommitLog) End() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reserved
}

// AppendAt writes data, bytes of another log (a replication master's) that the caller has
// checked, at offset: whole records, possibly ending with a blank marker, all inside the segment
// that holds offset. With fill the log's end after the write is the end of that segment (data
// ends with a blank marker; what data does not cover up to the segment's end is zeroed),
// otherwise offset+len(data).
//
// offset must be the end of the log (the writer's end, which is MaxOffset except while a Buffered
// write is pending), else ErrNotAtEnd. When the log has no segment at all it may instead be any
// multiple of the segment size above the end: the log then starts there (restart is true). Not
// below: a durable mark recorded for the old end could then lie above the new data.
//
// Under the writer lock, once offset is known good and the segment exists, AppendAt calls commit
// (if not nil) with restart; an error from commit cancels the write and is returned. commit must
// not block; it is where the caller updates state that must change with the log's end.
//
// Readers see the bytes once AppendAt returns (at the next flush in Buffered mode, as with
// Append). The first record's TOTALSIZE is stored last, as Append does, so a process killed in
// the middle of the copy leaves a zero size: the end of the data.
func (c *CommitLog) AppendAt(offset int64, data []byte, fill bool, commit func(restart bool) error) (end int64, err error) {
	size := c.opts.SegmentSize
	if offset < 0 || len(data) < message.BlankHeaderSize {
		return 0, fmt.Errorf("%w: %d bytes at %d", ErrOutOfRange, len(data), offset)
	}
	segEnd := offset - offset%size + size
	end = offset + int64(len(data))
	if end > segEnd {
		return 0, fmt.Errorf("%w: [%d,%d) crosses the segment end %d", ErrOutOfRange, offset, end, segEnd)
	}
	if fill {
		end = segEnd
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sealed {
		return 0, ErrClosed
	}
	if p := c.flushErr.Load(); p != nil {
		return 0, fmt.Errorf("commitlog: earlier flush failed: %w", *p)
	}
	restart := false
	if offset != c.reserved {
		if c.cur != nil || c.q.Len() > 0 || offset%size != 0 || offset < c.reserved {
			return 0, fmt.Errorf("%w: %d, the log ends at %d", ErrNotAtEnd, offset, c.reserved)
		}
		restart = true
	}
	seg, created := c.cur, false
	if seg == nil || offset == seg.End() {
		if seg, err = c.q.Create(offset); err != nil {
			return 0, fmt.Errorf("commitlog: new segment at %d: %w", offset, err)
		}
		created = true
	}
	if commit != nil {
		if err := commit(restart); err != nil {
			if created {
				// Nothing was written: the new segment goes again (it starts at offset, so no
				// older data is touched).
				if terr := c.q.TruncateFrom(offset); terr != nil {
					c.log.Error("commitlog: removing an unused segment failed", "offset", offset, "err", terr)
				}
			}
			return 0, err
		}
	}
	c.cur = seg
	if restart {
		// Empty log: it starts at offset now. Nothing is pending and nothing can be read.
		c.reserved, c.pstart, c.pbuf = offset, offset, c.pbuf[:0]
		c.flushedOff.Store(offset)
		c.writeOff.Store(offset)
	}
	if c.opts.Buffered {
		n := len(c.pbuf)
		c.pbuf = append(c.pbuf, data...)
		if fill {
			c.pbuf = slices.Grow(c.pbuf, int(end-offset)-len(data))[:n+int(end-offset)]
			clear(c.pbuf[n+len(data):])
		}
		c.reserved = end
		return end, nil
	}
	pos := offset - seg.Start
	dst := seg.Bytes()[pos : pos+int64(len(data))]
	copy(dst[4:], data[4:])
	copy(dst[:4], data[:4]) // TOTALSIZE of the first record last
	if fill {
		clear(seg.Bytes()[pos+int64(len(data)):])
	}
	c.reserved = end
	c.writeOff.Store(end)
	return end, nil
}

// Truncate makes offset the end of the log: everything at and after it is dropped. offset must
// be a record boundary (or a segment start) at or above MinOffset; at or above the writer's end
// Truncate does nothing. Data appended but not yet flushed (Buffered mode) is flushed first. The
// readable end moves back before any byte is removed; later segments are deleted and the rest of
// the segment holding offset is zeroed, and both are made durable (the zeroed range synced, the
// directory synced after a deletion), so a crash cannot bring the dropped records back. Readers
// holding segment references stay safe; bytes they read at or past offset may read as zeros.
// The caller must not append concurrently.
func (c *CommitLog) Truncate(offset int64) error {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	if _, err := c.flushLocked(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if offset >= c.reserved {
		return nil
	}
	if offset < c.q.MinOffset() || offset < 0 {
		return fmt.Errorf("%w: truncate at %d, below the minimum %d", ErrOutOfRange, offset, c.q.MinOffset())
	}
	removed := false
	for _, s := range c.q.Segments() {
		if s.Start >= offset {
			removed = true
		}
	}
	c.writeOff.Store(offset) // readers stop here first
	if c.flushedOff.Load() > offset {
		c.flushedOff.Store(offset)
	}
	c.reserved, c.pstart, c.pbuf = offset, offset, c.pbuf[:0]
	c.zeroed.Store(0) // TruncateFrom may hand the cut blocks back as unwritten
	c.warmed = 0
	c.evicted.Store(min(c.evicted.Load(), offset))
	c.unmapped = min(c.unmapped, offset)
	c.forgetReads()
	err := c.q.TruncateFrom(offset)
	c.cur = c.q.Last()
	if err != nil {
		return fmt.Errorf("commitlog: truncate at %d: %w", offset, err)
	}
	if s := c.cur; s != nil && offset < s.End() {
		if err := c.q.Sync(offset, s.End()); err != nil {
			return fmt.Errorf("commitlog: truncate at %d: %w", offset, err)
		}
	}
	if removed {
		if err := c.q.SyncDir(); err != nil {
			return fmt.Errorf("commitlog: truncate at %d: %w", offset, err)
		}
	}
	return nil
}
