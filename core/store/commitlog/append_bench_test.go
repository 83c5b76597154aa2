package commitlog

import (
	"os"
	"testing"
)

// BenchmarkAppendLarge appends 64 KiB records (the size of a batch of 16 4 KiB messages) to a
// new log, as the broker does with its defaults (the appends prepare the log ahead of
// themselves, 16 MiB): written with pwrite, as such appends are (writeDirect), and stored into
// the mapping, as small appends are. Each iteration fills a new 64 MiB log; only the appends are
// timed, not opening the log, its flush nor its removal. MB/s counts the records' bytes.
func BenchmarkAppendLarge(b *testing.B) {
	b.Run("pwrite", func(b *testing.B) { benchAppendLarge(b, directMin) })
	b.Run("mapping", func(b *testing.B) { benchAppendLarge(b, 1<<40) })
}

func benchAppendLarge(b *testing.B, min int) {
	const size, logSize = 64 << 10, 64 << 20
	defer func(old int) { directMin = old }(directMin)
	directMin = min
	opts := testOptions()
	opts.SegmentSize, opts.Prealloc, opts.ZeroAhead = logSize+1<<20, true, 16<<20
	r := newRecord(size, 1)
	encode := encodeRecord(r)
	b.SetBytes(logSize)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		c := openLog(b, dir, opts)
		if _, err := c.Recover(0, 0, false, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for n := 0; n < logSize/size; n++ {
			if _, _, err := c.Append(size, encode); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
		// Deleted, its pages leave the page cache, and the next log reuses their memory
		// rather than memory the machine has not touched for long (far dearer to fault in
		// under some hypervisors).
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
