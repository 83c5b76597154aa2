package sql92_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ternmq/tern/filters/cel"
	"github.com/ternmq/tern/filters/sql92"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

// TestString checks how a parsed expression prints: fully parenthesised, in a form that
// parses back to the same tree.
func TestString(t *testing.T) {
	tests := []struct {
		name, expr, want string
	}{
		{"comparison", "a=1", "(a = 1)"},
		{"keywords any case", "a is not null or b not between 1 and 2", "((a IS NOT NULL) OR (b NOT BETWEEN 1 AND 2))"},
		{"precedence", "a = 1 OR b = 2 AND c = 3", "((a = 1) OR ((b = 2) AND (c = 3)))"},
		{"chains flatten", "a AND (b AND c) AND d", "(a AND b AND c AND d)"},
		{"mixed chains stay", "(a OR b) AND (c OR d)", "((a OR b) AND (c OR d))"},
		{"not binds tight", "NOT a = 1", "(NOT (a) = 1)"},
		{"minus", "a > -5", "(a > -(5))"},
		{"plus vanishes", "a > +5", "(a > 5)"},
		{"parentheses vanish", "((a)) IN ('x')", "(a IN ('x'))"},
		{"string quote", "a = 'it''s'", "(a = 'it''s')"},
		{"in list", "a NOT IN ('x', 'y')", "(a NOT IN ('x', 'y'))"},
		{"long", "a = 3000000000", "(a = 3000000000)"},
		{"suffix dropped", "a = 5L", "(a = 5)"},
		{"double", "a = 1.5e3", "(a = 1500.0)"},
		{"small double", "a = 4.9e-324", "(a = 5e-324)"},
		{"large double", "a = 1e21", "(a = 1e+21)"},
		{"constants", "TRUE AND NULL OR FALSE", "((TRUE AND NULL) OR FALSE)"},
		{"comments", "a /* x */ = -- y\n 1", "(a = 1)"},
		{"is null of a comparison", "(a = 1) IS NULL", "((a = 1) IS NULL)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := sql92.Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.expr, err)
			}
			if got := n.String(); got != tt.want {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.expr, got, tt.want)
			}
			again, err := sql92.Parse(n.String())
			if err != nil {
				t.Fatalf("Parse(%q): %v", n.String(), err)
			}
			if again.String() != n.String() {
				t.Errorf("reparsed as %q", again.String())
			}
		})
	}
}

// TestToCEL pins the shape of the translation.
func TestToCEL(t *testing.T) {
	tests := []struct {
		name, expr, want string
	}{
		{"equal", "a = 'x'", `sql.eq(sql.prop(props, "a"), "x") == true`},
		{"ordered", "a > 5", `sql.gt(sql.prop(props, "a"), 5) == true`},
		{"negative folded", "a > - -(-5)", `sql.gt(sql.prop(props, "a"), -5) == true`},
		{"negative double", "a > -1.5", `sql.gt(sql.prop(props, "a"), -1.5) == true`},
		{"minus of a property", "a = -b", `sql.eq(sql.prop(props, "a"), sql.neg(sql.prop(props, "b"))) == true`},
		{"bare property", "a", `sql.cast(sql.prop(props, "a")) == true`},
		{"not", "NOT a", `sql.not(sql.cast(sql.prop(props, "a"))) == true`},
		{"balanced", "a OR b OR c", `sql.or(sql.or(sql.cast(sql.prop(props, "a")), sql.cast(sql.prop(props, "b"))), sql.cast(sql.prop(props, "c"))) == true`},
		{"between", "a NOT BETWEEN 1 AND 2.5", `sql.notBetween(sql.prop(props, "a"), 1, 2.5) == true`},
		{"in", "a IN ('x', 'y\"')", `sql.inList(sql.prop(props, "a"), ["x", "y\""]) == true`},
		{"is null", "a IS NOT NULL", `sql.isNotNull(sql.prop(props, "a")) == true`},
		{"constant true", "TRUE", `true`},
		{"constant null", "NULL", `false`},
		{"string escapes", "a = 'tab\there\n'", `sql.eq(sql.prop(props, "a"), "tab\there\n") == true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sql92.ToCEL(tt.expr)
			if err != nil {
				t.Fatalf("ToCEL(%q): %v", tt.expr, err)
			}
			if got != tt.want {
				t.Errorf("ToCEL(%q) =\n\t%s\nwant\n\t%s", tt.expr, got, tt.want)
			}
		})
	}
}

// TestLimits checks the bounds of Parse, and that what they admit compiles in CEL.
func TestLimits(t *testing.T) {
	chain := func(n int, op string) string {
		terms := make([]string, n)
		for i := range terms {
			terms[i] = "a = 'v'"
		}
		return strings.Join(terms, " "+op+" ")
	}
	tests := []struct {
		name    string
		expr    string
		wantErr string
	}{
		{"deepest not", strings.Repeat("NOT ", sql92.MaxDepth-1) + "a", ""},
		{"too many nots", strings.Repeat("NOT ", sql92.MaxDepth+1) + "a", "nests too deeply"},
		{"deep parentheses", strings.Repeat("(", sql92.MaxDepth-1) + "a" + strings.Repeat(")", sql92.MaxDepth-1), ""},
		{"too many parentheses", strings.Repeat("(", 1000) + "a" + strings.Repeat(")", 1000), "nests too deeply"},
		{"long equality chain", "a" + strings.Repeat(" = TRUE", 100), "nests too deeply"},
		{"long or chain", chain(1200, "OR"), ""},
		{"long and chain", chain(1200, "AND"), ""},
		{"big in list", "a IN ('" + strings.Repeat("x', '", 2000) + "y')", ""},
		{"too long", "a = '" + strings.Repeat("x", sql92.MaxExpressionLength) + "'", "longer than"},
		{"invalid utf-8", "a = '\xff'", "column 6: invalid UTF-8"},
	}
	f := cel.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sql92.Parse(tt.expr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			sub := filter.Subscription{ExpressionType: cel.TypeSQL92, Expression: tt.expr}
			if err := f.Compile(context.Background(), sub); err != nil {
				t.Errorf("Compile: %v", err)
			}
		})
	}
}

func TestSyntaxErrorPosition(t *testing.T) {
	_, err := sql92.Parse("a = 1 AND\n  b = 'é' AND c = NULL")
	var serr *sql92.SyntaxError
	if !errors.As(err, &serr) {
		t.Fatalf("Parse: %v, want a *SyntaxError", err)
	}
	if serr.Line != 2 || serr.Column != 19 || serr.Offset != 29 {
		t.Errorf("position line %d, column %d, offset %d; want line 2, column 19, offset 29", serr.Line, serr.Column, serr.Offset)
	}
}

// FuzzParse checks that Parse does not panic, that whatever it accepts prints as an
// expression that parses back to the same tree, and that its translation compiles.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"a = 1", "a > 5 AND b IN ('x')", "NOT (a BETWEEN -1 AND 2.5e3) OR c IS NULL"} {
		f.Add(s)
	}
	filt := cel.New()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, expr string) {
		n, err := sql92.Parse(expr)
		if err != nil {
			var serr *sql92.SyntaxError
			if !errors.As(err, &serr) {
				t.Fatalf("Parse(%q) = %v, not a *SyntaxError", expr, err)
			}
			if serr.Offset < 0 || serr.Offset > len(expr) {
				t.Fatalf("Parse(%q): offset %d out of range", expr, serr.Offset)
			}
			return
		}
		printed := n.String()
		again, err := sql92.Parse(printed)
		if err != nil {
			t.Fatalf("Parse(%q) printed %q, which does not parse: %v", expr, printed, err)
		}
		if again.String() != printed {
			t.Fatalf("Parse(%q) printed %q, which prints as %q", expr, printed, again.String())
		}
		if sql92.Translate(again) != sql92.Translate(n) {
			t.Fatalf("Parse(%q): the reprinted expression translates differently", expr)
		}
		sub := filter.Subscription{ExpressionType: cel.TypeCEL, Expression: sql92.Translate(n)}
		if err := filt.Compile(ctx, sub); err != nil {
			t.Fatalf("Parse(%q): translation %q does not compile: %v", expr, sub.Expression, err)
		}
	})
}
