package commitlog

import (
	"testing"

	"github.com/ternmq/tern/core/store/segment"
)

// BenchmarkReadInOrder reads 1 KiB records in order, copying each out as a pull response does:
// from a log evicted from the page cache (a consumer catching up from beyond the cache window;
// each pass starts with the whole log evicted and the kernel reads it from the disk again), and,
// for the rate to compare it with, from a log kept in the page cache.
func BenchmarkReadInOrder(b *testing.B) {
	b.Run("evicted", func(b *testing.B) { benchReadInOrder(b, true) })
	b.Run("cached", func(b *testing.B) { benchReadInOrder(b, false) })
}

func benchReadInOrder(b *testing.B, evicted bool) {
	const size, logSize = 1024, 160 << 20
	opts := testOptions()
	opts.SegmentSize, opts.Prealloc = 64<<20, true
	if evicted {
		opts.CacheWindow = 4 << 20
	}
	c, dir := newLog(b, opts)
	defer c.Close()
	if evicted && isTmpfs(dir) {
		b.Skip("tmpfs keeps its pages: they are the file")
	}
	var offs []int64
	for end := int64(0); end < logSize; {
		var off int64
		off, end = appendSized(b, c, size, len(offs))
		offs = append(offs, off)
	}
	if _, err := c.Flush(); err != nil {
		b.Fatal(err)
	}
	out := make([]byte, size)
	b.SetBytes(int64(len(offs) * size))
	b.ReportAllocs()
	for b.Loop() {
		if evicted {
			b.StopTimer()
			c.q.Range(0, c.evicted.Load(), func(s *segment.Segment, from, to int64) error { return s.File.Evict(from, to) })
			c.forgetReads()
			b.StartTimer()
		}
		for _, off := range offs {
			p, s, err := c.Read(off, size)
			if err != nil {
				b.Fatal(err)
			}
			copy(out, p)
			s.Release()
		}
	}
}
