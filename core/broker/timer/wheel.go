package timer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ternmq/tern/core/store/mmap"
	"github.com/ternmq/tern/core/store/segment"
)

// Sizes and the magic of the files (wire format, never change).
const (
	entrySize = 32
	slotSize  = 24
	magic     = 0x54494D52 // "TIMR"
	precision = 1000       // ms per slot
)

// entry is one timer: a message due at at, parked at phy.
type entry struct {
	at   int64
	phy  int64
	size int32
	pos  int64 // its log position (not stored)
}

// wheel is the timer log and the slot file. It is not safe for concurrent use: the wheel loop
// owns it.
type wheel struct {
	log   *segment.Queue
	slots *mmap.File
	n     int64 // number of slots
	end   int64 // log end: the next entry's position
}

func openWheel(root string, slots int64, segSize int64) (*wheel, error) {
	if segSize%entrySize != 0 {
		return nil, fmt.Errorf("timer: log segment size %d is not a multiple of %d", segSize, entrySize)
	}
	// Both files are written through their mappings: their blocks are reserved as they are
	// created, so that a full filesystem fails the creation instead of raising SIGBUS on a store.
	q, err := segment.Open(filepath.Join(root, "timerlog"), segSize, true)
	if err != nil {
		return nil, fmt.Errorf("timer: %w", err)
	}
	path := filepath.Join(root, "timerwheel")
	f, err := mmap.Open(path, slots*slotSize)
	if errors.Is(err, os.ErrNotExist) {
		f, err = mmap.Create(path, slots*slotSize, true)
	}
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("timer: %w (delete it to rebuild it from the log if the horizon changed)", err)
	}
	w := &wheel{log: q, slots: f, n: slots}
	if last := q.Last(); last != nil {
		w.end = last.End()
	}
	return w, nil
}

func (w *wheel) close() {
	w.log.Close()
	w.slots.Close()
}

// slot returns the bytes of second sec's slot.
func (w *wheel) slot(sec int64) []byte {
	i := (sec / precision) % w.n
	if i < 0 { // a corrupt checkpoint or log entry: never index outside the file
		i += w.n
	}
	return w.slots.Bytes()[i*slotSize : (i+1)*slotSize]
}

// chain returns the last log position and the count of second sec's slot, -1 and 0 when empty.
func (w *wheel) chain(sec int64) (last, count int64) {
	b := w.slot(sec)
	if int64(binary.BigEndian.Uint64(b)) != sec {
		return -1, 0
	}
	return int64(binary.BigEndian.Uint64(b[8:])), int64(binary.BigEndian.Uint64(b[16:]))
}

// add appends e to the log and links it into its slot.
func (w *wheel) add(e entry) (int64, error) {
	sec := e.at - e.at%precision
	prev, count := w.chain(sec)
	seg := w.log.Last()
	if seg == nil || w.end >= seg.End() {
		var err error
		if seg, err = w.log.Create(w.end); err != nil {
			return 0, fmt.Errorf("timer: %w", err)
		}
	}
	pos := w.end
	var b [entrySize]byte
	binary.BigEndian.PutUint64(b[0:], uint64(prev))
	binary.BigEndian.PutUint64(b[8:], uint64(e.at))
	binary.BigEndian.PutUint64(b[16:], uint64(e.phy))
	binary.BigEndian.PutUint32(b[24:], uint32(e.size))
	binary.BigEndian.PutUint32(b[28:], magic)
	copy(seg.Bytes()[pos-seg.Start:], b[:])
	w.end += entrySize
	s := w.slot(sec)
	binary.BigEndian.PutUint64(s, uint64(sec))
	binary.BigEndian.PutUint64(s[8:], uint64(pos))
	binary.BigEndian.PutUint64(s[16:], uint64(count+1))
	return pos, nil
}

// read returns the entry at log position pos and its prev link.
func (w *wheel) read(pos int64) (entry, int64, error) {
	seg := w.log.Find(pos)
	if seg == nil || pos < 0 || pos%entrySize != 0 || pos+entrySize > w.end {
		return entry{}, 0, fmt.Errorf("timer: log position %d out of range", pos)
	}
	b := seg.Bytes()[pos-seg.Start : pos-seg.Start+entrySize]
	if binary.BigEndian.Uint32(b[28:]) != magic {
		return entry{}, 0, fmt.Errorf("timer: log position %d: bad magic", pos)
	}
	e := entry{
		at: int64(binary.BigEndian.Uint64(b[8:])), phy: int64(binary.BigEndian.Uint64(b[16:])),
		size: int32(binary.BigEndian.Uint32(b[24:])), pos: pos,
	}
	return e, int64(binary.BigEndian.Uint64(b)), nil
}

// load returns the entries of second sec's slot.
func (w *wheel) load(sec int64) ([]entry, error) {
	pos, count := w.chain(sec)
	// The count and the links come from files: a chain is never longer than the log, and
	// each link goes back.
	count = max(min(count, (w.end-w.log.MinOffset())/entrySize), 0)
	out := make([]entry, 0, count)
	for pos >= 0 && int64(len(out)) < count {
		if pos < w.log.MinOffset() {
			break // the rest of the chain was in deleted segments: fired long ago
		}
		e, prev, err := w.read(pos)
		if err != nil {
			return out, err
		}
		out = append(out, e)
		if int64(len(out)) < count && prev >= pos {
			return out, fmt.Errorf("timer: log position %d: link to %d does not go back", pos, prev)
		}
		pos = prev
	}
	return out, nil
}

// truncate cuts the log back to end (entries after it are made again from the inbox).
func (w *wheel) truncate(end int64) error {
	if end >= w.end {
		return nil
	}
	if err := w.log.TruncateFrom(end); err != nil {
		return fmt.Errorf("timer: truncate log to %d: %w", end, err)
	}
	w.end = end
	return nil
}

// rebuild clears the slots and links every log entry due at or after from into them again,
// rewriting the entries' prev links, and returns the latest delivery time of each segment.
func (w *wheel) rebuild(from int64) (map[int64]int64, error) {
	clear(w.slots.Bytes())
	maxAt := map[int64]int64{}
	for pos := w.log.MinOffset(); pos < w.end; pos += entrySize {
		e, _, err := w.read(pos)
		if err != nil {
			return nil, err
		}
		seg := w.log.Find(pos)
		maxAt[seg.Start] = max(maxAt[seg.Start], e.at)
		if e.at < from {
			continue
		}
		sec := e.at - e.at%precision
		prev, count := w.chain(sec)
		binary.BigEndian.PutUint64(seg.Bytes()[pos-seg.Start:], uint64(prev))
		s := w.slot(sec)
		binary.BigEndian.PutUint64(s, uint64(sec))
		binary.BigEndian.PutUint64(s[8:], uint64(pos))
		binary.BigEndian.PutUint64(s[16:], uint64(count+1))
	}
	return maxAt, nil
}

// sync flushes the log up to its end and the slots.
func (w *wheel) sync(from int64) error {
	if err := w.log.Sync(from, w.end); err != nil {
		return fmt.Errorf("timer: sync log: %w", err)
	}
	if err := w.slots.Sync(0, w.slots.Size()); err != nil {
		return fmt.Errorf("timer: sync wheel: %w", err)
	}
	return nil
}

// removeBefore deletes the head segments whose every entry is due before firedUpTo.
func (w *wheel) removeBefore(maxAt map[int64]int64, firedUpTo int64) (int, error) {
	n, err := w.log.RemoveHead(64, func(s *segment.Segment) bool {
		at, ok := maxAt[s.Start]
		return ok && at < firedUpTo && s.End() <= w.end
	})
	for k := range maxAt {
		if k < w.log.MinOffset() {
			delete(maxAt, k)
		}
	}
	return n, err
}
