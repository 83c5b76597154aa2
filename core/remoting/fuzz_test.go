package remoting

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/ternmq/tern/core/internal/fuzzcorpus"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/seed-*. Regenerate them after changing the
// seeds below with:
//
//	go test ./core/remoting/ -run '^TestFuzzCorpus$' -update-corpus
//
// Other files in those directories are inputs the fuzzer found; keep them. Fuzz one target at
// a time, anchored:
//
//	go test ./core/remoting/ -run '^$' -fuzz '^FuzzReadFrame$' -fuzztime 30s

// fuzzMaxFrame is the frame limit of the fuzzed reader: small, so that the fuzzer reaches it.
const fuzzMaxFrame = 1 << 16

// fuzzSeeds returns the seed inputs of every fuzz target by name; each input is the argument
// list of one call.
func fuzzSeeds() map[string]map[string][]any {
	frame := func(c *Command, st SerializeType) []byte {
		cc := *c
		cc.Serialize = st
		b, err := AppendFrame(nil, &cc)
		if err != nil {
			panic(err)
		}
		for _, p := range cc.BodyParts {
			b = append(b, p...)
		}
		return b
	}
	send := &Command{Code: SendMessage, Language: "GO", Version: 317, Opaque: 42, ExtFields: sendHeader(), Body: []byte("hello")}
	resp := &Command{Code: int16(TopicNotExist), Language: "JAVA", Version: 409, Opaque: 3, Flag: FlagResponse, Remark: "no \"route\"\n标签"}
	two := append(frame(send, JSON), frame(resp, RocketMQ)...)
	java := frameOf(JSON, []byte(`{"code":0,"extFields":{"msgId":"C0A8011400002A9F0000000000000001","queueId":"1","queueOffset":"12"},"flag":1,"language":"JAVA","opaque":5,"serializeTypeCurrentRPC":"JSON","version":409}`), nil)
	numeric := frameOf(JSON, []byte(`{"code":10,"extFields":{"queueId":1,"ok":true,"f":1.5e3,"n":null,"o":{"a":[1]}}}`), []byte("b"))
	escapes := frameOf(JSON, []byte(`{"remark":"\ud83d\ude00\ud800\u0041\n\"","extFields":{"\u006b":"\u0000"}}`), nil)
	heartbeat := frameOf(JSON, []byte(`{"code":34,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{}}`), []byte(`{"clientID":"x"}`))
	binExt := frameOf(RocketMQ, binaryHeader(10, 0, 409, 7, 2, "hi", append(binaryEntry("a", "1"), binaryEntry("topic", "T")...)), []byte("body"))
	return map[string]map[string][]any{
		"FuzzReadFrame": {
			"heartbeat":       {heartbeat, uint16(0)},
			"send-json":       {frame(send, JSON), uint16(1)},
			"send-binary":     {frame(send, RocketMQ), uint16(7)},
			"two-frames":      {two, uint16(300)},
			"java-fastjson":   {java, uint16(3)},
			"numeric-ext":     {numeric, uint16(0)},
			"escapes":         {escapes, uint16(2)},
			"binary-layout":   {binExt, uint16(5)},
			"torn":            {two[:len(two)-3], uint16(0)},
			"garbage":         {[]byte("GET / HTTP/1.1\r\n\r\n"), uint16(0)},
			"length-below-4":  {[]byte{0, 0, 0, 3, 0, 0, 0}, uint16(0)},
			"header-beyond":   {[]byte{0, 0, 0, 8, 0, 0, 0, 9, '{', '}', 0, 0}, uint16(0)},
			"too-large":       {[]byte{0, 1, 0, 1, 0, 0, 0, 0}, uint16(0)},
			"binary-bad-key":  {frameOf(RocketMQ, binaryHeader(1, 9, 0, 0, 0, "", []byte{0x80, 0, 0, 0, 0, 0}), nil), uint16(0)},
			"unknown-serial":  {frameOf(5, []byte("{}"), nil), uint16(0)},
			"empty":           {[]byte{}, uint16(0)},
			"body-parts-resp": {frame(&Command{Flag: FlagResponse, Body: []byte("h"), BodyParts: [][]byte{[]byte("ab"), []byte("c")}}, JSON), uint16(4)},
		},
		"FuzzJSONString": {
			"ascii":      {"hello"},
			"escapes":    {`\"\\\/\b\f\n\r\t\u0041`},
			"surrogates": {`\ud83d\ude00\ud800\udc00\ud800x\udfff`},
			"invalid":    {"\xff\xe6\xa0 \xed\xa0\x80"},
			"controls":   {"\x00\x01\x1f\x7f"},
			"unicode":    {"标签😀\u2028"},
			"bad-escape": {`\x \u12`},
		},
	}
}

// TestFuzzCorpus checks that the seed files match fuzzSeeds, or rewrites them with
// -update-corpus.
func TestFuzzCorpus(t *testing.T) {
	for target, seeds := range fuzzSeeds() {
		files := make(map[string][]byte, len(seeds))
		for name, vals := range seeds {
			files[name] = fuzzcorpus.Marshal(vals...)
		}
		fuzzcorpus.Check(t, target, files)
	}
}

// chunkReader returns at most 1..n bytes per Read, cycling, to split frames anywhere.
type chunkReader struct {
	data []byte
	n, i int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	r.i = r.i%r.n + 1
	m := copy(p[:min(len(p), r.i)], r.data)
	r.data = r.data[m:]
	return m, nil
}

// readAll reads frames until the first error.
func readAll(r io.Reader) ([]*Command, error) {
	fr := NewFrameReader(r, fuzzMaxFrame)
	var cmds []*Command
	for {
		c, err := fr.Read()
		if err != nil {
			return cmds, err
		}
		cmds = append(cmds, c)
	}
}

// FuzzReadFrame feeds arbitrary bytes to the frame reader, whole and in short reads. Properties:
// no panic; both readings agree; the stream ends with a known error; every decoded command
// re-encodes to a frame that decodes to the same fields and re-encodes to the same bytes; a
// decoded header reads the same through Lookup as through Header.
func FuzzReadFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16) {
		whole, err := readAll(bytes.NewReader(data))
		split, splitErr := readAll(&chunkReader{data: data, n: int(chunk)%300 + 1})
		switch {
		case err == io.EOF:
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, ErrBadFrame), errors.Is(err, ErrFrameTooLarge):
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if len(whole) != len(split) || err.Error() != splitErr.Error() {
			t.Fatalf("whole: %d frames, %v; split: %d frames, %v", len(whole), err, len(split), splitErr)
		}
		for i, c := range whole {
			// Lookup on the decoded header answers as the map Header builds from it.
			m := split[i].Header()
			for k, v := range m {
				if got, ok := c.Lookup(k); !ok || got != v {
					t.Fatalf("frame %d: Lookup(%q) = %q, %v; Header has %q", i, k, got, ok, v)
				}
			}
			if _, in := m["tern-absent"]; !in {
				if got, ok := c.Lookup("tern-absent"); ok {
					t.Fatalf("frame %d: Lookup of an absent key found %q", i, got)
				}
			}
			if d := diffCommand(split[i], c); d != "" {
				t.Fatalf("frame %d split differs: %s", i, d)
			}
			enc, err := AppendFrame(nil, c)
			if err != nil {
				t.Fatalf("frame %d: re-encode: %v", i, err)
			}
			again, err := NewFrameReader(bytes.NewReader(enc), fuzzMaxFrame).Read()
			if err != nil {
				t.Fatalf("frame %d: decode of the re-encoding %q: %v", i, enc, err)
			}
			if d := diffCommand(again, c); d != "" {
				t.Fatalf("frame %d: re-encoding changed %s", i, d)
			}
			enc2, err := AppendFrame(nil, again)
			if err != nil || !bytes.Equal(enc, enc2) {
				t.Fatalf("frame %d: encoding not stable: %v\n%q\n%q", i, err, enc, enc2)
			}
		}
	})
}

// FuzzJSONString checks the JSON string escaper and unescaper against encoding/json: what
// appendJSONString writes is valid JSON that encoding/json reads as it reads its own encoding
// of s; the scanner reads both the same way; and any string body encoding/json accepts, the
// scanner reads to the same value.
func FuzzJSONString(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		enc := appendJSONString(nil, s)
		std, _ := json.Marshal(s)
		var want, got string
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(enc, &got); err != nil || got != want {
			t.Fatalf("encoding/json reads %q as %q (%v), want %q", enc, got, err, want)
		}
		sc := jsonScanner{b: enc}
		if got, err := sc.str(); err != nil || got != want || sc.i != len(enc) {
			t.Fatalf("scanner reads %q as %q (%v), want %q", enc, got, err, want)
		}

		raw := []byte(`"` + s + `"`)
		var viaStd string
		if json.Unmarshal(raw, &viaStd) != nil {
			return
		}
		sc = jsonScanner{b: raw}
		if got, err := sc.str(); err != nil || got != viaStd || sc.i != len(raw) {
			t.Fatalf("scanner reads %q as %q (%v), encoding/json as %q", raw, got, err, viaStd)
		}
	})
}
