package message

import (
	"testing"
	"unicode/utf16"
)

// javaHashCode is an independent reference: Java String.hashCode over UTF-16
// code units, as §6.2 describes it.
func javaHashCode(s string) int64 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return int64(h)
}

func TestTagsCode(t *testing.T) {
	tests := []struct {
		name string
		tags string
		want int64
	}{
		{"empty", "", 0},
		{"TagA (doc)", "TagA", 2598919},
		{"TagB (doc)", "TagB", 2598920},
		{"single char", "a", 97},
		{"Aa collides with BB", "Aa", 2112},
		{"BB", "BB", 2112},
		// 标 U+6807 (26631), 签 U+7B7E (31614): 26631*31 + 31614.
		{"cjk", "标签", 857175},
		// 😀 U+1F600 is the surrogate pair D83D DE00: 55357*31 + 56832.
		{"surrogate pair", "😀", 1772899},
		// 'x' (120) then the pair: (120*31 + 55357)*31 + 56832.
		{"ascii then surrogate pair", "x😀", (120*31+55357)*31 + 56832},
		// A well-known Java string whose hashCode is Integer.MIN_VALUE.
		{"wraps to MinInt32", "polygenelubricants", -2147483648},
		// Java "hello world".hashCode() == 1794106052.
		{"hello world", "hello world", 1794106052},
		// Invalid UTF-8 hashes as U+FFFD (65533).
		{"invalid utf-8", "\xff", 65533},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TagsCode(tt.tags); got != tt.want {
				t.Errorf("TagsCode(%q) = %d, want %d", tt.tags, got, tt.want)
			}
			if got := TagsCodeBytes([]byte(tt.tags)); got != tt.want {
				t.Errorf("TagsCodeBytes(%q) = %d, want %d", tt.tags, got, tt.want)
			}
			if got := javaHashCode(tt.tags); got != tt.want {
				t.Errorf("reference javaHashCode(%q) = %d, want %d (bad test case)", tt.tags, got, tt.want)
			}
		})
	}
}

func TestTagsCodeLongStringNegative(t *testing.T) {
	s := "a-rather-long-tag-value-that-overflows-int32-many-times-over"
	got := TagsCode(s)
	if got != javaHashCode(s) {
		t.Fatalf("TagsCode = %d, reference %d", got, javaHashCode(s))
	}
	if got < -1<<31 || got > 1<<31-1 {
		t.Fatalf("TagsCode = %d is not a sign-extended int32", got)
	}
}

func TestTagsCodeBytesZeroAllocs(t *testing.T) {
	for _, s := range []string{"TagA", "标签😀 mixed"} {
		b := []byte(s)
		var sink int64
		if n := testing.AllocsPerRun(100, func() { sink += TagsCodeBytes(b) }); n != 0 {
			t.Errorf("TagsCodeBytes(%q): %v allocs/op, want 0", s, n)
		}
		_ = sink
	}
}
