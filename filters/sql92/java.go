package sql92

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// kind is the Java class of a value during evaluation.
type kind uint8

const (
	kNull kind = iota
	kString
	kInteger
	kLong
	kDouble
	kBoolean
)

var kindNames = [...]string{kNull: "NULL", kString: "String", kInteger: "Integer", kLong: "Long", kDouble: "Double", kBoolean: "Boolean"}

// value is a Java value: only the field of its kind is set.
type value struct {
	kind kind
	s    string
	i    int64
	f    float64
	b    bool
}

// errClassCast is RocketMQ's ClassCastException when a Boolean constant on the left of =
// meets a String property.
var errClassCast = errors.New("a Boolean on the left of = cannot be compared with a String")

// compare is RocketMQ's ComparisonExpression.__compare with string conversion enabled (as
// SelectorParser.parse always enables it): values of different classes are converted towards
// each other, a String is parsed as the number or boolean on the other side, and a failed
// parse is an error. Neither value is NULL.
func compare(l, r value) (int, error) {
	if l.kind == r.kind {
		switch l.kind {
		case kString:
			// Only equality is ever asked of two strings (ordering parses them as doubles).
			return strings.Compare(l.s, r.s), nil
		case kInteger, kLong:
			return cmpInt(l.i, r.i), nil
		case kDouble:
			return javaDoubleCompare(l.f, r.f), nil
		case kBoolean:
			return cmpBool(l.b, r.b), nil
		}
		return 0, nil
	}
	var err error
	switch l.kind {
	case kBoolean:
		if r.kind == kString {
			return 0, errClassCast
		}
		return -1, nil
	case kInteger, kLong:
		switch r.kind {
		case kInteger, kLong:
			return cmpInt(l.i, r.i), nil
		case kDouble:
			return javaDoubleCompare(float64(l.i), r.f), nil
		case kString:
			if r, err = parseAs(r.s, l.kind); err != nil {
				return 0, err
			}
			return cmpInt(l.i, r.i), nil
		}
		return -1, nil
	case kDouble:
		switch r.kind {
		case kInteger, kLong:
			return javaDoubleCompare(l.f, float64(r.i)), nil
		case kString:
			if r, err = parseAs(r.s, kDouble); err != nil {
				return 0, err
			}
			return javaDoubleCompare(l.f, r.f), nil
		}
		return -1, nil
	case kString:
		if r.kind == kNull {
			return -1, nil
		}
		if l, err = parseAs(l.s, r.kind); err != nil {
			return 0, err
		}
		return compare(l, r)
	}
	return -1, nil
}

// parseAs converts a String to k as Java's Integer.valueOf, Long.valueOf, Double.valueOf or
// Boolean.valueOf does.
func parseAs(s string, k kind) (value, error) {
	switch k {
	case kInteger:
		i, ok := parseJavaInt(s, 32)
		if !ok {
			return value{}, fmt.Errorf("%q is not an Integer", s)
		}
		return value{kind: kInteger, i: i}, nil
	case kLong:
		i, ok := parseJavaInt(s, 64)
		if !ok {
			return value{}, fmt.Errorf("%q is not a Long", s)
		}
		return value{kind: kLong, i: i}, nil
	case kDouble:
		f, ok := parseJavaDouble(s)
		if !ok {
			return value{}, fmt.Errorf("%q is not a Double", s)
		}
		return value{kind: kDouble, f: f}, nil
	case kBoolean:
		return value{kind: kBoolean, b: strings.EqualFold(s, "true")}, nil
	}
	return value{kind: kString, s: s}, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

// javaDoubleCompare is Java's Double.compare: numeric order, except that -0.0 is below 0.0 and
// NaN is equal to itself and above everything else.
func javaDoubleCompare(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	ab, bb := javaDoubleBits(a), javaDoubleBits(b)
	return cmpInt(ab, bb)
}

// javaDoubleBits is Double.doubleToLongBits: the IEEE bits with every NaN made canonical.
func javaDoubleBits(f float64) int64 {
	if math.IsNaN(f) {
		return 0x7ff8000000000000
	}
	return int64(math.Float64bits(f))
}

// parseJavaInt is Integer.parseInt (bits 32) or Long.parseLong (bits 64) in radix 10: an
// optional sign and at least one decimal digit, where a digit is any character of Unicode
// category Nd in the Basic Multilingual Plane (Character.digit); no spaces, no overflow.
func parseJavaInt(s string, bits int) (int64, bool) {
	if s == "" {
		return 0, false
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	// Accumulate negatively, as Java does, so that the minimum value parses.
	maxValue := int64(math.MaxInt64)
	if bits == 32 {
		maxValue = math.MaxInt32
	}
	limit := -maxValue
	if neg {
		limit = -maxValue - 1
	}
	var v int64
	for _, r := range s {
		d, ok := javaDigit(r)
		if !ok {
			return 0, false
		}
		if v < limit/10 {
			return 0, false
		}
		v *= 10
		if v < limit+int64(d) {
			return 0, false
		}
		v -= int64(d)
	}
	if neg {
		return v, true
	}
	return -v, true
}

// javaDigit is Character.digit(c, 10) for a UTF-16 code unit: a supplementary character is two
// surrogates to Java, neither of them a digit.
func javaDigit(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if r < 0x80 || r > 0xFFFF || !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	// Decimal digits come in runs of ten starting at a zero.
	for _, rg := range unicode.Nd.R16 {
		if uint16(r) >= rg.Lo && uint16(r) <= rg.Hi {
			return int(uint16(r)-rg.Lo) % 10, true
		}
	}
	return 0, false
}

// parseJavaDouble is Double.parseDouble: leading and trailing characters up to U+0020 are
// trimmed; then an optional sign and "NaN", "Infinity", a decimal number (digits with an
// optional point and exponent, at least one digit) or a hexadecimal one (0x, hex digits with
// an optional point, and a mandatory binary exponent p), each but NaN and Infinity with an
// optional f, F, d or D suffix.
func parseJavaDouble(s string) (float64, bool) {
	s = javaTrim(s)
	if s == "" {
		return 0, false
	}
	body := s
	neg := false
	switch body[0] {
	case '-':
		neg = true
		body = body[1:]
	case '+':
		body = body[1:]
	}
	switch body {
	case "NaN":
		return math.NaN(), true
	case "Infinity":
		if neg {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	}
	if n := len(body); n > 0 {
		switch body[n-1] {
		case 'f', 'F', 'd', 'D':
			body = body[:n-1]
		}
	}
	var ok bool
	if len(body) > 1 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') {
		ok = validHexFloat(body[2:])
	} else {
		ok = validDecimalFloat(body)
	}
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(body, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	if neg {
		f = -f
	}
	return f, true
}

// javaTrim is String.trim: it removes characters up to U+0020 from both ends.
func javaTrim(s string) string {
	i, j := 0, len(s)
	for i < j && s[i] <= ' ' {
		i++
	}
	for j > i && s[j-1] <= ' ' {
		j--
	}
	return s[i:j]
}

// validDecimalFloat: digits [. digits] with at least one digit, then [eE][+-]?digits.
func validDecimalFloat(s string) bool {
	i, digits := 0, 0
	for i < len(s) && isDigit(s[i]) {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		if e := exponentEnd(s, i); e > i {
			i = e
		} else {
			return false
		}
	}
	return i == len(s)
}

// validHexFloat: after 0x, hex digits [. hex digits] with at least one digit, then
// [pP][+-]?digits.
func validHexFloat(s string) bool {
	i, digits := 0, 0
	for i < len(s) && isHex(s[i]) {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isHex(s[i]) {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 || i >= len(s) || s[i] != 'p' && s[i] != 'P' {
		return false
	}
	i++
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i > start && i == len(s)
}

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
