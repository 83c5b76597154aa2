package manifest

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzParse: Parse never panics, and a manifest that parses encodes to YAML that parses to the
// same manifest. Config values compare by their encoding: YAML has one number type for 1 and
// 1.0, so a float that is a whole number comes back as an int.
//
// The seed corpus is in testdata/fuzz/FuzzParse; inputs the fuzzer finds go there too. Run:
//
//	go test ./plugins/manifest/ -run '^$' -fuzz '^FuzzParse$' -fuzztime 30s
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		m2, err := Parse(enc, "fuzz.yaml")
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, enc)
		}
		enc2, err := m2.Encode()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
		if len(m.Plugins) != len(m2.Plugins) {
			t.Fatalf("%d plugins, then %d", len(m.Plugins), len(m2.Plugins))
		}
		for i := range m.Plugins {
			a, b := m.Plugins[i], m2.Plugins[i]
			a.Config, b.Config = nil, nil
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("plugin %d:\n%+v\n%+v", i, a, b)
			}
		}
	})
}
