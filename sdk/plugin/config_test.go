package plugin_test

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ternmq/tern/sdk/plugin"
)

func TestConfigRoundTrip(t *testing.T) {
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := map[string]any{
		"null":     nil,
		"bool":     true,
		"string":   "s",
		"int":      42,
		"int64":    int64(-7),
		"uint8":    uint8(200),
		"float":    1.5,
		"whole":    2.0,
		"big":      float64(1 << 60),
		"bytes":    []byte("hi"),
		"time":     when,
		"duration": 1500 * time.Millisecond,
		"list":     []any{1, "two", []string{"x"}},
		"strings":  []string{"a", "b"},
		"map":      map[string]any{"nested": map[string]int{"n": 1}},
		"yamlmap":  map[any]any{1: "one", "k": false},
		"pointer":  ptr(3),
		"nilptr":   (*int)(nil),
	}
	want := map[string]any{
		"null":     nil,
		"bool":     true,
		"string":   "s",
		"int":      42,
		"int64":    -7,
		"uint8":    200,
		"float":    1.5,
		"whole":    2, // whole numbers come back as int, as YAML decodes them
		"big":      float64(1 << 60),
		"bytes":    "aGk=",
		"time":     "2026-01-02T03:04:05Z",
		"duration": "1.5s",
		"list":     []any{1, "two", []any{"x"}},
		"strings":  []any{"a", "b"},
		"map":      map[string]any{"nested": map[string]any{"n": 1}},
		"yamlmap":  map[string]any{"1": "one", "k": false},
		"pointer":  3,
		"nilptr":   nil,
	}
	s, err := plugin.ConfigToStruct(in)
	if err != nil {
		t.Fatal(err)
	}
	// Through the wire format, as Init sends it.
	raw, err := proto.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Reset()
	if err := proto.Unmarshal(raw, s); err != nil {
		t.Fatal(err)
	}
	got := plugin.StructToConfig(s)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got  %#v\n want %#v", got, want)
	}
	norm, err := plugin.NormalizeConfig(in)
	if err != nil || !reflect.DeepEqual(norm, want) {
		t.Errorf("NormalizeConfig = %#v, %v", norm, err)
	}
	// Normalising is idempotent.
	if again, err := plugin.NormalizeConfig(norm); err != nil || !reflect.DeepEqual(again, norm) {
		t.Errorf("NormalizeConfig is not idempotent: %#v, %v", again, err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestConfigEdges(t *testing.T) {
	if got := plugin.StructToConfig(nil); got == nil || len(got) != 0 {
		t.Errorf("StructToConfig(nil) = %#v, want an empty map", got)
	}
	s, err := plugin.ConfigToStruct(nil)
	if err != nil || len(s.GetFields()) != 0 {
		t.Errorf("ConfigToStruct(nil) = %v, %v", s, err)
	}
	for name, v := range map[string]any{"func": func() {}, "chan": make(chan int), "struct": struct{ A int }{1}, "nested": []any{map[string]any{"f": func() {}}}} {
		_, err := plugin.ConfigToStruct(map[string]any{"k": v})
		if !errors.Is(err, plugin.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
	// Beyond 2^53 and fractions stay float64; NaN and ±Inf too.
	cfg, _ := plugin.NormalizeConfig(map[string]any{"a": 1e300, "b": 0.25, "c": math.Inf(1)})
	if _, ok := cfg["a"].(float64); !ok {
		t.Errorf("1e300 = %T", cfg["a"])
	}
	if cfg["b"] != 0.25 || cfg["c"] != math.Inf(1) {
		t.Errorf("cfg = %#v", cfg)
	}
}

func TestHandshake(t *testing.T) {
	h := plugin.Handshake()
	if h.ProtocolVersion != plugin.ProtocolVersion || h.MagicCookieKey != "TERN_PLUGIN" || len(h.MagicCookieValue) != 32 {
		t.Errorf("Handshake() = %+v", h)
	}
}
