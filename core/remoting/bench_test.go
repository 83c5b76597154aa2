package remoting

import (
	"context"
	"fmt"
	"testing"
)

// Compare runs with benchstat:
//
//	go test ./core/remoting/ -run '^$' -bench . -count 10 > old.txt
//	(change)
//	go test ./core/remoting/ -run '^$' -bench . -count 10 > new.txt
//	benchstat old.txt new.txt

func sendCommand(st SerializeType) *Command {
	return &Command{Code: SendMessage, Language: "GO", Version: 317, Opaque: 12345, ExtFields: sendHeader(), Serialize: st}
}

func BenchmarkEncodeFrame(b *testing.B) {
	for _, st := range []SerializeType{JSON, RocketMQ} {
		b.Run(serializeName(st), func(b *testing.B) {
			c := sendCommand(st)
			buf, _ := AppendFrame(nil, c)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendFrame(buf[:0], c)
			}
		})
	}
}

// repeatReader serves the same bytes forever.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

func BenchmarkDecodeFrame(b *testing.B) {
	for _, st := range []SerializeType{JSON, RocketMQ} {
		b.Run(serializeName(st), func(b *testing.B) {
			frame, _ := AppendFrame(nil, sendCommand(st))
			fr := NewFrameReader(&repeatReader{data: frame}, 0)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := fr.Read(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInvoke is one request/response round trip over loopback: serial, then from
// parallel goroutines sharing the connection.
func BenchmarkInvoke(b *testing.B) {
	_, addr := startServer(b, ServerOptions{}, testMux(newBlocker()))
	cl := newClient(b, ClientOptions{})
	ctx := context.Background()
	for _, size := range []int{0, 1 << 10, 64 << 10} {
		body := make([]byte, size)
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			b.SetBytes(int64(2 * size))
			b.ReportAllocs()
			for b.Loop() {
				req := &Command{Code: codeEcho, Language: "GO", ExtFields: sendHeader(), Body: body}
				if _, err := cl.Invoke(ctx, addr, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("body=%d/parallel", size), func(b *testing.B) {
			b.SetBytes(int64(2 * size))
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := &Command{Code: codeEcho, Language: "GO", ExtFields: sendHeader(), Body: body}
					if _, err := cl.Invoke(ctx, addr, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
