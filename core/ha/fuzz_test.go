package ha

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/iotest"
)

// genCorpus rewrites the seed corpora in testdata/fuzz from the seeds below:
//
//	go test ./core/ha -run TestGenCorpus -gen-corpus
var genCorpus = flag.Bool("gen-corpus", false, "rewrite testdata/fuzz seed corpora")

// fuzzSeeds are the seed inputs of each fuzz target.
func fuzzSeeds() map[string][][]byte {
	hb := appendHello(nil, testHello)
	wb := appendWelcome(nil, testWelcome)
	return map[string][][]byte{
		"FuzzDecodeHello": {
			hb,
			appendHello(nil, hello{BrokerName: "b", SegmentSize: 1}),
			append(put16(hb, 8, uint16(len(hb)-helloPrefix+3)), 1, 2, 3), // trailing bytes
			hb[:len(hb)-1],
			put16(hb, 10, 0),
		},
		"FuzzDecodeAnswer": {
			wb,
			appendWelcome(nil, answer{}),
			appendRefusal(nil, ErrFenced),
			appendRefusal(nil, fmt.Errorf("%w: why", ErrWrongBroker)),
			put32(wb, 33, 1000),
			wb[:len(wb)-1],
		},
		"FuzzDecodeFrame": {
			appendFrameHeader(nil, frameHeader{BodyLen: 4096, Epoch: 7, Offset: 1 << 30, MasterMax: 2 << 30}),
			appendFrameHeader(nil, frameHeader{Offset: 10, MasterMax: 10}),
			put32(appendFrameHeader(nil, frameHeader{Offset: 10, MasterMax: 10}), 0, 1),
		},
		"FuzzDecodeAck": {
			appendAck(nil, ack{Epoch: 3, MaxOffset: 1 << 40}),
			appendAck(nil, ack{}),
			put64(appendAck(nil, ack{}), 0, -1),
		},
	}
}

// TestGenCorpus writes the seed corpora when -gen-corpus is given.
func TestGenCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("run with -gen-corpus to rewrite testdata/fuzz")
	}
	for target, seeds := range fuzzSeeds() {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func addSeeds(f *testing.F, target string) {
	for _, s := range fuzzSeeds()[target] {
		f.Add(s)
	}
}

// FuzzDecodeHello: no panic, consumed ≤ input, re-encoding decodes to the same hello, and the
// stream reader agrees when fed one byte at a time.
func FuzzDecodeHello(f *testing.F) {
	addSeeds(f, "FuzzDecodeHello")
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := decodeHello(b)
		rh, rerr := readHello(iotest.OneByteReader(bytes.NewReader(b)))
		if (err == nil) != (rerr == nil) || (err == nil && rh != h) {
			t.Fatalf("decode %+v, %v; read %+v, %v", h, err, rh, rerr)
		}
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		h2, n2, err := decodeHello(appendHello(nil, h))
		if err != nil || h2 != h || n2 > n {
			t.Fatalf("re-decode: %+v (%d), %v; first %+v (%d)", h2, n2, err, h, n)
		}
	})
}

// FuzzDecodeAnswer: as FuzzDecodeHello, for welcomes and refusals.
func FuzzDecodeAnswer(f *testing.F) {
	addSeeds(f, "FuzzDecodeAnswer")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, n, err := decodeAnswer(b)
		ra, rerr := readAnswer(iotest.HalfReader(bytes.NewReader(b)))
		if (err == nil) != (rerr == nil) || (err == nil && !reflect.DeepEqual(ra, a)) {
			t.Fatalf("decode %+v, %v; read %+v, %v", a, err, ra, rerr)
		}
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		var enc []byte
		if a.Refused {
			enc = b[:n] // a refusal's encoder takes an error; its bytes are canonical already
		} else {
			enc = appendWelcome(nil, a)
		}
		a2, _, err := decodeAnswer(enc)
		if err != nil || !reflect.DeepEqual(a2, a) {
			t.Fatalf("re-decode: %+v, %v; first %+v", a2, err, a)
		}
	})
}

// FuzzDecodeFrame: no panic; a header that decodes re-encodes to the same 28 bytes.
func FuzzDecodeFrame(f *testing.F) {
	addSeeds(f, "FuzzDecodeFrame")
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeFrameHeader(b, MaxFrameBody)
		if err != nil {
			return
		}
		if enc := appendFrameHeader(nil, h); !bytes.Equal(enc, b[:frameHeaderSize]) {
			t.Fatalf("re-encoded %x, input %x", enc, b[:frameHeaderSize])
		}
		if int64(h.BodyLen) > MaxFrameBody || h.Offset+int64(h.BodyLen) > h.MasterMax {
			t.Fatalf("accepted %+v", h)
		}
	})
}

// FuzzDecodeAck: no panic; an ack that decodes re-encodes to the same 16 bytes.
func FuzzDecodeAck(f *testing.F) {
	addSeeds(f, "FuzzDecodeAck")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAck(b)
		if err != nil {
			return
		}
		if enc := appendAck(nil, a); !bytes.Equal(enc, b[:ackSize]) {
			t.Fatalf("re-encoded %x, input %x", enc, b[:ackSize])
		}
	})
}
