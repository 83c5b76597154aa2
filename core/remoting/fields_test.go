package remoting

import (
	"bytes"
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
			if !maps.Equal(got.ExtFields, want) || string(got.Body) != "body" {
				t.Fatalf("read back %q, body %q; want %q", got.ExtFields, got.Body, want)
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
