package protocol

import (
	"bytes"
	"io"
	"testing"

	"github.com/ternmq/tern/core/remoting"
)

// benchSendHeader is the send header of the benchmarks: a producer's, as Tern's client sends it.
var benchSendHeader = SendMessageHeader{
	ProducerGroup: "benchmark_producer", Topic: "BenchmarkTest", DefaultTopic: AutoCreateTopic,
	DefaultTopicQueueNums: 4, QueueID: 3, BornTimestamp: 1700000000123,
	Properties: "UNIQ_KEY\x017F0000010001B4AAC69F1E8C3E0000\x02WAIT\x01true\x02",
}

// BenchmarkSendHeaderFrame encodes a SEND_MESSAGE_V2 request frame (binary header, 1 KiB body)
// with the header as a map in ExtFields and as Fields written straight into the frame.
func BenchmarkSendHeaderFrame(b *testing.B) {
	h := benchSendHeader
	body := make([]byte, 1024)
	for _, tc := range []struct {
		name string
		req  func() *remoting.Command
	}{
		{"map", func() *remoting.Command { return remoting.NewRequest(remoting.SendMessageV2, h.Encode(true), body) }},
		{"fields", func() *remoting.Command {
			c := remoting.NewRequest(remoting.SendMessageV2, nil, body)
			c.Fields = h.Fields(true)
			return c
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 2048)
			b.ReportAllocs()
			for b.Loop() {
				c := tc.req()
				c.Serialize = remoting.RocketMQ
				var err error
				if buf, err = remoting.AppendFrame(buf[:0], c); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkSendHeaderDecode reads a SEND_MESSAGE_V2 request frame (binary header, 1 KiB body)
// and decodes its header: straight from the received command (Lookup), and through the map
// the decoder used to build (Header).
func BenchmarkSendHeaderDecode(b *testing.B) {
	h := benchSendHeader
	req := remoting.NewRequest(remoting.SendMessageV2, nil, make([]byte, 1024))
	req.Fields, req.Serialize = h.Fields(true), remoting.RocketMQ
	frame, err := remoting.AppendFrame(nil, req)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		fields func(*remoting.Command) FieldSource
	}{
		{"lookup", func(c *remoting.Command) FieldSource { return c }},
		{"map", func(c *remoting.Command) FieldSource { return Map(c.Header()) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			frames := bytes.Repeat(frame, 1024)
			rd := bytes.NewReader(frames)
			fr := remoting.NewFrameReader(rd, 0)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				c, err := fr.Read()
				if err == io.EOF { // start over (one reader per 1,024 frames)
					rd.Reset(frames)
					fr = remoting.NewFrameReader(rd, 0)
					c, err = fr.Read()
				}
				if err != nil {
					b.Fatal(err)
				}
				if got, err := DecodeSendMessage(tc.fields(c), true); err != nil || got.Topic != h.Topic {
					b.Fatal(got, err)
				}
			}
		})
	}
}
