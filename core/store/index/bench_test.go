package index

import (
	"fmt"
	"strings"
	"testing"
)

// Compare runs with:
//
//	go test -run '^$' -bench . -count 10 ./core/store/index/ > new.txt
//	benchstat old.txt new.txt

func BenchmarkPut(b *testing.B) {
	for _, keyLen := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("key=%d", keyLen), func(b *testing.B) {
			x, err := Open(b.TempDir(), DefaultOptions())
			if err != nil {
				b.Fatal(err)
			}
			defer x.Close()
			topic := []byte("TopicTest")
			key := []byte(strings.Repeat("k", keyLen))
			b.ReportAllocs()
			b.SetBytes(int64(len(topic) + len(key)))
			off := int64(0)
			for b.Loop() {
				// Vary the key so that entries spread over the slots.
				key[0], key[1] = byte(off), byte(off>>8)
				if err := x.Put(topic, key, off, t0+off/1024); err != nil {
					b.Fatal(err)
				}
				off += 256
			}
		})
	}
}

func BenchmarkQuery(b *testing.B) {
	// 200k records in files of 64k entries; "hot" is on every 100th record, 2000 in all.
	const records = 200_000
	x, err := Open(b.TempDir(), Options{MaxHashSlots: 1 << 14, MaxIndexEntries: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	topic := []byte("TopicTest")
	for i := range int64(records) {
		key := fmt.Appendf(nil, "key-%d", i)
		if i%100 == 0 {
			key = []byte("hot")
		}
		if err := x.Put(topic, key, i*256, t0+i); err != nil {
			b.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		key        string
		max        int
		begin, end int64
	}{
		{"miss", "absent", 32, 0, t0 + records},
		{"unique", "key-123457", 32, 0, t0 + records},
		{"hot/max=1", "hot", 1, 0, t0 + records},
		{"hot/max=32", "hot", 32, 0, t0 + records},
		{"hot/max=2000", "hot", 2000, 0, t0 + records},
		{"hot/oldest-second", "hot", 32, t0, t0 + 999},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := x.Query("TopicTest", tt.key, tt.max, tt.begin, tt.end); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
