package config

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseMillis(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"500", 500 * time.Millisecond, true},
		{" 5000 ", 5 * time.Second, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"2m", 2 * time.Minute, true},
		{"", 0, false},
		{"soon", 0, false},
		{"5 s", 0, false},
	} {
		got, err := ParseMillis(tc.in)
		if (err == nil) != tc.ok || got.D() != tc.want {
			t.Errorf("ParseMillis(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestMillisYAML(t *testing.T) {
	var v struct {
		A Millis `yaml:"a"`
		B Millis `yaml:"b"`
	}
	if err := yaml.Unmarshal([]byte("a: 250\nb: 3s\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.A.D() != 250*time.Millisecond || v.B.D() != 3*time.Second {
		t.Fatalf("got %v %v", v.A, v.B)
	}
	if err := yaml.Unmarshal([]byte("a: [1]\n"), &v); err == nil {
		t.Fatal("a list was accepted as a duration")
	}
	if b, _ := v.B.MarshalText(); string(b) != "3s" {
		t.Fatalf("marshal %q", b)
	}
}
