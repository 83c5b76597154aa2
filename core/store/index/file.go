package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/ternmq/tern/core/store/mmap"
	"golang.org/x/sys/unix"
)

// Layout constants (wire format, never change).
const (
	HeaderSize = 40 // bytes of a file header
	SlotSize   = 4  // bytes of a hash slot
	EntrySize  = 20 // bytes of an index entry
	NameLen    = 20 // digits of a file name
)

// Header field offsets (wire format, never change).
const (
	offBeginTimestamp = 0
	offEndTimestamp   = 8
	offBeginPhyOffset = 16
	offEndPhyOffset   = 24
	offHashSlotCount  = 32
	offIndexCount     = 36
)

// Entry field offsets within an entry (wire format, never change).
const (
	offKeyHash   = 0
	offPhyOffset = 4
	offTimeDiff  = 12
	offPrevIndex = 16
)

// FNV-1a 32-bit parameters.
const (
	fnvOffset32 = 2166136261
	fnvPrime32  = 16777619
)

var (
	// ErrCorrupt is returned by Open for a file whose header is out of range.
	ErrCorrupt = errors.New("index: corrupt file")
	// ErrOptionsMismatch is returned by Open for a file whose size does not match the Options: the
	// directory was created with other MaxHashSlots or MaxIndexEntries.
	ErrOptionsMismatch = errors.New("index: file size does not match options")
	// ErrClosed is returned by calls on a closed Index.
	ErrClosed = errors.New("index: closed")
	// ErrRecordTooLarge is returned by Put when one record has more keys than a file holds.
	ErrRecordTooLarge = errors.New("index: record has more keys than a file holds")
)

// Name returns the file name for a file whose first record is at phyOffset.
func Name(phyOffset int64) string { return fmt.Sprintf("%0*d", NameLen, phyOffset) }

// hashKey is FNV-1a 32 over topic, '#', key. It does not allocate.
func hashKey[T ~string | ~[]byte](topic, key T) uint32 {
	h := uint32(fnvOffset32)
	for i := 0; i < len(topic); i++ {
		h ^= uint32(topic[i])
		h *= fnvPrime32
	}
	h ^= '#'
	h *= fnvPrime32
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= fnvPrime32
	}
	return h
}

// header is a file header in memory.
type header struct {
	beginTimestamp int64
	endTimestamp   int64
	beginPhyOffset int64
	endPhyOffset   int64
	hashSlotCount  int32
	indexCount     int32
}

// encode writes h into b[:HeaderSize].
func (h *header) encode(b []byte) {
	_ = b[HeaderSize-1]
	binary.BigEndian.PutUint64(b[offBeginTimestamp:], uint64(h.beginTimestamp))
	binary.BigEndian.PutUint64(b[offEndTimestamp:], uint64(h.endTimestamp))
	binary.BigEndian.PutUint64(b[offBeginPhyOffset:], uint64(h.beginPhyOffset))
	binary.BigEndian.PutUint64(b[offEndPhyOffset:], uint64(h.endPhyOffset))
	binary.BigEndian.PutUint32(b[offHashSlotCount:], uint32(h.hashSlotCount))
	binary.BigEndian.PutUint32(b[offIndexCount:], uint32(h.indexCount))
}

// decodeHeader reads a header from b, which must hold at least HeaderSize bytes.
func decodeHeader(b []byte) (header, error) {
	if len(b) < HeaderSize {
		return header{}, fmt.Errorf("%w: header needs %d bytes, have %d", ErrCorrupt, HeaderSize, len(b))
	}
	return header{
		beginTimestamp: int64(binary.BigEndian.Uint64(b[offBeginTimestamp:])),
		endTimestamp:   int64(binary.BigEndian.Uint64(b[offEndTimestamp:])),
		beginPhyOffset: int64(binary.BigEndian.Uint64(b[offBeginPhyOffset:])),
		endPhyOffset:   int64(binary.BigEndian.Uint64(b[offEndPhyOffset:])),
		hashSlotCount:  int32(binary.BigEndian.Uint32(b[offHashSlotCount:])),
		indexCount:     int32(binary.BigEndian.Uint32(b[offIndexCount:])),
	}, nil
}

// isZero reports whether the header was never written (a file created but not written back
// before a power loss).
func (h *header) isZero() bool { return *h == header{} }

// check validates h for a file named by begin with the given capacity. The message names the
// offending field; the caller adds the path.
func (h *header) check(begin int64, slots, entries int32) error {
	switch {
	case h.indexCount < 1 || h.indexCount > entries:
		return fmt.Errorf("indexCount %d out of range [1, %d]: %w", h.indexCount, entries, ErrCorrupt)
	case h.hashSlotCount < 0 || h.hashSlotCount > slots || h.hashSlotCount > h.indexCount-1:
		return fmt.Errorf("hashSlotCount %d out of range [0, %d] (indexCount %d): %w",
			h.hashSlotCount, min(slots, h.indexCount-1), h.indexCount, ErrCorrupt)
	case h.beginPhyOffset != begin:
		return fmt.Errorf("beginPhyOffset %d does not match the file name: %w", h.beginPhyOffset, ErrCorrupt)
	case h.endPhyOffset < -1:
		return fmt.Errorf("endPhyOffset %d below -1: %w", h.endPhyOffset, ErrCorrupt)
	case h.endTimestamp < h.beginTimestamp:
		return fmt.Errorf("endTimestamp %d before beginTimestamp %d: %w", h.endTimestamp, h.beginTimestamp, ErrCorrupt)
	}
	return nil
}

// file is one mapped index file. Its fields are guarded by the Index's mutex; h mirrors the
// header in the mapping and is written through with writeHeader.
type file struct {
	m       *mmap.File
	b       []byte // m.Bytes()
	h       header
	slots   int32 // capacity: hash slots
	entries int32 // capacity: entries, including entry 0
	dirty   bool  // written since the last Flush
}

// createFile makes a new file for the record at phyOffset stored at ts, with endPhyOffset end,
// and syncs its header so that the file is never found without one. The file's blocks are
// reserved (fallocate) as it is created: slots and entries are stored through the mapping, and
// a store into a hole that a full filesystem cannot back is a SIGBUS, which kills the broker.
// Reserved, a full disk fails the creation instead, with an error.
func createFile(dir string, opts Options, phyOffset, ts, end int64) (*file, error) {
	path := filepath.Join(dir, Name(phyOffset))
	m, err := mmap.Create(path, opts.FileSize(), true)
	if err != nil {
		return nil, fmt.Errorf("index: create file: %w", err)
	}
	adviseRandom(m)
	f := &file{
		m:       m,
		b:       m.Bytes(),
		slots:   int32(opts.MaxHashSlots),
		entries: int32(opts.MaxIndexEntries),
		h: header{
			beginTimestamp: ts,
			endTimestamp:   ts,
			beginPhyOffset: phyOffset,
			endPhyOffset:   end,
			indexCount:     1,
		},
	}
	f.writeHeader()
	if err := m.Sync(0, HeaderSize); err != nil {
		m.Remove()
		return nil, fmt.Errorf("index: create file: %w", err)
	}
	return f, nil
}

// adviseRandom tells the kernel not to read around a page fault in the file (MADV_RANDOM): slots
// are hashed and chains jump back, so the neighbours of a page are no likelier to be used next
// than any other page, and a new file's read-around would allocate and zero megabytes of it
// inside one put. A failure only costs the hint.
func adviseRandom(m *mmap.File) { _ = m.Advise(0, m.Size(), unix.MADV_RANDOM) }

// openFile maps the existing file named by begin. A file whose header is all zero is returned
// with f.h.isZero() true and not checked; any other header out of range is an error.
func openFile(dir string, opts Options, begin int64) (*file, error) {
	path := filepath.Join(dir, Name(begin))
	size := opts.FileSize()
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if st.Size() != size {
		return nil, fmt.Errorf("%w: %s has %d bytes, want %d for MaxHashSlots=%d MaxIndexEntries=%d "+
			"(reopen with the options the directory was created with)",
			ErrOptionsMismatch, path, st.Size(), size, opts.MaxHashSlots, opts.MaxIndexEntries)
	}
	m, err := mmap.Open(path, size)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	adviseRandom(m)
	f := &file{
		m:       m,
		b:       m.Bytes(),
		slots:   int32(opts.MaxHashSlots),
		entries: int32(opts.MaxIndexEntries),
	}
	f.h, err = decodeHeader(f.b)
	if err == nil && !f.h.isZero() {
		err = f.h.check(begin, f.slots, f.entries)
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("index: %s: %w", path, err)
	}
	return f, nil
}

func (f *file) path() string { return f.m.Path() }

func (f *file) writeHeader() { f.h.encode(f.b) }

func (f *file) full() bool { return f.h.indexCount >= f.entries }

// before reports whether a new record at phyOffset stored at ts is older than the file's first
// one. Such a record goes into a new file, so that every entry's time is at least the file's
// beginTimestamp. The keys of one record never roll for this reason.
func (f *file) before(phyOffset, ts int64) bool {
	return ts < f.h.beginTimestamp && phyOffset > f.h.beginPhyOffset
}

// used returns the number of bytes of the file in use: header, slots and entries below
// indexCount.
func (f *file) used() int64 { return f.entryPos(f.h.indexCount) }

func (f *file) slotPos(slot uint32) int64 { return HeaderSize + SlotSize*int64(slot) }

func (f *file) entryPos(i int32) int64 {
	return HeaderSize + SlotSize*int64(f.slots) + EntrySize*int64(i)
}

func (f *file) slot(slot uint32) int32 {
	return int32(binary.BigEndian.Uint32(f.b[f.slotPos(slot):]))
}

// touch reads the hash slot of each entry and returns a byte of what it read (see Index.write).
func (f *file) touch(g []gathered) byte {
	var b byte
	for _, p := range g {
		b += f.b[f.slotPos(p.hash%uint32(f.slots))]
	}
	return b
}

func (f *file) setSlot(slot uint32, i int32) {
	binary.BigEndian.PutUint32(f.b[f.slotPos(slot):], uint32(i))
}

// entry is an index entry in memory.
type entry struct {
	keyHash   uint32
	phyOffset int64
	timeDiff  int32
	prevIndex int32
}

func (f *file) entry(i int32) entry {
	b := f.b[f.entryPos(i):]
	_ = b[EntrySize-1]
	return entry{
		keyHash:   binary.BigEndian.Uint32(b[offKeyHash:]),
		phyOffset: int64(binary.BigEndian.Uint64(b[offPhyOffset:])),
		timeDiff:  int32(binary.BigEndian.Uint32(b[offTimeDiff:])),
		prevIndex: int32(binary.BigEndian.Uint32(b[offPrevIndex:])),
	}
}

func (f *file) setEntry(i int32, e entry) {
	b := f.b[f.entryPos(i):]
	_ = b[EntrySize-1]
	binary.BigEndian.PutUint32(b[offKeyHash:], e.keyHash)
	binary.BigEndian.PutUint64(b[offPhyOffset:], uint64(e.phyOffset))
	binary.BigEndian.PutUint32(b[offTimeDiff:], uint32(e.timeDiff))
	binary.BigEndian.PutUint32(b[offPrevIndex:], uint32(e.prevIndex))
}

// timeDiff returns clamp(floor((t - beginTimestamp) / 1000), 0, MaxInt32) without overflowing.
func (f *file) timeDiff(t int64) int32 {
	if t <= f.h.beginTimestamp {
		return 0
	}
	d := (uint64(t) - uint64(f.h.beginTimestamp)) / 1000 // t > begin: the true difference fits
	if d > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(d)
}

// validPrev reports whether i is a usable link from a position below which every index must lie
// (indexCount for a slot, the current index for a prevIndex).
func validPrev(i, below int32) bool { return i > 0 && i < below }

// add appends an entry for keyHash at phyOffset stored at ts, and sets the file's endPhyOffset to
// end. The file must not be full. Writes go header, entry, slot (see the package doc).
func (f *file) add(keyHash uint32, phyOffset, ts, end int64) {
	c := f.h.indexCount
	slot := keyHash % uint32(f.slots)
	prev := f.slot(slot)
	if !validPrev(prev, c) {
		if prev == 0 && f.h.hashSlotCount < f.slots {
			f.h.hashSlotCount++
		}
		prev = 0
	}
	f.h.indexCount = c + 1
	f.h.endTimestamp = max(f.h.endTimestamp, ts)
	f.h.endPhyOffset = end
	f.writeHeader()
	f.setEntry(c, entry{keyHash: keyHash, phyOffset: phyOffset, timeDiff: f.timeDiff(ts), prevIndex: prev})
	f.setSlot(slot, c)
	f.dirty = true
}

// lookup appends to out the offsets of entries of keyHash whose timeDiff is within [lo, hi],
// newest first, skipping offsets already present, until out holds limit offsets. seen, when not
// nil, indexes out.
func (f *file) lookup(keyHash uint32, lo, hi int32, out []int64, seen map[int64]struct{}, limit int) ([]int64, map[int64]struct{}) {
	c := f.h.indexCount
	i := f.slot(keyHash % uint32(f.slots))
	for validPrev(i, c) && len(out) < limit {
		e := f.entry(i)
		if e.keyHash == keyHash && e.timeDiff >= lo && e.timeDiff <= hi {
			if out == nil {
				out = make([]int64, 0, min(limit, 64))
			}
			out, seen = appendUnique(out, seen, e.phyOffset)
		}
		c, i = i, e.prevIndex // indexes strictly decrease: the walk ends
	}
	return out, seen
}

// linearDedup is the result size up to which duplicates are found by scanning.
const linearDedup = 32

func appendUnique(out []int64, seen map[int64]struct{}, off int64) ([]int64, map[int64]struct{}) {
	if seen == nil {
		for _, o := range out {
			if o == off {
				return out, nil
			}
		}
		out = append(out, off)
		if len(out) > linearDedup {
			seen = make(map[int64]struct{}, 2*len(out))
			for _, o := range out {
				seen[o] = struct{}{}
			}
		}
		return out, seen
	}
	if _, ok := seen[off]; ok {
		return out, seen
	}
	seen[off] = struct{}{}
	return append(out, off), seen
}
