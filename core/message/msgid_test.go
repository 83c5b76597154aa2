package message

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestOffsetMsgID(t *testing.T) {
	tests := []struct {
		name   string
		host   netip.AddrPort
		offset int64
		want   string
	}{
		{"doc example", storeV4, 123456, "7F00000100002A9F000000000001E240"},
		{"zero", netip.MustParseAddrPort("0.0.0.0:0"), 0, "00000000000000000000000000000000"},
		{"max", netip.MustParseAddrPort("255.255.255.255:65535"), 1<<63 - 1, "FFFFFFFF0000FFFF7FFFFFFFFFFFFFFF"},
		{"ipv6", netip.MustParseAddrPort("[2001:db8::1]:10911"), 1, "20010DB800000000000000000000000100002A9F0000000000000001"},
		{"ipv4-mapped stays 16 bytes", mappedV4V6, 2, "00000000000000000000FFFF0A00000100002A9F0000000000000002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := OffsetMsgID(tt.host, tt.offset)
			if id != tt.want {
				t.Fatalf("OffsetMsgID = %s, want %s", id, tt.want)
			}
			if got := string(AppendOffsetMsgID([]byte("x"), tt.host, tt.offset)); got != "x"+tt.want {
				t.Errorf("AppendOffsetMsgID = %s", got)
			}
			for _, in := range []string{id, strings.ToLower(id)} {
				host, off, err := ParseOffsetMsgID(in)
				if err != nil {
					t.Fatalf("ParseOffsetMsgID(%s): %v", in, err)
				}
				if host != tt.host || off != tt.offset {
					t.Errorf("ParseOffsetMsgID(%s) = %v, %d; want %v, %d", in, host, off, tt.host, tt.offset)
				}
			}
		})
	}
}

func TestParseOffsetMsgIDErrors(t *testing.T) {
	good := "7F00000100002A9F000000000001E240"
	tests := []struct {
		name string
		id   string
	}{
		{"empty", ""},
		{"short", good[:31]},
		{"long", good + "0"},
		{"between lengths", good + good[:8]},
		{"non-hex", "7F00000100002A9F000000000001E24G"},
		{"space", " F00000100002A9F000000000001E240"},
		{"non-ascii", "7F00000100002A9F000000000001E2" + "é"},
		{"port out of range", "7F00000100012A9F000000000001E240"},
		{"negative port", "7F000001FFFFFFFF000000000001E240"},
		{"negative offset", "7F00000100002A9F800000000001E240"},
		{"unique id length with bad hex", strings.Repeat("Z", 56)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseOffsetMsgID(tt.id)
			if !errors.Is(err, ErrBadMsgID) {
				t.Fatalf("ParseOffsetMsgID(%q) error = %v, want ErrBadMsgID", tt.id, err)
			}
		})
	}
}

func TestAppendOffsetMsgIDZeroAllocs(t *testing.T) {
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = AppendOffsetMsgID(buf[:0], storeV6, 99) }); n != 0 {
		t.Errorf("AppendOffsetMsgID: %v allocs/op, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _, _ = ParseOffsetMsgID("7F00000100002A9F000000000001E240") }); n != 0 {
		t.Errorf("ParseOffsetMsgID: %v allocs/op, want 0", n)
	}
}
