package remoting

import (
	"bytes"
	"encoding/binary"
	"maps"
	"strings"
	"testing"
)

// testFields is a FieldWriter with every kind of field, one needing JSON escapes.
type testFields struct{}

func (testFields) WriteFields(w *FieldAppender) {
	w.String("topic", "TopicTest")
	w.Int("queueId", 3)
	w.Int("bornTimestamp", -1700000000123)
	w.Bool("batch", true)
	w.String("properties", "a\x01b\x02\"quoted\"\\ \u00e9")
}

var testFieldMap = map[string]string{
	"topic": "TopicTest", "queueId": "3", "bornTimestamp": "-1700000000123", "batch": "true",
	"properties": "a\x01b\x02\"quoted\"\\ \u00e9",
}

// TestFieldsEncode checks that Fields are written into both header encodings and read back as
// ExtFields, together with ExtFields' own entries, and that FieldMap gives the same map.
func TestFieldsEncode(t *testing.T) {
	want := maps.Clone(testFieldMap)
	want["extra"] = "x"
	for _, st := range []SerializeType{JSON, RocketMQ} {
		t.Run(serializeName(st), func(t *testing.T) {
			c := NewRequest(10, map[string]string{"extra": "x"}, []byte("body"))
			c.Fields, c.Serialize = testFields{}, st
			frame, err := AppendFrame(nil, c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewFrameReader(bytes.NewReader(frame), 0).Read()
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got.Header(), want) || string(got.Body) != "body" {
				t.Fatalf("read back %q, body %q; want %q", got.Header(), got.Body, want)
			}
			if m := c.FieldMap(); !maps.Equal(m, want) {
				t.Fatalf("FieldMap = %q, want %q", m, want)
			}
		})
	}
	if m := (&Command{ExtFields: testFieldMap}).FieldMap(); !maps.Equal(m, testFieldMap) {
		t.Fatalf("FieldMap without Fields = %q", m)
	}
}

type longKey struct{}

func (longKey) WriteFields(w *FieldAppender) { w.String(strings.Repeat("k", 1<<15), "v") }

func TestFieldsKeyTooLong(t *testing.T) {
	c := NewRequest(10, nil, nil)
	c.Fields, c.Serialize = longKey{}, RocketMQ
	if _, err := AppendFrame(nil, c); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("AppendFrame with a key of 32 KiB: %v, want an error", err)
	}
}

// TestLookupDecoded reads a decoded ROCKETMQ header without building its map: present, absent
// and repeated keys (the last value counts, as in the map), encoding and FieldMap leave it as it
// is, then Header and SetField on it.
func TestLookupDecoded(t *testing.T) {
	frame, err := AppendFrame(nil, &Command{Code: 10, Serialize: RocketMQ, ExtFields: map[string]string{"topic": "T", "a": ""}})
	if err != nil {
		t.Fatal(err)
	}
	// A repeated key, as a peer may send: "topic"="U" appended to the extFields section, which
	// ends the frame (no body). The header's fixed part is 13 bytes, the remark empty, so the
	// section's length is at 8+13+4.
	extra := []byte{0, 5, 't', 'o', 'p', 'i', 'c', 0, 0, 0, 1, 'U'}
	frame = append(frame, extra...)
	const extLenAt = 8 + 13 + 4
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	binary.BigEndian.PutUint32(frame[4:], uint32(RocketMQ)<<24|uint32(len(frame)-8))
	binary.BigEndian.PutUint32(frame[extLenAt:], binary.BigEndian.Uint32(frame[extLenAt:])+uint32(len(extra)))
	c, err := NewFrameReader(bytes.NewReader(frame), 0).Read()
	if err != nil {
		t.Fatal(err)
	}
	if c.ExtFields != nil {
		t.Fatalf("decoding built ExtFields %v", c.ExtFields)
	}
	// Encoding and FieldMap read the command without changing it (it may be shared).
	if _, err := AppendFrame(nil, c); err != nil {
		t.Fatal(err)
	}
	if m := c.FieldMap(); m["topic"] != "U" || c.ExtFields != nil {
		t.Fatalf("FieldMap %v; ExtFields after encoding and FieldMap %v, want nil", m, c.ExtFields)
	}
	for _, tc := range []struct {
		key, want string
		ok        bool
	}{{"topic", "U", true}, {"a", "", true}, {"b", "", false}} {
		if v, ok := c.Lookup(tc.key); v != tc.want || ok != tc.ok {
			t.Fatalf("Lookup(%q) = %q, %v; want %q, %v", tc.key, v, ok, tc.want, tc.ok)
		}
	}
	c.SetField("b", "1")
	if want := map[string]string{"topic": "U", "a": "", "b": "1"}; !maps.Equal(c.Header(), want) {
		t.Fatalf("Header after SetField %v, want %v", c.Header(), want)
	}
	if v, ok := c.Lookup("b"); v != "1" || !ok {
		t.Fatalf("Lookup after SetField = %q, %v", v, ok)
	}
}
