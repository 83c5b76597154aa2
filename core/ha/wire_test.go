package ha

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"
)

var (
	testHello = hello{BrokerName: "broker-a", BrokerID: 1, SegmentSize: 1 << 30, MaxOffset: 12345,
		LastEpoch: 7, ReportInterval: time.Second}
	testWelcome = answer{Epoch: 9, MinOffset: 1 << 30, MaxOffset: 3 << 30, Heartbeat: 500 * time.Millisecond,
		History: []Epoch{{1, 0}, {7, 100}, {9, 1 << 30}}}
)

// TestWireRoundTrip: every message decodes to what was encoded and uses all its bytes.
func TestWireRoundTrip(t *testing.T) {
	b := appendHello(nil, testHello)
	h, n, err := decodeHello(b)
	if err != nil || n != len(b) || h != testHello {
		t.Fatalf("hello: %+v, %d of %d, %v", h, n, len(b), err)
	}
	if h, err := readHello(bytes.NewReader(b)); err != nil || h != testHello {
		t.Fatalf("readHello: %+v, %v", h, err)
	}
	for _, w := range []answer{testWelcome, {}} {
		b = appendWelcome(nil, w)
		a, n, err := decodeAnswer(b)
		if err != nil || n != len(b) || !reflect.DeepEqual(a, w) {
			t.Fatalf("welcome: %+v, %d of %d, %v", a, n, len(b), err)
		}
		if a, err := readAnswer(bytes.NewReader(b)); err != nil || !reflect.DeepEqual(a, w) {
			t.Fatalf("readAnswer: %+v, %v", a, err)
		}
	}
	b = appendRefusal(nil, ErrSegmentSize)
	a, n, err := decodeAnswer(b)
	if err != nil || n != len(b) || !a.Refused || a.Code != 2 || !errors.Is(refusalError(a.Code, a.Reason), ErrSegmentSize) {
		t.Fatalf("refusal: %+v, %v", a, err)
	}
	f := frameHeader{BodyLen: 100, Epoch: 3, Offset: 1000, MasterMax: 5000}
	if got, err := decodeFrameHeader(appendFrameHeader(nil, f), MaxFrameBody); err != nil || got != f {
		t.Fatalf("frame: %+v, %v", got, err)
	}
	k := ack{Epoch: 3, MaxOffset: 77}
	if got, err := decodeAck(appendAck(nil, k)); err != nil || got != k {
		t.Fatalf("ack: %+v, %v", got, err)
	}
}

// TestRefusalCodes: every code of the table maps back to its error; unknown codes are
// ErrRefused.
func TestRefusalCodes(t *testing.T) {
	for _, c := range refusalCodes {
		if refusalCode(c.err) != c.code || !errors.Is(refusalError(c.code, "x"), c.err) {
			t.Errorf("code %d does not round-trip %v", c.code, c.err)
		}
	}
	if err := refusalError(200, "x"); !errors.Is(err, ErrRefused) {
		t.Errorf("unknown code: %v", err)
	}
}

func put16(b []byte, off int, v uint16) []byte {
	b = bytes.Clone(b)
	b[off], b[off+1] = byte(v>>8), byte(v)
	return b
}

func put32(b []byte, off int, v uint32) []byte {
	b = bytes.Clone(b)
	b[off], b[off+1], b[off+2], b[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return b
}

func put64(b []byte, off int, v int64) []byte {
	b = put32(b, off, uint32(uint64(v)>>32))
	return put32(b, off+4, uint32(v))
}

// TestDecodeBad: truncated and corrupt inputs fail with a clean EOF, a torn-tail error or
// ErrProtocol, never a panic or a bogus value.
func TestDecodeBad(t *testing.T) {
	hb := appendHello(nil, testHello)
	wb := appendWelcome(nil, testWelcome)
	rb := appendRefusal(nil, ErrFenced)
	fb := appendFrameHeader(nil, frameHeader{BodyLen: 10, Epoch: 1, Offset: 0, MasterMax: 10})
	nameEnd := helloPrefix + 2 + len(testHello.BrokerName)
	cases := []struct {
		name   string
		decode func([]byte) error
		in     []byte
		want   error
	}{
		{"hello empty", decHello, nil, io.EOF},
		{"hello torn prefix", decHello, hb[:5], io.ErrUnexpectedEOF},
		{"hello torn body", decHello, hb[:len(hb)-1], io.ErrUnexpectedEOF},
		{"hello bad magic", decHello, append([]byte("TERNHA2\x00"), hb[8:]...), ErrProtocol},
		{"hello length too big", decHello, put16(hb, 8, maxHelloLen+1), ErrProtocol},
		{"hello length too small", decHello, put16(hb, 8, helloFixed), ErrProtocol},
		{"hello name empty", decHello, put16(hb, 10, 0), ErrProtocol},
		{"hello name past length", decHello, put16(hb, 10, 200), ErrProtocol},
		{"hello negative offset", decHello, put64(hb, nameEnd+16, -1), ErrProtocol},
		{"hello zero segment", decHello, put64(hb, nameEnd+8, 0), ErrProtocol},
		{"answer empty", decAnswer, nil, io.EOF},
		{"answer torn", decAnswer, wb[:len(wb)-3], io.ErrUnexpectedEOF},
		{"answer zero length", decAnswer, put32(wb, 0, 0), ErrProtocol},
		{"answer huge length", decAnswer, put32(wb, 0, maxAnswerLen+1), ErrProtocol},
		{"answer unknown kind", decAnswer, append(put32(make([]byte, 4), 0, 1), 9), ErrProtocol},
		{"welcome short", decAnswer, append(put32([]byte{0, 0, 0, 0}, 0, 5), 1, 0, 0, 0, 0), ErrProtocol},
		{"welcome count lies", decAnswer, put32(wb, 33, 4), ErrProtocol},
		{"welcome count huge", decAnswer, put32(wb, 33, 1<<31), ErrProtocol},
		{"welcome epoch not last", decAnswer, put64(wb, 5, 8), ErrProtocol},
		{"welcome history unordered", decAnswer, put64(wb, 37+16, 0), ErrProtocol},
		{"welcome max below min", decAnswer, put64(wb, 21, 0), ErrProtocol},
		{"refusal reason lies", decAnswer, put16(rb, 6, 2000), ErrProtocol},
		{"frame empty", decFrame, nil, io.EOF},
		{"frame torn", decFrame, fb[:20], io.ErrUnexpectedEOF},
		{"frame too long", decFrame, put32(fb, 0, MaxFrameBody+1), ErrProtocol},
		{"frame past master max", decFrame, put32(fb, 0, 11), ErrProtocol},
		{"frame negative epoch", decFrame, put64(fb, 4, -5), ErrProtocol},
		{"ack torn", decAckErr, make([]byte, 15), io.ErrUnexpectedEOF},
		{"ack negative", decAckErr, put64(make([]byte, 16), 8, -1), ErrProtocol},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.decode(c.in); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func decHello(b []byte) error  { _, _, err := decodeHello(b); return err }
func decAnswer(b []byte) error { _, _, err := decodeAnswer(b); return err }
func decFrame(b []byte) error  { _, err := decodeFrameHeader(b, MaxFrameBody); return err }
func decAckErr(b []byte) error { _, err := decodeAck(b); return err }

// TestReadAnswerLyingLength: an answer announcing 1 MiB and sending 10 bytes fails as torn
// without allocating the megabyte up front.
func TestReadAnswerLyingLength(t *testing.T) {
	in := append(put32([]byte{0, 0, 0, 0}, 0, maxAnswerLen), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	if _, err := readAnswer(bytes.NewReader(in)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
}
