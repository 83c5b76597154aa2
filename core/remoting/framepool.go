package remoting

import (
	"math/bits"
	"sync"
)

// Frames are read into buffers recycled by size class: four classes per power of two (so a
// buffer is at most a quarter larger than its frame) from 512 B to eagerAlloc. A frame without
// a body gives its buffer back as soon as its header is decoded (the decoded header keeps
// copies, never slices of it); one with a body hands it to its Command, whose owner gives it
// back with Recycle once nothing refers to the body, or leaves it to the garbage collector. At
// the broker the frames of sends are most of what it allocates: a 4 KiB batch of 16 is a
// 64 KiB buffer that would otherwise be allocated, zeroed and collected for each request.
const (
	minFrameShift = 9  // the smallest class: 512 B
	maxFrameShift = 18 // the largest: eagerAlloc
	frameSteps    = 4  // classes per power of two
)

var framePools [(maxFrameShift-minFrameShift)*frameSteps + 1]sync.Pool

// frameClass returns the class of the smallest buffers that hold n bytes and their size, or
// -1 if n is beyond the largest class.
func frameClass(n int) (class, size int) {
	switch {
	case n <= 1<<minFrameShift:
		return 0, 1 << minFrameShift
	case n > 1<<maxFrameShift:
		return -1, 0
	}
	e := bits.Len(uint(n-1)) - 1 // 1<<e < n <= 1<<(e+1)
	step := 1 << (e - 2)
	sub := (n - 1<<e + step - 1) / step // 1 to frameSteps
	return (e-minFrameShift)*frameSteps + sub, 1<<e + sub*step
}

// GetBuffer returns a buffer of length n from the pools frames are read into (its bytes are
// left over from earlier use), or nil if n is beyond eagerAlloc (256 KiB). Besides the frame
// reader, a writer that builds a large body (a client's batch) takes one here and gives it
// back with PutBuffer once the body is written: the pools serve both ends of a connection.
func GetBuffer(n int) *[]byte {
	c, size := frameClass(n)
	if c < 0 {
		return nil
	}
	if p, _ := framePools[c].Get().(*[]byte); p != nil {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, size)
	return &b
}

// PutBuffer gives back a buffer from GetBuffer; nothing may use it afterwards. A buffer whose
// capacity is not a class's size (not from GetBuffer) is left to the collector; nil (what
// GetBuffer returns beyond the pooled sizes) is ignored.
func PutBuffer(p *[]byte) {
	if p == nil {
		return
	}
	if c, size := frameClass(cap(*p)); c >= 0 && size == cap(*p) {
		framePools[c].Put(p)
	}
}

// Recycle gives back the buffer a received command was read into, for a later frame, and sets
// Body to nil. Call it only once nothing refers to Body any more (its bytes were copied where
// they are kept, and no response or queued write points into it): a slice of it kept past
// Recycle would see another frame's bytes. On a command that holds no such buffer (one built
// locally, or recycled already) it does nothing. Commands that are not recycled are simply
// collected.
func (c *Command) Recycle() {
	if c.frame != nil {
		p := c.frame
		c.frame, c.Body = nil, nil
		PutBuffer(p)
	}
}
