package consumequeue

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkPut writes entries round-robin into 8 or 10,000 queues whose files exist (the
// dispatcher's write). With many queues each write lands on a page of its own.
//
//	go test -run '^$' -bench BenchmarkPut -count 6 ./core/store/consumequeue/ | tee new.txt
func BenchmarkPut(b *testing.B) {
	for _, n := range []int{8, 10_000} {
		b.Run(strconv.Itoa(n)+"queues", func(b *testing.B) {
			dir := b.TempDir()
			qs := make([]*Queue, n)
			for i := range qs {
				q, err := Open(filepath.Join(dir, fmt.Sprint(i)), "Bench", int32(i), 20*30_000)
				if err != nil {
					b.Fatal(err)
				}
				defer q.Close()
				if _, err := q.Put(0, Entry{PhysicalOffset: int64(i) * 100, Size: 100}); err != nil { // creates the file
					b.Fatal(err)
				}
				qs[i] = q
			}
			b.SetBytes(EntrySize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				q := qs[i%n]
				off := q.MaxOffset()
				if _, err := q.Put(off, Entry{PhysicalOffset: int64(i) * 100, Size: 100}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
