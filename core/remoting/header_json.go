package remoting

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// appendJSONHeader appends c's JSON header: compact, fields in the order code, language,
// version, opaque, flag, remark, extFields (keys sorted), every extFields value a string.
func appendJSONHeader(dst []byte, c *Command) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(c.Code), 10)
	dst = append(dst, `,"language":`...)
	dst = appendJSONString(dst, languageOrGo(c.Language))
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, int64(c.Version), 10)
	dst = append(dst, `,"opaque":`...)
	dst = strconv.AppendInt(dst, int64(c.Opaque), 10)
	dst = append(dst, `,"flag":`...)
	dst = strconv.AppendInt(dst, int64(c.Flag), 10)
	dst = append(dst, `,"remark":`...)
	dst = appendJSONString(dst, c.Remark)
	dst = append(dst, `,"extFields":{`...)
	var stack [32]string
	for i, k := range sortedKeys(stack[:0], c.ExtFields) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, c.ExtFields[k])
	}
	return append(dst, "}}"...)
}

// sortedKeys appends m's keys to dst, sorted, so that headers are deterministic.
func sortedKeys(dst []string, m map[string]string) []string {
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the bytes a JSON string holds as they are: ASCII except '"', '\\' and
// control characters. It is never modified.
var jsonSafe = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string. It escapes '"', '\\' and control characters, and
// writes each byte of invalid UTF-8 as \ufffd, as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if jsonSafe[b] {
			i++
			continue
		}
		if b >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch b {
		case '"', '\\':
			dst = append(dst, '\\', b)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// maxJSONDepth bounds the nesting of values the decoder skips or copies.
const maxJSONDepth = 64

var errJSONSyntax = errors.New("invalid JSON")

// decodeJSONHeader decodes a JSON header into c. Unknown keys (serializeTypeCurrentRPC, ...) are
// skipped; a key given twice keeps its last value; null is the zero value. extFields values that
// are numbers, booleans, objects or arrays become their JSON text; null values are left out.
func decodeJSONHeader(b []byte, c *Command) error {
	s := jsonScanner{b: b}
	s.ws()
	if !s.consume('{') {
		return s.syntax("expected '{'")
	}
	for first := true; ; first = false {
		s.ws()
		if s.consume('}') {
			break
		}
		if !first {
			if !s.consume(',') {
				return s.syntax("expected ',' or '}'")
			}
			s.ws()
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		s.ws()
		if !s.consume(':') {
			return s.syntax("expected ':'")
		}
		s.ws()
		if err := s.field(key, c); err != nil {
			return err
		}
	}
	s.ws()
	if s.i != len(s.b) {
		return s.syntax("data after the header object")
	}
	return nil
}

// jsonScanner reads JSON from b; i is the next byte.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) syntax(what string) error {
	return fmt.Errorf("%w at offset %d: %s", errJSONSyntax, s.i, what)
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) consume(ch byte) bool {
	if s.i < len(s.b) && s.b[s.i] == ch {
		s.i++
		return true
	}
	return false
}

func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// literal consumes word (true, false, null) if it comes next.
func (s *jsonScanner) literal(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// field decodes the value of one top-level key into c.
func (s *jsonScanner) field(key string, c *Command) error {
	var err error
	switch key {
	case "code":
		var v int64
		v, err = s.integer(math.MinInt16, math.MaxInt16)
		c.Code = int16(v)
	case "version":
		var v int64
		v, err = s.integer(math.MinInt16, math.MaxInt16)
		c.Version = int16(v)
	case "opaque":
		var v int64
		v, err = s.integer(math.MinInt32, math.MaxInt32)
		c.Opaque = int32(v)
	case "flag":
		var v int64
		v, err = s.integer(math.MinInt32, math.MaxInt32)
		c.Flag = int32(v)
	case "language":
		c.Language, err = s.strOrNull()
	case "remark":
		c.Remark, err = s.strOrNull()
	case "extFields":
		err = s.extFields(c)
	default:
		err = s.skip(0)
	}
	if err != nil {
		return fmt.Errorf("%q: %w", key, err)
	}
	return nil
}

// integer reads an integer in [lo, hi], or null (0).
func (s *jsonScanner) integer(lo, hi int64) (int64, error) {
	if s.literal("null") {
		return 0, nil
	}
	start := s.i
	isInt, err := s.number()
	if err != nil {
		return 0, err
	}
	if !isInt {
		return 0, fmt.Errorf("%s is not an integer", s.b[start:s.i])
	}
	v, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%s is out of range [%d, %d]", s.b[start:s.i], lo, hi)
	}
	return v, nil
}

// number consumes a JSON number and reports whether it has neither fraction nor exponent.
func (s *jsonScanner) number() (isInt bool, err error) {
	s.consume('-')
	switch {
	case s.consume('0'):
	case s.digits() == 0:
		return false, s.syntax("expected a value")
	}
	isInt = true
	if s.consume('.') {
		isInt = false
		if s.digits() == 0 {
			return false, s.syntax("expected a digit after '.'")
		}
	}
	if s.consume('e') || s.consume('E') {
		isInt = false
		if !s.consume('+') {
			s.consume('-')
		}
		if s.digits() == 0 {
			return false, s.syntax("expected an exponent")
		}
	}
	return isInt, nil
}

func (s *jsonScanner) digits() int {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

func (s *jsonScanner) strOrNull() (string, error) {
	if s.literal("null") {
		return "", nil
	}
	return s.str()
}

// extFields reads the extFields object (or null) into c.ExtFields.
func (s *jsonScanner) extFields(c *Command) error {
	if s.literal("null") {
		return nil
	}
	if !s.consume('{') {
		return s.syntax("expected an object")
	}
	for first := true; ; first = false {
		s.ws()
		if s.consume('}') {
			return nil
		}
		if !first {
			if !s.consume(',') {
				return s.syntax("expected ',' or '}'")
			}
			s.ws()
		}
		key, err := s.strIntern(true)
		if err != nil {
			return err
		}
		s.ws()
		if !s.consume(':') {
			return s.syntax("expected ':'")
		}
		s.ws()
		if s.literal("null") {
			continue
		}
		var val string
		if s.peek() == '"' {
			val, err = s.strIntern(true)
		} else {
			start := s.i
			err = s.skip(0)
			val = intern(s.b[start:s.i])
		}
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
		if c.ExtFields == nil {
			c.ExtFields = make(map[string]string, 16)
		}
		c.ExtFields[key] = val
	}
}

// skip consumes one JSON value of any kind.
func (s *jsonScanner) skip(depth int) error {
	if depth > maxJSONDepth {
		return s.syntax("nested too deeply")
	}
	switch ch := s.peek(); {
	case ch == '"':
		_, err := s.str()
		return err
	case ch == '{' || ch == '[':
		closing := byte('}')
		if ch == '[' {
			closing = ']'
		}
		s.i++
		for first := true; ; first = false {
			s.ws()
			if s.consume(closing) {
				return nil
			}
			if !first {
				if !s.consume(',') {
					return s.syntax("expected ',' or a closing bracket")
				}
				s.ws()
			}
			if closing == '}' {
				if _, err := s.str(); err != nil {
					return err
				}
				s.ws()
				if !s.consume(':') {
					return s.syntax("expected ':'")
				}
				s.ws()
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
		}
	case s.literal("true"), s.literal("false"), s.literal("null"):
		return nil
	default:
		_, err := s.number()
		return err
	}
}

// str reads a JSON string. Invalid UTF-8 bytes and unpaired surrogate escapes become U+FFFD, as
// in encoding/json; raw control characters are accepted as they are.
func (s *jsonScanner) str() (string, error) { return s.strIntern(false) }

// strIntern is str that, with interned, returns strings of internTable without allocating.
func (s *jsonScanner) strIntern(interned bool) (string, error) {
	if !s.consume('"') {
		return "", s.syntax("expected a string")
	}
	start := s.i
	for s.i < len(s.b) {
		switch b := s.b[s.i]; {
		case b == '"':
			var v string
			if interned {
				v = intern(s.b[start:s.i])
			} else {
				v = string(s.b[start:s.i])
			}
			s.i++
			return v, nil
		case b == '\\' || b >= utf8.RuneSelf:
			return s.strSlow(start)
		default:
			s.i++
		}
	}
	return "", s.syntax("unterminated string")
}

// strSlow finishes a string that has escapes or non-ASCII bytes; the string began at start.
func (s *jsonScanner) strSlow(start int) (string, error) {
	out := make([]byte, s.i-start, s.i-start+16)
	copy(out, s.b[start:s.i])
	for s.i < len(s.b) {
		b := s.b[s.i]
		switch {
		case b == '"':
			s.i++
			return string(out), nil
		case b >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, s.b[s.i:s.i+size]...)
			}
			s.i += size
		case b != '\\':
			out = append(out, b)
			s.i++
		default:
			s.i++
			if s.i >= len(s.b) {
				return "", s.syntax("unterminated escape")
			}
			e := s.b[s.i]
			s.i++
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := s.hex4()
				if !ok {
					return "", s.syntax("bad \\u escape")
				}
				if utf16IsSurrogate(r) {
					r = s.lowSurrogate(r)
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", s.syntax("bad escape")
			}
		}
	}
	return "", s.syntax("unterminated string")
}

// hex4 reads the four hex digits of a \u escape.
func (s *jsonScanner) hex4() (rune, bool) {
	if len(s.b)-s.i < 4 {
		return 0, false
	}
	var r rune
	for _, h := range s.b[s.i : s.i+4] {
		switch {
		case h >= '0' && h <= '9':
			h -= '0'
		case h >= 'a' && h <= 'f':
			h -= 'a' - 10
		case h >= 'A' && h <= 'F':
			h -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(h)
	}
	s.i += 4
	return r, true
}

func utf16IsSurrogate(r rune) bool { return r >= 0xD800 && r < 0xE000 }

// lowSurrogate completes the surrogate r with a following \uDC00-\uDFFF escape. Without one, r
// becomes U+FFFD and the following escape is left for the caller.
func (s *jsonScanner) lowSurrogate(r rune) rune {
	if r >= 0xDC00 || len(s.b)-s.i < 6 || s.b[s.i] != '\\' || s.b[s.i+1] != 'u' {
		return utf8.RuneError
	}
	save := s.i
	s.i += 2
	lo, ok := s.hex4()
	if !ok || lo < 0xDC00 || lo >= 0xE000 {
		s.i = save
		return utf8.RuneError
	}
	return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
}
