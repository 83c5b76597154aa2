package commitlog

import (
	"fmt"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/segment"
)

// Read returns size bytes of the log at phyOffset, aliasing the mapping, and the segment that
// holds them with a reference taken: the caller must call seg.Release when done with the bytes.
// The range must lie below MaxOffset and inside one segment.
func (c *CommitLog) Read(phyOffset int64, size int) (b []byte, seg *segment.Segment, err error) {
	if size <= 0 || phyOffset < 0 || phyOffset+int64(size) > c.writeOff.Load() {
		return nil, nil, fmt.Errorf("%w: [%d,+%d) outside [%d,%d)", ErrOutOfRange, phyOffset, size, c.MinOffset(), c.MaxOffset())
	}
	seg = c.q.Acquire(phyOffset)
	if seg == nil {
		return nil, nil, fmt.Errorf("%w: no segment holds %d (min %d)", ErrOutOfRange, phyOffset, c.MinOffset())
	}
	rel := phyOffset - seg.Start
	if rel+int64(size) > seg.Size() {
		seg.Release()
		return nil, nil, fmt.Errorf("%w: [%d,+%d) crosses the end of segment %d", ErrOutOfRange, phyOffset, size, seg.Start)
	}
	if phyOffset < c.evicted.Load() {
		c.readEvicted(phyOffset + int64(size))
	}
	return seg.Bytes()[rel : rel+int64(size)], seg, nil
}

// ReadRecord returns the record at phyOffset, its structure validated (not its CRC), and the
// referenced segment the caller must Release.
func (c *CommitLog) ReadRecord(phyOffset int64) (message.View, *segment.Segment, error) {
	max := c.writeOff.Load()
	if phyOffset < 0 || phyOffset >= max {
		return nil, nil, fmt.Errorf("%w: %d outside [%d,%d)", ErrOutOfRange, phyOffset, c.MinOffset(), max)
	}
	seg := c.q.Acquire(phyOffset)
	if seg == nil {
		return nil, nil, fmt.Errorf("%w: no segment holds %d (min %d)", ErrOutOfRange, phyOffset, c.MinOffset())
	}
	rel := phyOffset - seg.Start
	end := min(seg.Size(), max-seg.Start)
	if phyOffset < c.evicted.Load() {
		c.readEvicted(phyOffset + 1)
	}
	v, err := message.Parse(seg.Bytes()[rel:end])
	if err != nil {
		seg.Release()
		return nil, nil, fmt.Errorf("commitlog: record at %d: %w", phyOffset, err)
	}
	return v, seg, nil
}
