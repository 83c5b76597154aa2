package message

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixedClock returns a clock that reports *now.
func fixedClock(now *time.Time) func() time.Time { return func() time.Time { return *now } }

func TestUniqIDFormat(t *testing.T) {
	now := time.Date(2024, time.March, 5, 6, 7, 8, 9_000_000, time.UTC)
	monthStart := time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC)
	span := uint32(now.Sub(monthStart).Milliseconds())

	tests := []struct {
		name    string
		ip      netip.Addr
		pid     int
		wantLen int
		wantIP  string // hex of the IP bytes
	}{
		{"ipv4", netip.MustParseAddr("192.0.2.35"), 0x3065, 32, "C0000223"},
		{"ipv4-mapped is ipv4", netip.MustParseAddr("::ffff:192.0.2.35"), 0x3065, 32, "C0000223"},
		{"ipv6", netip.MustParseAddr("2001:db8::7"), 0x13065, 56, "20010DB8000000000000000000000007"},
		{"invalid ip", netip.Addr{}, 1, 32, "00000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewUniqIDGenerator(tt.ip, tt.pid, fixedClock(&now))
			id1, id2 := g.Next(), g.Next()
			for _, id := range []string{id1, id2} {
				if len(id) != tt.wantLen {
					t.Fatalf("len(%s) = %d, want %d", id, len(id), tt.wantLen)
				}
				if id != strings.ToUpper(id) {
					t.Errorf("%s is not upper-case", id)
				}
				if _, err := hex.DecodeString(id); err != nil {
					t.Errorf("%s is not hex: %v", id, err)
				}
			}
			ipHex := len(tt.wantIP)
			if !strings.HasPrefix(id1, tt.wantIP) {
				t.Errorf("%s does not start with ip %s", id1, tt.wantIP)
			}
			if got, want := id1[ipHex:ipHex+4], strings.ToUpper(hex.EncodeToString([]byte{byte(tt.pid >> 8), byte(tt.pid)})); got != want {
				t.Errorf("pid part = %s, want %s", got, want)
			}
			// Prefix (ip, pid, random) is fixed; suffix is span + counter.
			if id1[:ipHex+12] != id2[:ipHex+12] {
				t.Errorf("prefix changed: %s vs %s", id1, id2)
			}
			wantSpan := strings.ToUpper(hex.EncodeToString([]byte{byte(span >> 24), byte(span >> 16), byte(span >> 8), byte(span)}))
			if got := id1[ipHex+12 : ipHex+20]; got != wantSpan {
				t.Errorf("time part = %s, want %s", got, wantSpan)
			}
			if id1[ipHex+20:] != "0000" || id2[ipHex+20:] != "0001" {
				t.Errorf("counters = %s, %s; want 0000, 0001", id1[ipHex+20:], id2[ipHex+20:])
			}
		})
	}
}

func TestUniqIDCounterWraps(t *testing.T) {
	now := time.Date(2024, time.March, 5, 0, 0, 0, 0, time.UTC)
	g := NewUniqIDGenerator(netip.MustParseAddr("10.0.0.1"), 1, fixedClock(&now))
	var last string
	for range 65537 {
		last = g.Next()
	}
	if last[28:] != "0000" {
		t.Errorf("counter after 65536 ids = %s, want wrap to 0000", last[28:])
	}
}

func TestUniqIDMonthRollover(t *testing.T) {
	now := time.Date(2024, time.January, 31, 23, 59, 59, 999_000_000, time.UTC)
	g := NewUniqIDGenerator(netip.MustParseAddr("10.0.0.1"), 1, fixedClock(&now))
	late := g.Next()
	now = now.Add(time.Millisecond) // 1 Feb 00:00:00.000
	early := g.Next()
	if got := early[20:28]; got != "00000000" {
		t.Errorf("first ms of month: span = %s, want 00000000", got)
	}
	// 31 days of ms does not fit an int32 but does fit the uint32 field.
	if got, want := late[20:28], "9FA523FF"; got != want { // 31*86400000-1 = 0x9FA523FF
		t.Errorf("last ms of January: span = %s, want %s", got, want)
	}
	// The clock going back across the boundary is handled too.
	now = now.Add(-time.Millisecond)
	if got := g.Next()[20:28]; got != "9FA523FF" {
		t.Errorf("after the clock stepped back: span = %s", got)
	}
}

func TestUniqIDUniqueConcurrent(t *testing.T) {
	const goroutines, perG = 8, 100_000 / 8
	g := NewUniqIDGenerator(netip.MustParseAddr("10.0.0.1"), 1234, nil)
	results := make([][]string, goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			ids := make([]string, perG)
			for j := range ids {
				ids[j] = g.Next()
			}
			results[i] = ids
		})
	}
	wg.Wait()
	seen := make(map[string]struct{}, goroutines*perG)
	for _, ids := range results {
		for _, id := range ids {
			if _, dup := seen[id]; dup {
				t.Fatalf("duplicate id %s", id)
			}
			seen[id] = struct{}{}
		}
	}
}

func TestUniqIDDistinctGenerators(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.1")
	a := NewUniqIDGenerator(ip, 1, nil).Next()
	b := NewUniqIDGenerator(ip, 1, nil).Next()
	// Same ip and pid: the random part tells generators apart (1 in 2^32 to collide).
	if a[:20] == b[:20] {
		t.Errorf("two generators share prefix %s", a[:20])
	}
}

func TestUniqIDTime(t *testing.T) {
	loc := time.FixedZone("UTC+8", 8*3600)
	tests := []struct {
		name    string
		created time.Time
		ref     time.Time
	}{
		{"same month", time.Date(2024, 3, 5, 6, 7, 8, 9_000_000, time.UTC), time.Date(2024, 3, 20, 0, 0, 0, 0, time.UTC)},
		{"ref equals creation", time.Date(2024, 3, 5, 6, 7, 8, 0, time.UTC), time.Date(2024, 3, 5, 6, 7, 8, 0, time.UTC)},
		{"following month", time.Date(2024, 3, 30, 12, 0, 0, 0, time.UTC), time.Date(2024, 4, 2, 0, 0, 0, 0, time.UTC)},
		{"across year end", time.Date(2023, 12, 31, 23, 59, 59, 999_000_000, time.UTC), time.Date(2024, 1, 1, 0, 0, 1, 0, time.UTC)},
		{"late in a 31-day month (span > MaxInt32)", time.Date(2024, 1, 31, 20, 0, 0, 0, time.UTC), time.Date(2024, 2, 1, 1, 0, 0, 0, time.UTC)},
		{"non-UTC location", time.Date(2024, 6, 1, 0, 30, 0, 0, loc), time.Date(2024, 6, 1, 1, 0, 0, 0, loc)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.created
			for _, ip := range []string{"10.0.0.1", "2001:db8::1"} {
				id := NewUniqIDGenerator(netip.MustParseAddr(ip), 1, fixedClock(&now)).Next()
				for _, in := range []string{id, strings.ToLower(id)} {
					got, ok := UniqIDTime(in, tt.ref)
					if !ok {
						t.Fatalf("UniqIDTime(%s) not ok", in)
					}
					if !got.Equal(tt.created) {
						t.Errorf("UniqIDTime(%s) = %v, want %v", in, got, tt.created)
					}
				}
			}
		})
	}
}

func TestUniqIDTimeGoClientID(t *testing.T) {
	// The example from §5.2 (Go v2.1.2: lower-case suffix, zero random part).
	id := "C00002023065000000006ccab5400001"
	ref := time.Date(2024, 3, 31, 0, 0, 0, 0, time.UTC)
	got, ok := UniqIDTime(id, ref)
	if !ok {
		t.Fatal("not ok")
	}
	want := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC).Add(0x6ccab540 * time.Millisecond)
	if !got.Equal(want) {
		t.Errorf("UniqIDTime = %v, want %v", got, want)
	}
}

func TestUniqIDTimeMalformed(t *testing.T) {
	ref := time.Now()
	for _, id := range []string{"", "ABC", strings.Repeat("0", 31), strings.Repeat("0", 33), strings.Repeat("G", 32), strings.Repeat("0", 55) + "x"} {
		if _, ok := UniqIDTime(id, ref); ok {
			t.Errorf("UniqIDTime(%q) ok, want malformed", id)
		}
	}
}

func TestUniqIDAppendNextZeroAllocs(t *testing.T) {
	now := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	g := NewUniqIDGenerator(netip.MustParseAddr("10.0.0.1"), 1, fixedClock(&now))
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = g.AppendNext(buf[:0]) }); n != 0 {
		t.Errorf("AppendNext: %v allocs/op, want 0", n)
	}
}
