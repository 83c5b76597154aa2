package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrBadJSON means a body is neither JSON nor fastjson's non-standard JSON.
var ErrBadJSON = errors.New("protocol: malformed JSON body")

// maxJSONDepth bounds the nesting the fastjson normalizer follows.
const maxJSONDepth = 256

// Unmarshal decodes a JSON body from a RocketMQ peer into v. Standard JSON goes straight to
// encoding/json. Otherwise the body is first rewritten by NormalizeFastJSON, so that Java's
// fastjson forms decode too:
//
//   - unquoted map keys, as in {"brokerAddrs":{0:"10.0.0.5:10911"}}, become strings ("0");
//   - object or array map keys, as in {"offsetTable":{{"topic":"T",...}:5}}, become strings
//     holding the key's compact JSON text ("{\"topic\":\"T\",...}").
//
// encoding/json validates its whole input before it calls any UnmarshalJSON method, so
// fastjson bodies must come through this function (or through a type's Decode method),
// never through json.Unmarshal directly.
func Unmarshal(data []byte, v any) error {
	if !json.Valid(data) {
		norm, err := NormalizeFastJSON(data)
		if err != nil {
			return err
		}
		data = norm
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	return nil
}

// NormalizeFastJSON rewrites fastjson output as standard, compact JSON (see Unmarshal): it
// quotes bare map keys and turns object and array map keys into strings of their compact
// JSON text. Whitespace outside strings is dropped. Strings and scalars are copied as they are;
// the result is checked with json.Valid, so anything it cannot make valid is ErrBadJSON.
func NormalizeFastJSON(data []byte) ([]byte, error) {
	n := normalizer{in: data}
	n.space()
	out, err := n.value(make([]byte, 0, len(data)+16), 0)
	if err != nil {
		return nil, err
	}
	n.space()
	if n.pos != len(n.in) {
		return nil, n.errorf("trailing data")
	}
	if !json.Valid(out) {
		return nil, fmt.Errorf("%w: not repairable", ErrBadJSON)
	}
	return out, nil
}

type normalizer struct {
	in  []byte
	pos int
}

func (n *normalizer) errorf(format string, a ...any) error {
	return fmt.Errorf("%w: %s at byte %d", ErrBadJSON, fmt.Sprintf(format, a...), n.pos)
}

func (n *normalizer) space() {
	for n.pos < len(n.in) {
		switch n.in[n.pos] {
		case ' ', '\t', '\r', '\n':
			n.pos++
		default:
			return
		}
	}
}

// value appends the normalized value at pos to out.
func (n *normalizer) value(out []byte, depth int) ([]byte, error) {
	if depth > maxJSONDepth {
		return nil, n.errorf("nested too deeply")
	}
	if n.pos >= len(n.in) {
		return nil, n.errorf("unexpected end")
	}
	switch c := n.in[n.pos]; c {
	case '{':
		return n.object(out, depth)
	case '[':
		return n.array(out, depth)
	case '"':
		return n.str(out)
	default:
		tok := n.bare()
		if len(tok) == 0 {
			return nil, n.errorf("unexpected %q", c)
		}
		return append(out, tok...), nil
	}
}

// bare consumes a number or literal (true, false, null) or a fastjson bare key.
func (n *normalizer) bare() []byte {
	start := n.pos
	for n.pos < len(n.in) {
		c := n.in[n.pos]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == '_' || c == '$' {
			n.pos++
			continue
		}
		break
	}
	return n.in[start:n.pos]
}

// str copies a string literal, escapes and all.
func (n *normalizer) str(out []byte) ([]byte, error) {
	start := n.pos
	n.pos++ // opening quote
	for n.pos < len(n.in) {
		switch n.in[n.pos] {
		case '\\':
			n.pos += 2
		case '"':
			n.pos++
			return append(out, n.in[start:n.pos]...), nil
		default:
			n.pos++
		}
	}
	n.pos = len(n.in)
	return nil, n.errorf("unterminated string")
}

func (n *normalizer) array(out []byte, depth int) ([]byte, error) {
	n.pos++
	out = append(out, '[')
	n.space()
	if n.pos < len(n.in) && n.in[n.pos] == ']' {
		n.pos++
		return append(out, ']'), nil
	}
	for {
		var err error
		n.space()
		if out, err = n.value(out, depth+1); err != nil {
			return nil, err
		}
		n.space()
		if n.pos >= len(n.in) {
			return nil, n.errorf("unterminated array")
		}
		switch n.in[n.pos] {
		case ',':
			n.pos++
			out = append(out, ',')
		case ']':
			n.pos++
			return append(out, ']'), nil
		default:
			return nil, n.errorf("unexpected %q in array", n.in[n.pos])
		}
	}
}

func (n *normalizer) object(out []byte, depth int) ([]byte, error) {
	n.pos++
	out = append(out, '{')
	n.space()
	if n.pos < len(n.in) && n.in[n.pos] == '}' {
		n.pos++
		return append(out, '}'), nil
	}
	for {
		var err error
		n.space()
		if out, err = n.key(out, depth); err != nil {
			return nil, err
		}
		n.space()
		if n.pos >= len(n.in) || n.in[n.pos] != ':' {
			return nil, n.errorf("missing ':' after an object key")
		}
		n.pos++
		out = append(out, ':')
		n.space()
		if out, err = n.value(out, depth+1); err != nil {
			return nil, err
		}
		n.space()
		if n.pos >= len(n.in) {
			return nil, n.errorf("unterminated object")
		}
		switch n.in[n.pos] {
		case ',':
			n.pos++
			out = append(out, ',')
		case '}':
			n.pos++
			return append(out, '}'), nil
		default:
			return nil, n.errorf("unexpected %q in object", n.in[n.pos])
		}
	}
}

// key appends an object key as a JSON string.
func (n *normalizer) key(out []byte, depth int) ([]byte, error) {
	if n.pos >= len(n.in) {
		return nil, n.errorf("unexpected end")
	}
	switch n.in[n.pos] {
	case '"':
		return n.str(out)
	case '{', '[':
		sub, err := n.value(nil, depth+1)
		if err != nil {
			return nil, err
		}
		return appendJSONString(out, string(sub)), nil
	default:
		tok := n.bare()
		if len(tok) == 0 {
			return nil, n.errorf("unexpected %q as an object key", n.in[n.pos])
		}
		return appendJSONString(out, string(tok)), nil
	}
}

// appendJSONString appends s as a JSON string literal, escaped as encoding/json escapes it
// minus the HTML escapes. Invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
