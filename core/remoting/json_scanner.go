package remoting

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of values the decoder skips or copies.
const maxJSONDepth = 64

var errJSONSyntax = errors.New("invalid JSON")

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

// object consumes a JSON object, calling member for each key with the scanner at the key's
// value, which member must consume. With interned, keys of internTable are not allocated.
func (s *jsonScanner) object(interned bool, member func(key string) error) error {
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
		key, err := s.strIntern(interned)
		if err != nil {
			return err
		}
		s.ws()
		if !s.consume(':') {
			return s.syntax("expected ':'")
		}
		s.ws()
		if err := member(key); err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
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
	case ch == '{':
		return s.object(false, func(string) error { return s.skip(depth + 1) })
	case ch == '[':
		s.i++
		for first := true; ; first = false {
			s.ws()
			if s.consume(']') {
				return nil
			}
			if !first {
				if !s.consume(',') {
					return s.syntax("expected ',' or ']'")
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

// validText returns b as a string (interned) with each byte that is not part of valid UTF-8
// replaced by U+FFFD, as strSlow does inside a string.
func validText(b []byte) string {
	if utf8.Valid(b) {
		return intern(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return string(out)
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
