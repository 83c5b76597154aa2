package remoting

import (
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// appendJSONHeader appends c's JSON header: compact, fields in the order code, language,
// version, opaque, flag, remark, extFields (Fields' entries in their order, then ExtFields'
// sorted by key), every extFields value a string.
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
	a := FieldAppender{dst: dst, json: true}
	a.writeCommand(c)
	dst = a.dst
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

// decodeJSONHeader decodes a JSON header into c. Unknown keys (serializeTypeCurrentRPC, ...) are
// skipped; a key given twice keeps its last value; null is the zero value. extFields values that
// are numbers, booleans, objects or arrays become their JSON text; null values are left out.
func decodeJSONHeader(b []byte, c *Command) error {
	s := jsonScanner{b: b}
	s.ws()
	if err := s.object(false, func(key string) error { return s.field(key, c) }); err != nil {
		return err
	}
	s.ws()
	if s.i != len(s.b) {
		return s.syntax("data after the header object")
	}
	return nil
}

// field decodes the value of one top-level key into c.
func (s *jsonScanner) field(key string, c *Command) error {
	var err error
	switch key {
	case "code":
		c.Code, err = scanInt[int16](s)
	case "version":
		c.Version, err = scanInt[int16](s)
	case "opaque":
		c.Opaque, err = scanInt[int32](s)
	case "flag":
		c.Flag, err = scanInt[int32](s)
	case "language":
		if !s.literal("null") {
			c.Language, err = s.strIntern(true)
		}
	case "remark":
		c.Remark, err = s.strOrNull()
	case "extFields":
		err = s.extFields(c)
	default:
		err = s.skip(0)
	}
	return err
}

// scanInt reads an integer that fits T, or null (0).
func scanInt[T int16 | int32](s *jsonScanner) (T, error) {
	if s.literal("null") {
		return 0, nil
	}
	start := s.i
	isInt, err := s.number()
	if err != nil {
		return 0, err
	}
	text := s.b[start:s.i]
	if !isInt {
		return 0, fmt.Errorf("%s is not an integer", text)
	}
	v, err := strconv.ParseInt(string(text), 10, int(unsafe.Sizeof(T(0)))*8)
	if err != nil {
		return 0, fmt.Errorf("%s is out of range", text)
	}
	return T(v), nil
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
	return s.object(true, func(key string) error {
		if s.literal("null") {
			return nil
		}
		var val string
		var err error
		if s.peek() == '"' {
			val, err = s.strIntern(true)
		} else {
			// Another value (number, object...) is kept as its JSON text, with bytes that are
			// not UTF-8 replaced as in a string: re-encoded, the value reads back the same.
			start := s.i
			err = s.skip(0)
			val = validText(s.b[start:s.i])
		}
		if err != nil {
			return err
		}
		if c.ExtFields == nil {
			c.ExtFields = make(map[string]string, 16)
		}
		c.ExtFields[key] = val
		return nil
	})
}
