// Package segment keeps an ordered set of fixed-size, memory-mapped segment files that together
// hold one logical byte stream: the CommitLog, or one ConsumeQueue.
//
// # On disk
//
// Every file in the directory is named by the logical offset of its first byte, as 20 decimal
// digits zero-padded (wire format, never change): 00000000000000000000, 00000000001073741824, …
// All files have the same size, and the name of each file is the previous name plus that size,
// so the stream is contiguous from the first file to the end of the last. The first file may
// start above 0 once older files have been deleted.
//
// # Concurrency
//
// A Queue's list of segments is guarded by a read-write mutex; looking a segment up takes the
// read lock only. Writing into a segment's bytes is the owner's business (the CommitLog has one
// writer). Readers that keep slices of a segment past the look-up take a reference (Acquire)
// and drop it (Release) when done, so deleting an old segment never pulls data from under them.
package segment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/ternmq/tern/core/store/mmap"
)

// ErrGap is returned by Open when the files in a directory do not form a contiguous stream.
var ErrGap = errors.New("segment: files are not contiguous")

// NameLen is the length of a segment file name (wire format, never change).
const NameLen = 20

// Name returns the file name of the segment that starts at offset.
func Name(offset int64) string { return fmt.Sprintf("%020d", offset) }

// isName reports whether name is a segment file name: exactly NameLen decimal digits (no sign,
// which strconv.ParseInt would accept).
func isName(name string) bool {
	if len(name) != NameLen {
		return false
	}
	for i := range len(name) {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return true
}

// Segment is one mapped file and the logical offset of its first byte.
type Segment struct {
	*mmap.File
	Start int64
}

// End returns the logical offset just past the segment.
func (s *Segment) End() int64 { return s.Start + s.Size() }

// Queue is the ordered list of a stream's segments.
type Queue struct {
	dir      string
	size     int64
	prealloc bool

	mu   sync.RWMutex
	segs []*Segment // sorted by Start, contiguous
}

// Open loads the segments already in dir (creating dir if needed). Files whose names are not
// 20 digits are ignored; a file of the wrong size or a gap between files is an error.
func Open(dir string, size int64, prealloc bool) (*Queue, error) {
	if size <= 0 {
		return nil, fmt.Errorf("segment: %s: size %d must be positive", dir, size)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	var starts []int64
	for _, e := range entries {
		name := e.Name()
		if base, ok := strings.CutSuffix(name, mmap.TempSuffix); ok && isName(base) && !e.IsDir() {
			os.Remove(filepath.Join(dir, name)) // a Create that a crash interrupted
			continue
		}
		if e.IsDir() || !isName(name) {
			continue
		}
		start, err := strconv.ParseInt(name, 10, 64)
		if err != nil || start < 0 {
			continue
		}
		starts = append(starts, start)
	}
	slices.Sort(starts)
	q := &Queue{dir: dir, size: size, prealloc: prealloc}
	for i, start := range starts {
		if i > 0 && start != starts[i-1]+size {
			q.Close()
			return nil, fmt.Errorf("%w: %s: %s follows %s", ErrGap, dir, Name(start), Name(starts[i-1]))
		}
		if start%size != 0 {
			q.Close()
			return nil, fmt.Errorf("segment: %s: %s is not a multiple of the segment size %d", dir, Name(start), size)
		}
		f, err := mmap.Open(filepath.Join(dir, Name(start)), size)
		if err != nil {
			q.Close()
			return nil, fmt.Errorf("segment: %w", err)
		}
		q.segs = append(q.segs, &Segment{File: f, Start: start})
	}
	return q, nil
}

// Dir returns the queue's directory.
func (q *Queue) Dir() string { return q.dir }

// SegmentSize returns the size of every segment.
func (q *Queue) SegmentSize() int64 { return q.size }

// Len returns the number of segments.
func (q *Queue) Len() int {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return len(q.segs)
}

// Segments returns a snapshot of the segment list, oldest first.
func (q *Queue) Segments() []*Segment {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return slices.Clone(q.segs)
}

// First returns the oldest segment, or nil.
func (q *Queue) First() *Segment {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if len(q.segs) == 0 {
		return nil
	}
	return q.segs[0]
}

// Last returns the newest segment, or nil.
func (q *Queue) Last() *Segment {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if len(q.segs) == 0 {
		return nil
	}
	return q.segs[len(q.segs)-1]
}

// MinOffset returns the first logical offset still on disk (0 when empty).
func (q *Queue) MinOffset() int64 {
	if s := q.First(); s != nil {
		return s.Start
	}
	return 0
}

// Find returns the segment that holds offset, or nil. The segment may be removed concurrently;
// use Acquire to keep it.
func (q *Queue) Find(offset int64) *Segment {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.find(offset)
}

func (q *Queue) find(offset int64) *Segment {
	if len(q.segs) == 0 || offset < q.segs[0].Start {
		return nil
	}
	i := int((offset - q.segs[0].Start) / q.size)
	if i >= len(q.segs) {
		return nil
	}
	return q.segs[i]
}

// Acquire returns the segment that holds offset with a reader's reference taken, or nil. The
// caller must Release it.
func (q *Queue) Acquire(offset int64) *Segment {
	q.mu.RLock()
	defer q.mu.RUnlock()
	s := q.find(offset)
	if s == nil || !s.File.Acquire() {
		return nil
	}
	return s
}

// Create adds a new segment starting at start, which must be a multiple of the segment size and,
// unless the queue is empty, the end of the last segment.
func (q *Queue) Create(start int64) (*Segment, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.createLocked(start)
}

// Ensure is Create for callers that may race with another creating the same segment: when the
// last segment starts at start, it returns that segment instead of failing.
func (q *Queue) Ensure(start int64) (*Segment, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := len(q.segs); n > 0 && q.segs[n-1].Start == start {
		return q.segs[n-1], nil
	}
	return q.createLocked(start)
}

// createLocked is Create with q.mu held.
func (q *Queue) createLocked(start int64) (*Segment, error) {
	if start%q.size != 0 {
		return nil, fmt.Errorf("segment: %s: start %d is not a multiple of %d", q.dir, start, q.size)
	}
	if n := len(q.segs); n > 0 && q.segs[n-1].End() != start {
		return nil, fmt.Errorf("%w: %s: new segment %s after %s", ErrGap, q.dir, Name(start), Name(q.segs[n-1].Start))
	}
	f, err := mmap.Create(filepath.Join(q.dir, Name(start)), q.size, q.prealloc)
	if err != nil {
		return nil, fmt.Errorf("segment: %w", err)
	}
	s := &Segment{File: f, Start: start}
	q.segs = append(q.segs, s)
	return s, nil
}

// TruncateFrom makes offset the end of the stream: later segments are deleted and the rest of
// the segment holding offset is zeroed. Truncating at or before the first segment's start
// deletes everything.
func (q *Queue) TruncateFrom(offset int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var errs []error
	keep := len(q.segs)
	for keep > 0 && q.segs[keep-1].Start >= offset {
		keep--
	}
	for _, s := range q.segs[keep:] {
		errs = append(errs, s.Remove())
	}
	q.segs = q.segs[:keep]
	if keep > 0 {
		s := q.segs[keep-1]
		if offset < s.End() {
			errs = append(errs, s.Zero(offset-s.Start, s.Size()))
		}
	}
	return errors.Join(errs...)
}

// SyncDir makes the directory's entries durable (after TruncateFrom deleted files, say: an
// unlinked segment must not come back after a power loss).
func (q *Queue) SyncDir() error {
	d, err := os.Open(q.dir)
	if err != nil {
		return fmt.Errorf("segment: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("segment: sync %s: %w", q.dir, err)
	}
	return nil
}

// RemoveHead deletes up to max of the oldest segments for which remove returns true, stopping at
// the first one it keeps, and never deletes the last segment. It returns how many it deleted.
func (q *Queue) RemoveHead(max int, remove func(*Segment) bool) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	var errs []error
	for n < max && n < len(q.segs)-1 && remove(q.segs[n]) {
		errs = append(errs, q.segs[n].Remove())
		n++
	}
	q.segs = slices.Delete(q.segs, 0, n)
	return n, errors.Join(errs...)
}

// RemoveAll deletes every segment and the directory if it is then empty.
func (q *Queue) RemoveAll() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var errs []error
	for _, s := range q.segs {
		errs = append(errs, s.Remove())
	}
	q.segs = nil
	// Other files in the directory are not ours to delete: leave a non-empty directory.
	if err := os.Remove(q.dir); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Sync flushes [from, to) of the stream to disk, across segment boundaries.
func (q *Queue) Sync(from, to int64) error {
	return q.Range(from, to, (*Segment).Sync)
}

// Range calls fn, oldest first, for each segment holding part of the stream's [from, to), with
// that part as offsets from the segment's start and a reference held; segments already closed
// are skipped. It stops at fn's first error and returns it.
func (q *Queue) Range(from, to int64, fn func(s *Segment, from, to int64) error) error {
	for _, s := range q.Segments() {
		if s.End() <= from || s.Start >= to {
			continue
		}
		if !s.File.Acquire() {
			continue
		}
		err := fn(s, max(from, s.Start)-s.Start, min(to, s.End())-s.Start)
		s.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// Close unmaps every segment (readers holding references keep theirs).
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range q.segs {
		s.Close()
	}
	q.segs = nil
}
