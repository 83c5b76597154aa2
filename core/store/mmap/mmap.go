// Package mmap maps one fixed-size file into memory for the store's segment files.
//
// A File is created at its full size (preallocated with fallocate(2), or sparse with
// ftruncate(2)) and mapped MAP_SHARED, read-write. Writers store into Bytes() directly; Sync
// writes a byte range back with msync(MS_SYNC), which on Linux is an fdatasync of that range, so
// data written through the mapping survives a power loss once Sync returns. A process crash never
// loses data that reached the mapping: the pages belong to the kernel's page cache.
//
// # Lifetime
//
// A File starts with one reference, owned by whoever opened it. Readers that hand slices of the
// mapping to other goroutines (a pull response being written to a socket, say) take a reference
// with Acquire and drop it with Release. Close and Remove drop the owner's reference; the mapping
// is unmapped when the last reference goes, so a slice obtained between Acquire and Release
// stays valid even if the segment is deleted meanwhile. Accessing Bytes() after the last
// Release is a use-after-unmap and crashes the process: always pair Acquire and Release.
//
// The file descriptor is closed right after mapping; a File costs no descriptor while open.
package mmap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by Acquire-dependent operations on a File whose mapping is gone.
var ErrClosed = errors.New("mmap: file closed")

var pageSize = int64(os.Getpagesize())

// File is one memory-mapped file of a fixed size.
type File struct {
	path string
	size int64
	data []byte

	refs    atomic.Int64 // owner + readers; the mapping goes when it reaches 0
	closing sync.Once    // the owner's reference is dropped once
	remove  atomic.Bool  // unlink the file when the mapping goes

	wmu sync.Mutex // guards wfd
	wfd int        // descriptor for WriteAt, opened on first use; 0 = none
}

// Create makes a new file of exactly size bytes at path and maps it. With prealloc the blocks are
// reserved with fallocate(2) (falling back to ftruncate(2) where the filesystem does not support
// it), so later writes cannot fail for lack of space and do not fragment; without it the file is
// sparse. The file is built under a temporary name (path + TempSuffix) and renamed into place,
// and the directory is fsynced, so a crash never leaves a file of the wrong size at path and a
// file that Create returned survives a power loss. It fails if path exists.
func Create(path string, size int64, prealloc bool) (*File, error) {
	if size <= 0 {
		return nil, fmt.Errorf("mmap: create %s: size %d must be positive", path, size)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("mmap: create %s: %w", path, os.ErrExist)
	}
	tmp := path + TempSuffix
	fd, err := unix.Open(tmp, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("mmap: create %s: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
			os.Remove(tmp)
		}
	}()
	if prealloc {
		err = unix.Fallocate(fd, 0, 0, size)
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
			err = unix.Ftruncate(fd, size)
		}
	} else {
		err = unix.Ftruncate(fd, size)
	}
	if err != nil {
		return nil, fmt.Errorf("mmap: size %s to %d: %w", path, size, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("mmap: create %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("mmap: create %s: sync directory: %w", path, err)
	}
	f, err := mapFD(fd, path, size)
	ok = true // mapFD closed fd: the deferred clean-up must not close it again
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return f, nil
}

// TempSuffix marks a file that Create had not finished; such files can be deleted.
const TempSuffix = ".tmp"

func syncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsync(fd)
}

// Open maps an existing file, which must be exactly size bytes long.
func Open(path string, size int64) (*File, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("mmap: open %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mmap: stat %s: %w", path, err)
	}
	if st.Size != size {
		unix.Close(fd)
		return nil, fmt.Errorf("mmap: open %s: file has %d bytes, want %d", path, st.Size, size)
	}
	return mapFD(fd, path, size)
}

// DataEnd returns the end of the file's last data region: bytes past it were never written
// (a hole of a sparse file), so they read as zeros. It asks the filesystem with
// lseek(SEEK_DATA/SEEK_HOLE), which counts pages written but not yet on the disk as data; where
// the filesystem does not say (no support, or an error), the answer is the whole size, which is
// always safe. A reader that looks for the last record scans back from here instead of from the
// end of a mostly empty file.
func (f *File) DataEnd() int64 {
	fd, err := unix.Open(f.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return f.size
	}
	defer unix.Close(fd)
	var end int64
	for off := int64(0); off < f.size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // no data at or past off
		}
		if err != nil {
			return f.size
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return f.size
		}
		end, off = hole, hole
	}
	return min(end, f.size)
}

func mapFD(fd int, path string, size int64) (*File, error) {
	defer unix.Close(fd)
	data, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap: map %s: %w", path, err)
	}
	f := &File{path: path, size: size, data: data}
	f.refs.Store(1)
	return f, nil
}

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// Size returns the file's (and the mapping's) length in bytes.
func (f *File) Size() int64 { return f.size }

// Bytes returns the whole mapping. The caller must hold a reference (be the owner, or between
// Acquire and Release).
func (f *File) Bytes() []byte { return f.data }

// Acquire takes a reader's reference. It returns false if the mapping is already gone.
func (f *File) Acquire() bool {
	for {
		n := f.refs.Load()
		if n <= 0 {
			return false
		}
		if f.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release drops a reference taken with Acquire.
func (f *File) Release() {
	if n := f.refs.Add(-1); n == 0 {
		f.unmap()
	} else if n < 0 {
		panic("mmap: Release without Acquire on " + f.path)
	}
}

// Close drops the owner's reference. The mapping goes once no reader holds it. Close is
// idempotent.
func (f *File) Close() error {
	f.closing.Do(f.Release)
	return nil
}

// Remove unlinks the file and closes it. Readers holding a reference keep their view of the data
// until they release it.
func (f *File) Remove() error {
	err := os.Remove(f.path)
	f.Close()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("mmap: remove %s: %w", f.path, err)
	}
	return nil
}

func (f *File) unmap() {
	f.wmu.Lock()
	if f.wfd > 0 {
		unix.Close(f.wfd)
		f.wfd = 0
	}
	f.wmu.Unlock()
	data := f.data
	f.data = nil
	if data != nil {
		unix.Munmap(data)
	}
}

// WriteAt writes b at offset off with pwrite(2). The bytes are visible through Bytes() at once
// (the mapping and the file share the page cache). Writing this way instead of storing into the
// mapping avoids the page faults that a store into a page under writeback takes, which matters
// when every write is followed by a Sync. The caller must hold a reference.
func (f *File) WriteAt(b []byte, off int64) error {
	if off < 0 || off+int64(len(b)) > f.size {
		return fmt.Errorf("mmap: write %s [%d,+%d) outside %d bytes", f.path, off, len(b), f.size)
	}
	f.wmu.Lock()
	if f.wfd == 0 {
		fd, err := unix.Open(f.path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			f.wmu.Unlock()
			return fmt.Errorf("mmap: open %s for writing: %w", f.path, err)
		}
		f.wfd = fd
	}
	fd := f.wfd
	f.wmu.Unlock()
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err != nil {
			return fmt.Errorf("mmap: write %s at %d: %w", f.path, off, err)
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// CloseWriter closes the descriptor WriteAt opened, if any (a later WriteAt opens it again):
// a writer done with a file gives its descriptor back.
func (f *File) CloseWriter() {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.wfd > 0 {
		unix.Close(f.wfd)
		f.wfd = 0
	}
}

// clamp limits [from, to) to the file.
func (f *File) clamp(from, to int64) (int64, int64) { return max(from, 0), min(to, f.size) }

// Sync writes the byte range [from, to) of the mapping back to the file and waits for the device
// (msync MS_SYNC on the enclosing pages). The caller must hold a reference.
func (f *File) Sync(from, to int64) error {
	from, to = f.clamp(from, to)
	if to <= from {
		return nil
	}
	start := from &^ (pageSize - 1)
	if err := unix.Msync(f.data[start:to], unix.MS_SYNC); err != nil {
		return fmt.Errorf("mmap: sync %s [%d,%d): %w", f.path, from, to, err)
	}
	return nil
}

// Zero clears the byte range [from, to). Whole pages inside the range are cleared with
// fallocate(FALLOC_FL_ZERO_RANGE), which keeps their blocks allocated (a preallocated file stays
// preallocated) and costs no data I/O, or else with FALLOC_FL_PUNCH_HOLE followed, where the
// range was fully allocated, by a plain fallocate that reserves it again; the partial pages at the
// edges, and everything where neither is supported, are cleared through the mapping. It fails
// only when a punched range cannot be reserved again (ENOSPC): the range is then sparse, zero,
// and a store into it may fault if the filesystem stays full. The caller must hold a reference.
func (f *File) Zero(from, to int64) error {
	from, to = f.clamp(from, to)
	if to <= from {
		return nil
	}
	first := (from + pageSize - 1) &^ (pageSize - 1)
	last := to &^ (pageSize - 1)
	if last-first < 16*pageSize {
		clear(f.data[from:to])
		return nil
	}
	clear(f.data[from:first])
	clear(f.data[last:to])
	fd, err := unix.Open(f.path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err == nil {
		err = unix.Fallocate(fd, unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, first, last-first)
		if err != nil {
			// No ZERO_RANGE (tmpfs): punch the range out, and if the whole file was allocated
			// (preallocated), reserve the range again. Otherwise a preallocated segment would
			// lose its reservation here (at recovery, for the tail of the last segment), and a
			// later store through the mapping on a full filesystem would be a SIGBUS instead of
			// an error. (SEEK_HOLE cannot tell: tmpfs reports fallocated pages as holes.)
			var st unix.Stat_t
			allocated := unix.Fstat(fd, &st) == nil && st.Blocks*512 >= f.size
			if err = unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, first, last-first); err == nil && allocated {
				if rerr := unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, first, last-first); rerr != nil {
					unix.Close(fd)
					return fmt.Errorf("mmap: zero %s [%d,%d): reserve the blocks again: %w", f.path, first, last, rerr)
				}
			}
		}
		unix.Close(fd)
	}
	if err != nil {
		// Neither is supported here: clear the pages through the mapping instead.
		clear(f.data[first:last])
	}
	return nil
}

// Advise passes an madvise(2) hint (unix.MADV_*) for the byte range [from, to).
func (f *File) Advise(from, to int64, advice int) error {
	from, to = f.clamp(from, to)
	start := from &^ (pageSize - 1)
	if to <= start {
		return nil
	}
	if err := unix.Madvise(f.data[start:to], advice); err != nil {
		return fmt.Errorf("mmap: madvise %s: %w", f.path, err)
	}
	return nil
}

// Evict drops the pages of [from, to) from this mapping and from the page cache, so that their
// memory is free for new pages at once. The range must have been written back (Sync): dirty
// pages stay cached. Reading the range later reads it from the file again. The caller must hold
// a reference.
func (f *File) Evict(from, to int64) error {
	from, to = f.clamp(from, to)
	start := (from + pageSize - 1) &^ (pageSize - 1)
	end := to &^ (pageSize - 1)
	if end <= start {
		return nil
	}
	if err := unix.Madvise(f.data[start:end], unix.MADV_DONTNEED); err != nil {
		return fmt.Errorf("mmap: evict %s: %w", f.path, err)
	}
	fd, err := unix.Open(f.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("mmap: evict %s: %w", f.path, err)
	}
	defer unix.Close(fd)
	if err := unix.Fadvise(fd, start, end-start, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("mmap: evict %s: %w", f.path, err)
	}
	return nil
}

// Resident counts the pages of [from, to) that are in memory (mincore(2)): the page cache's
// share of the range, for tests and tools that check what the store keeps cached. The caller
// must hold a reference.
func (f *File) Resident(from, to int64) (int, error) {
	from, to = f.clamp(from, to)
	start := from &^ (pageSize - 1)
	if to <= start {
		return 0, nil
	}
	b := f.data[start:to]
	vec := make([]byte, (int64(len(b))+pageSize-1)/pageSize)
	// x/sys/unix has no wrapper for mincore(2).
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
		uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	if errno != 0 {
		return 0, fmt.Errorf("mmap: mincore %s: %w", f.path, errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n, nil
}
