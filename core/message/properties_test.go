package message

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"empty", "", nil},
		{"java style", "KEYS\x01a b\x02TAGS\x01TagA", map[string]string{"KEYS": "a b", "TAGS": "TagA"}},
		{"go style trailing separator", "KEYS\x01a b\x02TAGS\x01TagA\x02", map[string]string{"KEYS": "a b", "TAGS": "TagA"}},
		{"empty pieces skipped", "\x02\x02A\x011\x02\x02\x02B\x012\x02\x02", map[string]string{"A": "1", "B": "2"}},
		{"only separators", "\x02\x02\x02", nil},
		{"empty key skipped", "\x01v\x02A\x011", map[string]string{"A": "1"}},
		{"empty value skipped", "A\x01\x02B\x012", map[string]string{"B": "2"}},
		{"no name-value separator skipped", "junk\x02A\x011", map[string]string{"A": "1"}},
		{"short piece skipped", "A\x01\x02ab\x02B\x01c", map[string]string{"B": "c"}},
		{"value keeps later name-value separators", "A\x011\x012", map[string]string{"A": "1\x012"}},
		{"later duplicate wins", "A\x011\x02A\x012", map[string]string{"A": "2"}},
		{"utf-8 text", "TAGS\x01标签\x02KEYS\x01😀", map[string]string{"TAGS": "标签", "KEYS": "😀"}},
		{"minimal pair", "a\x01b", map[string]string{"a": "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseProperties([]byte(tt.in))
			if !maps.Equal(got, tt.want) {
				t.Fatalf("ParseProperties(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if tt.want == nil && got != nil {
				t.Errorf("got empty non-nil map, want nil")
			}
			// Property agrees with ParseProperties.
			for k, v := range tt.want {
				if pv, ok := Property([]byte(tt.in), k); !ok || string(pv) != v {
					t.Errorf("Property(%q) = %q, %v; want %q", k, pv, ok, v)
				}
			}
		})
	}
}

func TestProperty(t *testing.T) {
	s := []byte("KEYS\x01k1\x02TAGS\x01TagA\x02TAGSX\x01no\x02UNIQ_KEY\x01ID\x02")
	tests := []struct {
		key    string
		want   string
		wantOK bool
	}{
		{PropertyTags, "TagA", true},
		{PropertyKeys, "k1", true},
		{PropertyUniqKey, "ID", true},
		{"TAG", "", false},
		{"", "", false},
		{PropertyDelayLevel, "", false},
	}
	for _, tt := range tests {
		got, ok := Property(s, tt.key)
		if ok != tt.wantOK || string(got) != tt.want {
			t.Errorf("Property(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.wantOK)
		}
	}
	if _, ok := Property(nil, "A"); ok {
		t.Error("Property(nil) found a key")
	}
	// The value aliases the input and cannot be appended into the next entry.
	v, _ := Property(s, PropertyKeys)
	if cap(v) != len(v) {
		t.Errorf("cap(value) = %d, want %d", cap(v), len(v))
	}
	if n := testing.AllocsPerRun(100, func() { Property(s, PropertyUniqKey) }); n != 0 {
		t.Errorf("Property: %v allocs/op, want 0", n)
	}
}

func TestAppendProperties(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]string
		want    string
		wantErr error
	}{
		{"nil", nil, "", nil},
		{"one", map[string]string{"TAGS": "a"}, "TAGS\x01a", nil},
		{"sorted, no trailing separator", map[string]string{"TAGS": "a", "KEYS": "k", "DELAY": "3"}, "DELAY\x013\x02KEYS\x01k\x02TAGS\x01a", nil},
		{"empty value written", map[string]string{"A": ""}, "A\x01", nil},
		{"empty key", map[string]string{"": "x"}, "", ErrBadProperty},
		{"key with name-value separator", map[string]string{"a\x01b": "x"}, "", ErrBadProperty},
		{"key with property separator", map[string]string{"a\x02b": "x"}, "", ErrBadProperty},
		{"value with name-value separator", map[string]string{"a": "x\x01"}, "", ErrBadProperty},
		{"value with property separator", map[string]string{"a": "\x02x"}, "", ErrBadProperty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendProperties([]byte("pre"), tt.in)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if string(got) != "pre" {
					t.Errorf("dst changed on error: %q", got)
				}
				return
			}
			if string(got) != "pre"+tt.want {
				t.Fatalf("AppendProperties = %q, want %q", got[3:], tt.want)
			}
		})
	}
}

func TestAppendPropertiesRoundTrip(t *testing.T) {
	m := map[string]string{
		PropertyTags: "TagA", PropertyKeys: "k1 k2", PropertyUniqKey: "7F000001",
		PropertyTraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"中文":                "值",
	}
	b, err := AppendProperties(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if got := ParseProperties(b); !maps.Equal(got, m) {
		t.Fatalf("round trip = %q, want %q", got, m)
	}
}

func TestAppendProperty(t *testing.T) {
	tests := []struct {
		name, in, key, value, want string
		wantErr                    error
	}{
		{"into empty", "", PropertyCluster, "DefaultCluster", "CLUSTER\x01DefaultCluster", nil},
		{"after java style", "A\x011", "B", "2", "A\x011\x02B\x012", nil},
		{"after go style trailing separator", "A\x011\x02", "B", "2", "A\x011\x02B\x012", nil},
		{"bad key", "A\x011", "B\x01", "2", "A\x011", ErrBadProperty},
		{"bad value", "A\x011", "B", "\x02", "A\x011", ErrBadProperty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendProperty([]byte(tt.in), tt.key, tt.value)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Fatalf("AppendProperty = %q, want %q", got, tt.want)
			}
		})
	}
	// A later duplicate overrides for readers.
	b, _ := AppendProperty([]byte("A\x011"), "A", "2")
	if v, _ := Property(b, "A"); string(v) != "2" {
		t.Errorf("Property after override = %q, want 2", v)
	}
}

func TestSplitKeys(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"one", "k1", []string{"k1"}},
		{"two", "k1 k2", []string{"k1", "k2"}},
		{"extra spaces", "  k1   k2 ", []string{"k1", "k2"}},
		{"only spaces", "   ", nil},
		{"tabs are not separators", "a\tb c", []string{"a\tb", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			SplitKeys([]byte(tt.in), func(k []byte) { got = append(got, string(k)) })
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Fatalf("SplitKeys(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	keys := []byte("order-1 order-2  order-3")
	var n int
	if a := testing.AllocsPerRun(100, func() { SplitKeys(keys, func(k []byte) { n += len(k) }) }); a != 0 {
		t.Errorf("SplitKeys: %v allocs/op, want 0", a)
	}
}
