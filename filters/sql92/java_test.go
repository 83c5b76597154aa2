package sql92

import (
	"math"
	"testing"
)

func TestParseJavaInt(t *testing.T) {
	tests := []struct {
		name string
		in   string
		bits int
		want int64
		ok   bool
	}{
		{"zero", "0", 32, 0, true},
		{"plus", "+7", 32, 7, true},
		{"minus", "-7", 32, -7, true},
		{"leading zeros", "007", 32, 7, true},
		{"max int", "2147483647", 32, math.MaxInt32, true},
		{"min int", "-2147483648", 32, math.MinInt32, true},
		{"int overflow", "2147483648", 32, 0, false},
		{"int underflow", "-2147483649", 32, 0, false},
		{"long fits", "2147483648", 64, 2147483648, true},
		{"max long", "9223372036854775807", 64, math.MaxInt64, true},
		{"min long", "-9223372036854775808", 64, math.MinInt64, true},
		{"long overflow", "9223372036854775808", 64, 0, false},
		{"huge", "99999999999999999999999", 64, 0, false},
		{"empty", "", 32, 0, false},
		{"sign only", "-", 32, 0, false},
		{"plus only", "+", 32, 0, false},
		{"double sign", "--1", 32, 0, false},
		{"space", " 1", 32, 0, false},
		{"trailing space", "1 ", 32, 0, false},
		{"decimal point", "1.0", 32, 0, false},
		{"exponent", "1e3", 32, 0, false},
		{"hex", "0x10", 32, 0, false},
		{"suffix", "1L", 64, 0, false},
		{"arabic-indic", "١٢", 32, 12, true},
		{"fullwidth", "１２", 32, 12, true},
		{"devanagari", "९", 32, 9, true},
		{"mathematical digit is two surrogates", "𝟗", 32, 0, false},
		{"superscript is no digit", "²", 32, 0, false},
		{"roman numeral is no digit", "Ⅻ", 32, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseJavaInt(tt.in, tt.bits)
			if ok != tt.ok || got != tt.want {
				t.Errorf("parseJavaInt(%q, %d) = %d, %t; want %d, %t", tt.in, tt.bits, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseJavaDouble(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		in   string
		want float64
		ok   bool
	}{
		{"integer", "5", 5, true},
		{"decimal", "1.5", 1.5, true},
		{"point first", ".5", .5, true},
		{"point last", "5.", 5, true},
		{"exponent", "1e3", 1000, true},
		{"exponent sign", "1E-3", .001, true},
		{"signs", "-1.5", -1.5, true},
		{"plus", "+1.5", 1.5, true},
		{"trimmed", " \t1.5\n\x00", 1.5, true},
		{"float suffix", "1.5f", 1.5, true},
		{"double suffix", "1.5D", 1.5, true},
		{"hex", "0x1.8p1", 3, true},
		{"hex point first", "0x.8p1", 1, true},
		{"hex suffix", "0X1P-1d", .5, true},
		{"nan", "NaN", nan, true},
		{"infinity", "Infinity", math.Inf(1), true},
		{"minus infinity", "-Infinity", math.Inf(-1), true},
		{"overflow is infinity", "1e400", math.Inf(1), true},
		{"underflow is zero", "1e-400", 0, true},
		{"negative zero", "-0.0", math.Copysign(0, -1), true},
		{"empty", "", 0, false},
		{"blank", "   ", 0, false},
		{"point only", ".", 0, false},
		{"exponent only", "e5", 0, false},
		{"bare exponent", "1e", 0, false},
		{"exponent sign only", "1e+", 0, false},
		{"hex without exponent", "0x1", 0, false},
		{"hex without digits", "0xp1", 0, false},
		{"lower-case nan", "nan", 0, false},
		{"inf", "inf", 0, false},
		{"nan suffix", "NaNd", 0, false},
		{"two suffixes", "1.5fd", 0, false},
		{"inner space", "1 5", 0, false},
		{"underscore", "1_5", 0, false},
		{"comma", "1,5", 0, false},
		{"unicode digit", "１", 0, false},
		{"no-break space is not trimmed", "\u00a01", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseJavaDouble(tt.in)
			same := got == tt.want && math.Signbit(got) == math.Signbit(tt.want) || math.IsNaN(got) && math.IsNaN(tt.want)
			if ok != tt.ok || tt.ok && !same {
				t.Errorf("parseJavaDouble(%q) = %v, %t; want %v, %t", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	str := func(s string) value { return value{kind: kString, s: s} }
	integer := func(i int64) value { return value{kind: kInteger, i: i} }
	long := func(i int64) value { return value{kind: kLong, i: i} }
	double := func(f float64) value { return value{kind: kDouble, f: f} }
	boolean := func(b bool) value { return value{kind: kBoolean, b: b} }
	tests := []struct {
		name    string
		l, r    value
		want    int
		wantErr bool
	}{
		{"strings equal", str("a"), str("a"), 0, false},
		{"strings differ", str("a"), str("b"), -1, false},
		{"integers", integer(1), integer(2), -1, false},
		{"integer and long", integer(5), long(3000000000), -1, false},
		{"long and integer", long(3000000000), integer(5), 1, false},
		{"integer and double", integer(2), double(1.5), 1, false},
		{"double and long", double(1.5), long(3000000000), -1, false},
		{"long widened to double", long(9007199254740993), double(9007199254740992), 0, false},
		{"nan above infinity", double(math.NaN()), double(math.Inf(1)), 1, false},
		{"nan equals nan", double(math.NaN()), double(math.NaN()), 0, false},
		{"negative zero below zero", double(math.Copysign(0, -1)), double(0), -1, false},
		{"string parsed as integer", str("7"), integer(7), 0, false},
		{"integer parses string", integer(7), str("8"), -1, false},
		{"string too big for integer", str("3000000000"), integer(7), 0, true},
		{"string parsed as long", str("3000000000"), long(3000000000), 0, false},
		{"string parsed as double", str(" 1.5 "), double(1.5), 0, false},
		{"double parses string", double(1.5), str("x"), 0, true},
		{"string parsed as boolean", str("TRUE"), boolean(true), 0, false},
		{"string not true is false", str("yes"), boolean(false), 0, false},
		{"boolean and string cast fails", boolean(true), str("true"), 0, true},
		{"boolean and number", boolean(true), integer(1), -1, false},
		{"number and boolean", integer(1), boolean(true), -1, false},
		{"double and boolean", double(1), boolean(true), -1, false},
		{"booleans", boolean(false), boolean(true), -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := compare(tt.l, tt.r)
			if (err != nil) != tt.wantErr || err == nil && got != tt.want {
				t.Errorf("compare(%+v, %+v) = %d, %v; want %d, error %t", tt.l, tt.r, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
