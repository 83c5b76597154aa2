package tag

import (
	"errors"
	"slices"
	"testing"

	"github.com/ternmq/tern/core/message"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		expr     string
		wantAll  bool
		wantTags []string
		wantErr  error
	}{
		{"empty", "", true, nil, nil},
		{"star", "*", true, nil, nil},
		{"star with spaces is a tag", " * ", false, []string{"*"}, nil},
		{"one tag", "TagA", false, []string{"TagA"}, nil},
		{"two tags", "TagA||TagB", false, []string{"TagA", "TagB"}, nil},
		{"spaces trimmed", "  TagA ||\tTagB\n", false, []string{"TagA", "TagB"}, nil},
		{"control characters trimmed", "\x00TagA\x1f", false, []string{"TagA"}, nil},
		{"unicode space kept", "\u00a0TagA", false, []string{"\u00a0TagA"}, nil},
		{"inner space kept", "Tag A", false, []string{"Tag A"}, nil},
		{"duplicates once", "A || B || A", false, []string{"A", "B"}, nil},
		{"empty pieces dropped", "||A||||B||", false, []string{"A", "B"}, nil},
		{"blank pieces dropped", "A ||  || B", false, []string{"A", "B"}, nil},
		{"single bar is part of a tag", "A|B", false, []string{"A|B"}, nil},
		{"three bars", "A|||B", false, []string{"A", "|B"}, nil},
		{"star among tags", "A || *", false, []string{"A", "*"}, nil},
		{"blank has no tags", "   ", false, nil, nil},
		{"bars and blanks have no tags", "| |", false, []string{"| |"}, nil},
		{"blank before separator", " ||", false, nil, nil},
		{"unicode", "标签||タグ", false, []string{"标签", "タグ"}, nil},
		{"only separators", "||", false, nil, ErrNoTags},
		{"many separators", "||||||", false, nil, ErrNoTags},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.expr)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse(%q) error %v, want %v", tt.expr, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if e.All() != tt.wantAll {
				t.Errorf("All() = %t, want %t", e.All(), tt.wantAll)
			}
			if !slices.Equal(e.Tags(), tt.wantTags) {
				t.Errorf("Tags() = %q, want %q", e.Tags(), tt.wantTags)
			}
			var wantCodes []int64
			for _, tag := range tt.wantTags {
				if c := message.TagsCode(tag); !slices.Contains(wantCodes, c) {
					wantCodes = append(wantCodes, c)
				}
			}
			if !slices.Equal(e.Codes(), wantCodes) {
				t.Errorf("Codes() = %v, want %v", e.Codes(), wantCodes)
			}
		})
	}
}

func TestCodes(t *testing.T) {
	// Java: "TagA".hashCode() == 2598919, "".hashCode() == 0,
	// "polygenelubricants".hashCode() == Integer.MIN_VALUE, "Aa" and "BB" collide at 2112.
	tests := []struct {
		name string
		expr string
		want []int64
	}{
		{"TagA", "TagA", []int64{2598919}},
		{"negative code is sign-extended", "polygenelubricants", []int64{-2147483648}},
		{"colliding tags give one code", "Aa || BB", []int64{2112}},
		{"non-BMP tag hashes UTF-16 units", "😀", []int64{int64(int32(31*0xD83D + 0xDE00))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(e.Codes(), tt.want) {
				t.Errorf("Codes() = %v, want %v", e.Codes(), tt.want)
			}
		})
	}
}

func TestMatchCode(t *testing.T) {
	tests := []struct {
		name string
		expr string
		code int64
		want bool
	}{
		{"all matches anything", "*", 12345, true},
		{"all matches no tags", "", 0, true},
		{"tag code", "TagA || TagB", message.TagsCode("TagB"), true},
		{"other code", "TagA", message.TagsCode("TagB"), false},
		{"no tags code", "TagA", 0, false},
		{"collision passes", "Aa", message.TagsCode("BB"), true},
		{"low 32 bits compared", "TagA", 2598919 | 1<<40, true},
		{"negative code", "polygenelubricants", -2147483648, true},
		{"negative code unsigned high bits", "polygenelubricants", 0x80000000, true},
		{"blank expression matches nothing", "  ", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.MatchCode(tt.code); got != tt.want {
				t.Errorf("Parse(%q).MatchCode(%d) = %t, want %t", tt.expr, tt.code, got, tt.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		expr string
		tags []string
		want bool
	}{
		{"all, no tags", "*", nil, true},
		{"all, tags", "", []string{"x"}, true},
		{"one of", "A || B", []string{"B"}, true},
		{"none of", "A || B", []string{"C"}, false},
		{"no tags", "A", nil, false},
		{"case-sensitive", "A", []string{"a"}, false},
		{"collision does not pass", "Aa", []string{"BB"}, false},
		{"several tags, one matches", "B", []string{"A", "B", "C"}, true},
		{"several tags, none matches", "D || E", []string{"A", "B", "C"}, false},
		{"message tags are not trimmed", "A", []string{" A"}, false},
		{"blank expression matches nothing", "  ", []string{"A"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Match(tt.tags); got != tt.want {
				t.Errorf("Parse(%q).Match(%q) = %t, want %t", tt.expr, tt.tags, got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	for expr, want := range map[string]string{"": "*", "*": "*", " A ||B||A": "A || B"} {
		e, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.String(); got != want {
			t.Errorf("Parse(%q).String() = %q, want %q", expr, got, want)
		}
	}
}

// FuzzParse checks that Parse does not panic, that its tags are trimmed, distinct and not
// empty with one code each, and that the canonical form parses back to the same tags.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, expr string) {
		e, err := Parse(expr)
		if err != nil {
			if !errors.Is(err, ErrNoTags) {
				t.Fatalf("Parse(%q): unexpected error %v", expr, err)
			}
			return
		}
		for i, tag := range e.Tags() {
			if tag == "" || javaTrim(tag) != tag || slices.Contains(e.Tags()[:i], tag) {
				t.Fatalf("Parse(%q): bad tag %q in %q", expr, tag, e.Tags())
			}
			if !e.MatchCode(message.TagsCode(tag)) || !e.Match([]string{tag}) {
				t.Fatalf("Parse(%q): tag %q does not match itself", expr, tag)
			}
		}
		if e.All() || len(e.Tags()) == 0 {
			return
		}
		again, err := Parse(e.String())
		if err != nil || !slices.Equal(again.Tags(), e.Tags()) {
			t.Fatalf("Parse(%q).String() = %q, which parses as %v, %v", expr, e.String(), again, err)
		}
	})
}

func TestMatchProperty(t *testing.T) {
	for _, tc := range []struct {
		expr, prop string
		want       bool
	}{
		{"*", "", true},
		{"A", "A", true},
		{"A", "B", false},
		{"A || B", "B", true},
		{"A", "B||A", true},
		{"A", "B||C", false},
		{"A||B", "", false},
		{"A", "AB", false},
		{"B", "A||", false},
	} {
		e, err := Parse(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.MatchProperty([]byte(tc.prop)); got != tc.want {
			t.Errorf("Parse(%q).MatchProperty(%q) = %v, want %v", tc.expr, tc.prop, got, tc.want)
		}
		if testing.AllocsPerRun(10, func() { e.MatchProperty([]byte(tc.prop)) }) > 0 {
			t.Errorf("MatchProperty(%q) allocates", tc.prop)
		}
	}
}

func TestMatchTagsAndSplit(t *testing.T) {
	e, err := Parse("A || B")
	if err != nil {
		t.Fatal(err)
	}
	for tags, want := range map[string]bool{"A": true, "C||B": true, "C": false, "": false, "AB": false} {
		if got := e.MatchTags(tags); got != want || e.MatchProperty([]byte(tags)) != want {
			t.Errorf("MatchTags(%q) = %v, want %v", tags, got, want)
		}
	}
	if testing.AllocsPerRun(10, func() { e.MatchTags("C||B") }) > 0 {
		t.Error("MatchTags allocates")
	}
	for in, want := range map[string][]string{"": nil, "A": {"A"}, " A || B ||": {"A", "B"}, "||": nil} {
		if got := Split(in); !slices.Equal(got, want) {
			t.Errorf("Split(%q) = %q, want %q", in, got, want)
		}
	}
}
