package message

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// Compare runs with benchstat:
//
//	go test ./core/message/ -run '^$' -bench . -count 10 > old.txt
//	(change the code)
//	go test ./core/message/ -run '^$' -bench . -count 10 > new.txt
//	benchstat old.txt new.txt

var benchBodySizes = []int{128, 1024, 4096}

func benchRecord(bodySize int) Record {
	r := sampleRecord()
	r.Body = make([]byte, bodySize)
	for i := range r.Body {
		r.Body[i] = byte(i)
	}
	r.BodyCRC = BodyCRC(r.Body)
	return r
}

func BenchmarkAppendRecord(b *testing.B) {
	for _, size := range benchBodySizes {
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			r := benchRecord(size)
			seg := make([]byte, 0, r.Size())
			b.SetBytes(int64(r.Size()))
			b.ReportAllocs()
			for b.Loop() {
				seg = AppendRecord(seg[:0], &r)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, size := range benchBodySizes {
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			r := benchRecord(size)
			enc := AppendRecord(nil, &r)
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			var sink int64
			for b.Loop() {
				v, err := Parse(enc)
				if err != nil {
					b.Fatal(err)
				}
				sink += v.QueueOffset() + v.PhysicalOffset() + v.StoreTimestamp() + int64(v.StoreHost().Port()) +
					int64(len(v.Body())+len(v.Topic())+len(v.Properties()))
			}
			_ = sink
		})
	}
}

func BenchmarkBodyCRC(b *testing.B) {
	for _, size := range benchBodySizes {
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			body := benchRecord(size).Body
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				BodyCRC(body)
			}
		})
	}
}

func BenchmarkProperty(b *testing.B) {
	props := []byte(sampleRecord().Properties)
	b.SetBytes(int64(len(props)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Property(props, PropertyUniqKey); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkTagsCodeBytes(b *testing.B) {
	tags := []byte("TagA")
	b.SetBytes(int64(len(tags)))
	b.ReportAllocs()
	for b.Loop() {
		TagsCodeBytes(tags)
	}
}

func BenchmarkUniqIDNext(b *testing.B) {
	g := NewUniqIDGenerator(netip.MustParseAddr("10.0.0.1"), 1, time.Now)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 64)
		for pb.Next() {
			buf = g.AppendNext(buf[:0])
		}
	})
}
