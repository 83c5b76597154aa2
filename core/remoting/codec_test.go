package remoting

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// sendHeader is a typical SEND_MESSAGE (10) header of Go v2.1.2.
func sendHeader() map[string]string {
	return map[string]string{
		"producerGroup":         "please_rename_unique_group_name",
		"topic":                 "TopicTest",
		"defaultTopic":          "TBW102",
		"defaultTopicQueueNums": "4",
		"queueId":               "3",
		"sysFlag":               "0",
		"bornTimestamp":         "1700000000123",
		"flag":                  "0",
		"properties":            "UNIQ_KEY\x01C0A8011400002A9F0000000000000001\x02WAIT\x01true\x02TAGS\x01TagA\x02",
		"reconsumeTimes":        "0",
		"unitMode":              "false",
		"batch":                 "false",
	}
}

func roundTripCases() []struct {
	name string
	cmd  *Command
} {
	return []struct {
		name string
		cmd  *Command
	}{
		{"empty request", &Command{Code: HeartBeat, Language: "GO", Version: 317, Opaque: 1}},
		{"send with body", &Command{Code: SendMessage, Language: "GO", Version: 317, Opaque: 42, ExtFields: sendHeader(), Body: []byte("hello world")}},
		{"response with remark", &Command{Code: int16(TopicNotExist), Language: "JAVA", Version: 409, Opaque: -5, Flag: FlagResponse, Remark: `No topic route info in name server for the topic: "T"`}},
		{"oneway", &Command{Code: UpdateConsumerOffset, Language: "GO", Version: 401, Opaque: 1 << 30, Flag: FlagOneway, ExtFields: map[string]string{"queueId": "1", "commitOffset": "99"}}},
		{"body parts", &Command{Code: 0, Language: "GO", Flag: FlagResponse, Body: []byte("head|"), BodyParts: [][]byte{[]byte("a"), nil, []byte("bc")}}},
		{"only body parts", &Command{Code: 0, Language: "GO", BodyParts: [][]byte{[]byte("xyz")}}},
		{"escapes and unicode", &Command{Code: -1, Language: "GO", Version: -32768, Opaque: -2147483648, Flag: -1,
			Remark:    "quote\" backslash\\ nl\n tab\t ctl\x01\x1f del\x7f 标签 😀 </script>",
			ExtFields: map[string]string{"": "empty key", "k\"\\\n": "v\u2028\u2029", "标签": "😀", "empty": ""}}},
		{"max int16 code", &Command{Code: 32767, Language: "RUST", Version: 32767, Opaque: 2147483647, Flag: 3}},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, st := range []SerializeType{JSON, RocketMQ} {
		for _, tc := range roundTripCases() {
			t.Run(serializeName(st)+"/"+tc.name, func(t *testing.T) {
				in := *tc.cmd
				in.Serialize = st
				frame := encodeFull(t, &in)
				if got, want := int(binary.BigEndian.Uint32(frame)), len(frame)-4; got != want {
					t.Fatalf("length field %d, frame has %d bytes after it", got, want)
				}
				if frame[4] != byte(st) {
					t.Fatalf("serialize byte %d, want %d", frame[4], st)
				}
				// Whole, and one byte at a time.
				for _, r := range []io.Reader{bytes.NewReader(frame), iotest.OneByteReader(bytes.NewReader(frame))} {
					fr := NewFrameReader(r, 0)
					got, err := fr.Read()
					if err != nil {
						t.Fatalf("Read: %v", err)
					}
					if d := diffCommand(got, &in); d != "" {
						t.Fatal(d)
					}
					if _, err := fr.Read(); err != io.EOF {
						t.Fatalf("Read after the frame: %v, want io.EOF", err)
					}
				}
			})
		}
	}
}

func TestFrameRoundTripLargeBody(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16) // above eagerAlloc: grows
	for _, st := range []SerializeType{JSON, RocketMQ} {
		t.Run(serializeName(st), func(t *testing.T) {
			in := &Command{Code: PullMessage, Language: "GO", Opaque: 9, ExtFields: sendHeader(), Body: body, Serialize: st}
			frame := encodeFull(t, in)
			frame = append(frame, frame...) // two frames back to back
			fr := NewFrameReader(iotest.HalfReader(bytes.NewReader(frame)), 0)
			for i := range 2 {
				got, err := fr.Read()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if d := diffCommand(got, in); d != "" {
					t.Fatalf("frame %d: %s", i, d)
				}
			}
			if _, err := fr.Read(); err != io.EOF {
				t.Fatalf("got %v, want io.EOF", err)
			}
		})
	}
}

// TestGoHeartbeatFrame checks the exact bytes of the frame Go v2.1.2 sends for a heartbeat
// (protocol doc §1.2), and that Tern writes the same.
func TestGoHeartbeatFrame(t *testing.T) {
	const header = `{"code":34,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{}}`
	body := []byte(`{"clientID":"192.168.0.1@1234"}`)
	var want []byte
	want = binary.BigEndian.AppendUint32(want, uint32(4+len(header)+len(body)))
	want = binary.BigEndian.AppendUint32(want, uint32(len(header))) // JSON: type byte 0
	want = append(want, header...)
	want = append(want, body...)

	cmd := &Command{Code: HeartBeat, Language: "GO", Version: 317, Opaque: 1, Body: body}
	got, err := AppendFrame(nil, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("frame\n got %q\nwant %q", got, want)
	}
	dec, err := NewFrameReader(bytes.NewReader(want), 0).Read()
	if err != nil {
		t.Fatal(err)
	}
	if d := diffCommand(dec, cmd); d != "" {
		t.Fatal(d)
	}
}

func TestJSONHeaderEncoding(t *testing.T) {
	tests := []struct {
		name string
		cmd  *Command
		want string
	}{
		{"fields in Go's order, keys sorted",
			&Command{Code: 0, Language: "GO", Version: 401, Opaque: 7, Flag: 1, ExtFields: map[string]string{"queueOffset": "10", "msgId": "ID", "queueId": "1"}},
			`{"code":0,"language":"GO","version":401,"opaque":7,"flag":1,"remark":"","extFields":{"msgId":"ID","queueId":"1","queueOffset":"10"}}`},
		{"empty language is GO",
			&Command{Code: 3, Flag: 1, Remark: " request type 999 not supported"},
			`{"code":3,"language":"GO","version":0,"opaque":0,"flag":1,"remark":" request type 999 not supported","extFields":{}}`},
		{"escapes",
			&Command{Code: 1, Language: "GO", Remark: "a\"b\\c\nd\re\tf\x00g\x1fh\x7f\xffi\xe6\xa0j 标"},
			`{"code":1,"language":"GO","version":0,"opaque":0,"flag":0,"remark":"a\"b\\c\nd\re\tf\u0000g\u001fh` + "\x7f" + `\ufffdi\ufffd\ufffdj 标","extFields":{}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendJSONHeader(nil, tc.cmd))
			if got != tc.want {
				t.Fatalf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestDecodeJSONHeader(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   *Command // Serialize is JSON
	}{
		{"go v2.1.2 heartbeat",
			`{"code":34,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{}}`,
			&Command{Code: 34, Language: "GO", Version: 317, Opaque: 1}},
		{"java fastjson: alphabetical, no remark, serializeTypeCurrentRPC",
			`{"code":0,"extFields":{"msgId":"C0A8011400002A9F0000000000000001","queueId":"1","queueOffset":"12","MSG_REGION":"DefaultRegion","TRACE_ON":"true"},"flag":1,"language":"JAVA","opaque":5,"serializeTypeCurrentRPC":"JSON","version":409}`,
			&Command{Code: 0, Language: "JAVA", Version: 409, Opaque: 5, Flag: 1, ExtFields: map[string]string{
				"msgId": "C0A8011400002A9F0000000000000001", "queueId": "1", "queueOffset": "12", "MSG_REGION": "DefaultRegion", "TRACE_ON": "true"}}},
		{"numbers, booleans and nested values as their text, null left out",
			`{"code":10,"extFields":{"queueId":1,"neg":-2,"f":1.5e3,"ok":true,"no":false,"n":null,"o":{"a":[1,"x"]},"a":[]}}`,
			&Command{Code: 10, ExtFields: map[string]string{"queueId": "1", "neg": "-2", "f": "1.5e3", "ok": "true", "no": "false", "o": `{"a":[1,"x"]}`, "a": "[]"}}},
		{"nulls are zero",
			`{"code":null,"language":null,"version":null,"opaque":null,"flag":null,"remark":null,"extFields":null}`,
			&Command{}},
		{"whitespace everywhere",
			" \r\n\t{ \"code\" : 11 ,\n \"extFields\" : { \"a\" : \"b\" } , \"remark\":\"x\" } \n",
			&Command{Code: 11, Remark: "x", ExtFields: map[string]string{"a": "b"}}},
		{"last duplicate wins",
			`{"code":1,"code":2,"extFields":{"k":"a","k":"b"}}`,
			&Command{Code: 2, ExtFields: map[string]string{"k": "b"}}},
		{"unknown keys of every kind skipped",
			`{"x":{"y":[1,2,{"z":null}],"w":"\"}"},"t":true,"n":-0.5E-3,"s":"str","code":12}`,
			&Command{Code: 12}},
		{"escapes",
			`{"remark":"\"\\\/\b\f\n\r\t\u0041\u00e9\u6807\ud83d\ude00","extFields":{"\u006b":"\u0000"}}`,
			&Command{Remark: "\"\\/\b\f\n\r\tAé标😀", ExtFields: map[string]string{"k": "\x00"}}},
		{"lone surrogates and invalid UTF-8 become U+FFFD",
			"{\"remark\":\"\\ud800x\\udc00\\ud800\\u0041 \xff\xe6\xa0\"}",
			&Command{Remark: "\uFFFDx\uFFFD\uFFFDA \uFFFD\uFFFD\uFFFD"}},
		{"raw control characters accepted",
			"{\"remark\":\"a\x01\tb\"}",
			&Command{Remark: "a\x01\tb"}},
		{"int16 and int32 limits",
			`{"code":-32768,"version":32767,"opaque":-2147483648,"flag":2147483647}`,
			&Command{Code: -32768, Version: 32767, Opaque: -2147483648, Flag: 2147483647}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Command
			if err := decodeJSONHeader([]byte(tc.header), &got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if d := diffCommand(&got, tc.want); d != "" {
				t.Fatal(d)
			}
			if got.Language != tc.want.Language {
				t.Fatalf("language %q, want %q", got.Language, tc.want.Language)
			}
		})
	}
}

func TestDecodeJSONHeaderErrors(t *testing.T) {
	tests := []struct{ name, header string }{
		{"empty", ``},
		{"not an object", `[1]`},
		{"trailing data", `{"code":1}{}`},
		{"trailing comma", `{"code":1,}`},
		{"missing colon", `{"code" 1}`},
		{"unquoted key", `{code:1}`},
		{"code above int16", `{"code":32768}`},
		{"opaque above int32", `{"opaque":2147483648}`},
		{"code not an integer", `{"code":1.0}`},
		{"code a string", `{"code":"34"}`},
		{"huge number", `{"flag":123456789012345678901234567890}`},
		{"leading zero", `{"code":01}`},
		{"bare minus", `{"code":-}`},
		{"unterminated string", `{"remark":"abc`},
		{"unterminated escape", `{"remark":"abc\`},
		{"bad escape", `{"remark":"\x"}`},
		{"short unicode escape", `{"remark":"\u12"}`},
		{"bad unicode escape", `{"remark":"\u12g4"}`},
		{"extFields an array", `{"extFields":["a"]}`},
		{"extFields a string", `{"extFields":"a"}`},
		{"extFields value unterminated", `{"extFields":{"a":[1,2}}`},
		{"extFields key a number", `{"extFields":{1:"a"}}`},
		{"language a number", `{"language":9}`},
		{"bad literal", `{"x":tru}`},
		{"nested too deeply", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`},
		{"unterminated object", `{"code":1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Command
			if err := decodeJSONHeader([]byte(tc.header), &c); err == nil {
				t.Fatalf("decoded %q without error: %+v", tc.header, c)
			}
		})
	}
}

// binaryHeader builds a ROCKETMQ header by hand, independently of the encoder.
func binaryHeader(code int16, lang byte, version int16, opaque, flag int32, remark string, ext []byte) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	b = append(b, lang)
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(opaque))
	b = binary.BigEndian.AppendUint32(b, uint32(flag))
	b = binary.BigEndian.AppendUint32(b, uint32(len(remark)))
	b = append(b, remark...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ext)))
	return append(b, ext...)
}

func binaryEntry(k, v string) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
	b = append(b, k...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// frameOf wraps a header and a body in a frame of the given serialize type.
func frameOf(st SerializeType, header, body []byte) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, uint32(4+len(header)+len(body)))
	b = append(b, byte(st), byte(len(header)>>16), byte(len(header)>>8), byte(len(header)))
	b = append(b, header...)
	return append(b, body...)
}

func TestBinaryHeaderLayout(t *testing.T) {
	ext := append(binaryEntry("a", "1"), binaryEntry("topic", "T")...)
	want := binaryHeader(10, 0, 409, 7, 2, "hi", ext)
	cmd := &Command{Code: 10, Language: "JAVA", Version: 409, Opaque: 7, Flag: 2, Remark: "hi",
		ExtFields: map[string]string{"topic": "T", "a": "1"}, Serialize: RocketMQ}
	got, err := appendBinaryHeader(nil, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("header\n got %x\nwant %x", got, want)
	}
	dec, err := NewFrameReader(bytes.NewReader(frameOf(RocketMQ, want, []byte("body"))), 0).Read()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Body = []byte("body")
	if d := diffCommand(dec, cmd); d != "" {
		t.Fatal(d)
	}
}

func TestBinaryLanguages(t *testing.T) {
	tests := []struct {
		name     string
		lang     string
		wantByte byte
		wantName string
	}{
		{"java", "JAVA", 0, "JAVA"},
		{"go", "GO", 9, "GO"},
		{"rust", "RUST", 12, "RUST"},
		{"empty is GO", "", 9, "GO"},
		{"unknown is OTHER", "COBOL", 7, "OTHER"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := appendBinaryHeader(nil, &Command{Language: tc.lang})
			if err != nil {
				t.Fatal(err)
			}
			if h[2] != tc.wantByte {
				t.Fatalf("language byte %d, want %d", h[2], tc.wantByte)
			}
			var c Command
			if err := decodeBinaryHeader(h, &c); err != nil {
				t.Fatal(err)
			}
			if c.Language != tc.wantName {
				t.Fatalf("decoded %q, want %q", c.Language, tc.wantName)
			}
		})
	}
	var c Command
	if err := decodeBinaryHeader(binaryHeader(0, 200, 0, 0, 0, "", nil), &c); err != nil || c.Language != "OTHER" {
		t.Fatalf("byte 200: %q, %v; want OTHER", c.Language, err)
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		cmd  *Command
	}{
		{"unknown serialize type", &Command{Serialize: 2}},
		{"binary key too long", &Command{Serialize: RocketMQ, ExtFields: map[string]string{strings.Repeat("k", 1<<15): "v"}}},
		{"header above 24 bits", &Command{Remark: strings.Repeat("r", 1<<24)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := AppendFrame(dst, tc.cmd)
			if err == nil {
				t.Fatal("no error")
			}
			if string(got) != "keep" {
				t.Fatalf("dst changed to %d bytes", len(got))
			}
		})
	}
}

func TestFrameReaderErrors(t *testing.T) {
	good := encodeFull(t, &Command{Code: HeartBeat, Language: "GO", Opaque: 1, Body: []byte("body")})
	length := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	const max = 1024
	exactMax := frameOf(JSON, []byte(`{"code":1}`), make([]byte, max-4-len(`{"code":1}`)))
	tests := []struct {
		name   string
		input  []byte
		frames int   // frames read before the error
		want   error // io.EOF, io.ErrUnexpectedEOF, ErrBadFrame or ErrFrameTooLarge
	}{
		{"empty stream", nil, 0, io.EOF},
		{"one frame then clean end", good, 1, io.EOF},
		{"frame of exactly max", exactMax, 1, io.EOF},
		{"torn length", good[:2], 0, io.ErrUnexpectedEOF},
		{"torn header word", good[:6], 0, io.ErrUnexpectedEOF},
		{"torn header", good[:20], 0, io.ErrUnexpectedEOF},
		{"torn body", good[:len(good)-1], 0, io.ErrUnexpectedEOF},
		{"torn second frame", append(bytes.Clone(good), good[:9]...), 1, io.ErrUnexpectedEOF},
		{"length 0", length(0), 0, ErrBadFrame},
		{"length 3", append(length(3), 0, 0, 0), 0, ErrBadFrame},
		{"negative length", length(0xFFFFFFFF), 0, ErrBadFrame},
		{"length max+1", length(max + 1), 0, ErrFrameTooLarge},
		{"absurd length", length(0x7FFFFFFF), 0, ErrFrameTooLarge},
		{"header length beyond the frame", append(length(10), 0, 0, 0, 7, 1, 2, 3, 4, 5, 6), 0, ErrBadFrame},
		{"unknown serialize type", frameOf(2, []byte(`{}`), nil), 0, ErrBadFrame},
		{"invalid JSON header", frameOf(JSON, []byte(`{"code":`), nil), 0, ErrBadFrame},
		{"empty JSON header", frameOf(JSON, nil, []byte("body")), 0, ErrBadFrame},
		{"binary header too short", frameOf(RocketMQ, make([]byte, 20), nil), 0, ErrBadFrame},
		{"binary remark beyond header", frameOf(RocketMQ, binaryHeader(1, 9, 0, 0, 0, "abc", nil)[:19], nil), 0, ErrBadFrame},
		{"binary negative remark length", frameOf(RocketMQ, append(binaryHeader(1, 9, 0, 0, 0, "", nil)[:13], 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0), nil), 0, ErrBadFrame},
		{"binary extLen beyond header", frameOf(RocketMQ, binaryHeader(1, 9, 0, 0, 0, "", binaryEntry("k", "v"))[:25], nil), 0, ErrBadFrame},
		{"binary negative key length", frameOf(RocketMQ, binaryHeader(1, 9, 0, 0, 0, "", []byte{0x80, 0, 0, 0, 0, 0}), nil), 0, ErrBadFrame},
		{"binary value beyond entries", frameOf(RocketMQ, binaryHeader(1, 9, 0, 0, 0, "", binaryEntry("k", "value")[:9]), nil), 0, ErrBadFrame},
		{"binary entry torn inside key length", frameOf(RocketMQ, binaryHeader(1, 9, 0, 0, 0, "", []byte{0}), nil), 0, ErrBadFrame},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0, ErrFrameTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := NewFrameReader(bytes.NewReader(tc.input), max)
			for i := range tc.frames {
				if _, err := fr.Read(); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
			}
			_, err := fr.Read()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want == io.EOF && err != io.EOF {
				t.Fatalf("clean end must be io.EOF itself, got %v", err)
			}
			if tc.want != io.EOF && errors.Is(err, io.EOF) {
				t.Fatalf("%v must not be io.EOF", err)
			}
			if _, again := fr.Read(); again != err {
				t.Fatalf("not sticky: %v then %v", err, again)
			}
		})
	}
}

// TestFrameReaderDoesNotTrustLength checks that a frame announcing the maximum size but cut
// short costs memory in proportion to the bytes received, not to the length field.
func TestFrameReaderDoesNotTrustLength(t *testing.T) {
	input := append(binary.BigEndian.AppendUint32(nil, DefaultMaxFrameSize), 0, 0, 0, 2, '{', '}')
	input = append(input, make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NewFrameReader(bytes.NewReader(input), 0).Read()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("allocated %d bytes for a frame of %d bytes", alloc, len(input))
	}
}

func TestBodyIsNilWhenEmpty(t *testing.T) {
	frame := encodeFull(t, &Command{Code: 1, ExtFields: map[string]string{}})
	c, err := NewFrameReader(bytes.NewReader(frame), 0).Read()
	if err != nil {
		t.Fatal(err)
	}
	if c.Body != nil || c.Header() != nil {
		t.Fatalf("body %v, extFields %v: want nil", c.Body, c.Header())
	}
}
