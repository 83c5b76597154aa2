package index

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
)

// Index is the key index of one store: an ordered list of index files in one directory.
type Index struct {
	dir  string
	opts Options // defaults applied
	log  *slog.Logger

	mu       sync.RWMutex
	files    []*file    // sorted by beginPhyOffset; the last one takes new entries
	end      int64      // last record whose keys are all indexed; -1 if none
	cur      int64      // record being indexed; -1 if none
	gathered []gathered // entries Put took and has not written yet, in Put order (see write)
	closed   bool
	touched  byte // what write's look-ahead read, kept so that the reads are not dropped
}

// gathered is an entry Put took: the key's hash, and its record.
type gathered struct {
	hash      uint32
	phyOffset int64
	ts        int64
}

// putBatch is how many entries Put gathers before it writes them.
const putBatch = 16

// Open loads the index files in dir, creating dir if needed. Files are taken in name order; a file
// of the wrong size (ErrOptionsMismatch) or with a header out of range (ErrCorrupt) is an error
// naming the file. Trailing files with an all-zero header, left by a power loss right after they
// were created, are deleted.
func Open(dir string, opts Options) (*Index, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	x := &Index{dir: dir, opts: opts, log: opts.Logger, end: -1, cur: -1}
	fail := func(err error) (*Index, error) {
		for _, f := range x.files {
			f.m.Close()
		}
		return nil, err
	}
	for _, de := range des { // os.ReadDir sorts by name, so by offset
		name := de.Name()
		if de.IsDir() || len(name) != NameLen {
			continue
		}
		begin, err := strconv.ParseInt(name, 10, 64)
		if err != nil || begin < 0 || Name(begin) != name {
			continue
		}
		f, err := openFile(dir, opts, begin)
		if err != nil {
			return fail(err)
		}
		x.files = append(x.files, f)
	}
	for n := len(x.files); n > 0 && x.files[n-1].h.isZero(); n-- {
		f := x.files[n-1]
		x.log.Warn("index: deleting file with an empty header", "file", f.path())
		x.files = x.files[:n-1]
		if err := f.m.Remove(); err != nil {
			return fail(err)
		}
	}
	for _, f := range x.files {
		if f.h.isZero() {
			return fail(fmt.Errorf("index: %s: header is all zero but later files are not: %w", f.path(), ErrCorrupt))
		}
	}
	if n := len(x.files); n > 0 {
		x.end = x.files[n-1].h.endPhyOffset
	}
	x.log.Debug("index: opened", "dir", dir, "files", len(x.files), "end_offset", x.end)
	return x, nil
}

// Put indexes key of topic for the record at phyOffset stored at storeTimestamp (ms). It must be
// called by one goroutine, in increasing phyOffset order, with all keys of a record in consecutive
// calls. A record already indexed is skipped and Put returns nil; see "Idempotent re-dispatch" in
// the package doc for the exact rule. Put does not allocate except when it creates a file (and at
// its first call).
//
// Put gathers putBatch entries before it writes them (write), so an error may come from the
// entry of an earlier call: it names that entry's record. Every other method writes the entries
// gathered first, so none of them can tell that an entry waits: a Query after a Put finds it.
func (x *Index) Put(topic, key []byte, phyOffset, storeTimestamp int64) error {
	if phyOffset < 0 {
		return fmt.Errorf("index: put at negative offset %d", phyOffset)
	}
	h := hashKey(topic, key)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return ErrClosed
	}
	x.gathered = append(x.gathered, gathered{hash: h, phyOffset: phyOffset, ts: storeTimestamp})
	if len(x.gathered) < putBatch {
		return nil
	}
	return x.write()
}

// write writes the entries Put gathered, in order, and returns the first error. It first reads
// the hash slot of each in the newest file: a slot is a random place in 20 MB, a cache miss and
// usually a TLB miss (dearer still under a hypervisor), and entry by entry, between the rest of
// the dispatcher's work on a record, each miss stalled alone; read one after the other, they
// overlap, and the writes then find the slots in the cache. x.mu is held for writing.
func (x *Index) write() error {
	if len(x.gathered) == 0 {
		return nil
	}
	if n := len(x.files); n > 0 {
		x.touched += x.files[n-1].touch(x.gathered)
	}
	var first error
	for _, p := range x.gathered {
		if err := x.put(p.hash, p.phyOffset, p.ts); err != nil && first == nil {
			first = err
		}
	}
	x.gathered = x.gathered[:0]
	return first
}

// writeGathered is write for the methods other than Put: they do not report the entries'
// errors, which are logged, as the dispatcher logs Put's. x.mu is held for writing.
func (x *Index) writeGathered() {
	if err := x.write(); err != nil {
		x.log.Warn("index: put failed", "err", err)
	}
}

// lockWritten takes x.mu for reading once no entry waits to be written.
func (x *Index) lockWritten() {
	x.mu.RLock()
	if len(x.gathered) == 0 {
		return
	}
	x.mu.RUnlock()
	x.mu.Lock()
	x.writeGathered() // none once closed: Close wrote them, and Put refuses
	x.mu.Unlock()
	x.mu.RLock() // Put may have taken entries again since: they are for records after these
}

// put indexes one entry (the rule of "Idempotent re-dispatch"). x.mu is held for writing.
func (x *Index) put(h uint32, phyOffset, storeTimestamp int64) error {
	if phyOffset != x.cur {
		if phyOffset <= x.end || phyOffset < x.cur {
			return nil
		}
		if x.cur >= 0 {
			x.end = x.cur
		}
		x.cur = phyOffset
	}
	n := len(x.files)
	if n == 0 || x.files[n-1].full() || x.files[n-1].before(phyOffset, storeTimestamp) {
		if err := x.roll(phyOffset, storeTimestamp); err != nil {
			return err
		}
		n++
	}
	x.files[n-1].add(h, phyOffset, storeTimestamp, x.end)
	return nil
}

// roll starts a new file for the record at phyOffset. x.mu is held.
func (x *Index) roll(phyOffset, ts int64) error {
	var old *file
	if n := len(x.files); n > 0 {
		old = x.files[n-1]
		switch {
		case old.h.beginPhyOffset == phyOffset:
			return fmt.Errorf("%w: record at %d, %d entries per file", ErrRecordTooLarge, phyOffset, x.opts.MaxIndexEntries-1)
		case old.h.beginPhyOffset > phyOffset:
			return fmt.Errorf("index: put at %d, before the newest file %s", phyOffset, old.path())
		}
	}
	f, err := createFile(x.dir, x.opts, phyOffset, ts, x.end)
	if err != nil {
		return err
	}
	x.files = append(x.files, f)
	if old != nil && old.h.endPhyOffset != x.end {
		// Records up to x.end are complete. Not phyOffset: if the new file were lost, the old
		// one's endPhyOffset would become the newest and must not cover what was in the new one.
		old.h.endPhyOffset = x.end
		old.writeHeader()
		old.dirty = true
	}
	x.log.Info("index: new file", "file", f.path(), "offset", phyOffset, "files", len(x.files))
	return nil
}

// Query returns the physical offsets of up to max records that may carry key in topic and whose
// store time may lie in [begin, end] (ms): newest file first, newest entry first within a file,
// without duplicates. Every record indexed with that key and a store time in the range is among
// them unless max is reached; the caller must check each record's key and time. max <= 0 or
// begin > end returns nothing.
func (x *Index) Query(topic, key string, max int, begin, end int64) ([]int64, error) {
	if max <= 0 || begin > end {
		return nil, nil
	}
	h := hashKey(topic, key)
	x.lockWritten()
	defer x.mu.RUnlock()
	if x.closed {
		return nil, ErrClosed
	}
	var out []int64
	var seen map[int64]struct{}
	for i := len(x.files) - 1; i >= 0 && len(out) < max; i-- {
		f := x.files[i]
		if f.h.endTimestamp < begin || end < f.h.beginTimestamp {
			continue
		}
		out, seen = f.lookup(h, f.timeDiff(begin), f.timeDiff(end), out, seen, max)
	}
	return out, nil
}

// EndPhyOffset returns the physical offset of the last record indexed, -1 if none: the record in
// progress if there is one, else the last complete record.
func (x *Index) EndPhyOffset() int64 {
	x.lockWritten()
	defer x.mu.RUnlock()
	return max(x.end, x.cur)
}

// EndTimestamp returns the largest store time (ms) indexed in the newest file, 0 if there is none
// (RocketMQ's indexLastUpdateTimestamp).
func (x *Index) EndTimestamp() int64 {
	x.lockWritten()
	defer x.mu.RUnlock()
	if n := len(x.files); n > 0 {
		return x.files[n-1].h.endTimestamp
	}
	return 0
}

// ResetEnd is called by recovery after the CommitLog was truncated at phyOffset. Files whose
// beginPhyOffset >= phyOffset are deleted and the newest remaining file's endPhyOffset is lowered
// below phyOffset, so that the records from phyOffset on are indexed again. Entries already in that
// file pointing at or beyond phyOffset stay; Query's callers verify every record anyway. The record
// in progress, if any, is forgotten.
func (x *Index) ResetEnd(phyOffset int64) error {
	phyOffset = max(phyOffset, 0)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return ErrClosed
	}
	x.writeGathered()
	var errs []error
	for n := len(x.files); n > 0 && x.files[n-1].h.beginPhyOffset >= phyOffset; n-- {
		f := x.files[n-1]
		x.files = x.files[:n-1]
		x.log.Info("index: deleting file after truncation", "file", f.path(), "offset", phyOffset)
		if err := f.m.Remove(); err != nil {
			errs = append(errs, fmt.Errorf("index: %w", err))
		}
	}
	x.end, x.cur = -1, -1
	if n := len(x.files); n > 0 {
		f := x.files[n-1]
		if f.h.endPhyOffset >= phyOffset {
			f.h.endPhyOffset = phyOffset - 1
			f.writeHeader()
			f.dirty = true
		}
		x.end = f.h.endPhyOffset
	}
	return errors.Join(errs...)
}

// DeleteBefore deletes whole files, oldest first and never the newest, whose records all lie below
// minPhyOffset: a file goes when its endPhyOffset and the next file's beginPhyOffset are both
// below minPhyOffset. It stops at the first file it keeps and returns how many it deleted.
func (x *Index) DeleteBefore(minPhyOffset int64) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return 0, ErrClosed
	}
	x.writeGathered()
	n := 0
	var errs []error
	for n < len(x.files)-1 {
		f, next := x.files[n], x.files[n+1]
		if max(f.h.endPhyOffset, next.h.beginPhyOffset) >= minPhyOffset {
			break
		}
		x.log.Info("index: deleting old file", "file", f.path(), "min_offset", minPhyOffset)
		if err := f.m.Remove(); err != nil {
			errs = append(errs, fmt.Errorf("index: %w", err))
		}
		x.files[n] = nil
		n++
	}
	x.files = x.files[n:]
	return n, errors.Join(errs...)
}

// Files returns the number of index files.
func (x *Index) Files() int {
	x.lockWritten()
	defer x.mu.RUnlock()
	return len(x.files)
}

// syncJob is a file to sync up to a byte position, with a reference held.
type syncJob struct {
	f  *file
	to int64
}

// dirtyFiles returns the files written since the last Flush, marks them clean and takes a
// reference to each. x.mu is held for writing.
func (x *Index) dirtyFiles() []syncJob {
	var jobs []syncJob
	for _, f := range x.files {
		if f.dirty && f.m.Acquire() {
			f.dirty = false
			jobs = append(jobs, syncJob{f: f, to: f.used()})
		}
	}
	return jobs
}

// sync syncs the jobs and releases their references. Files that fail are marked dirty again.
func (x *Index) sync(jobs []syncJob) error {
	var errs []error
	for _, j := range jobs {
		if err := j.f.m.Sync(0, j.to); err != nil {
			errs = append(errs, fmt.Errorf("index: flush: %w", err))
			x.mu.Lock()
			j.f.dirty = true
			x.mu.Unlock()
		}
		j.f.m.Release()
	}
	return errors.Join(errs...)
}

// Flush writes every file written since the last Flush (header, slots and used entries) back to
// disk and waits for the device.
func (x *Index) Flush() error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return ErrClosed
	}
	x.writeGathered()
	jobs := x.dirtyFiles()
	x.mu.Unlock()
	return x.sync(jobs)
}

// Close marks the record in progress complete, flushes and unmaps every file. It must not be
// called while a Put is running, nor between two Put calls for the keys of one record: the next
// Open takes that record as fully indexed. Close is idempotent.
func (x *Index) Close() error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil
	}
	x.writeGathered()
	if n := len(x.files); n > 0 && x.cur > x.end {
		f := x.files[n-1]
		x.end = x.cur
		f.h.endPhyOffset = x.end
		f.writeHeader()
		f.dirty = true
	}
	x.cur = -1
	jobs := x.dirtyFiles()
	files := x.files
	x.files = nil
	x.closed = true
	x.mu.Unlock()
	err := x.sync(jobs)
	for _, f := range files {
		f.m.Close()
	}
	return err
}
