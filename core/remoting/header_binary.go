package remoting

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// binaryFixedLen is the fixed part of the ROCKETMQ header: code 2, language 1, version 2,
// opaque 4, flag 4, remark length 4, extFields length 4.
const binaryFixedLen = 21

// languageOther is the LanguageCode byte of OTHER: the byte written for a language name the
// table does not know.
const languageOther = 7

// languageByte returns the LanguageCode byte of a language name ("" is GO).
func languageByte(name string) byte {
	name = languageOrGo(name)
	for i, l := range languages {
		if l == name {
			return byte(i)
		}
	}
	return languageOther
}

// languageName returns the name of a LanguageCode byte; unknown bytes read as OTHER.
func languageName(b byte) string {
	if int(b) < len(languages) {
		return languages[b]
	}
	return languages[languageOther]
}

// appendBinaryHeader appends c's ROCKETMQ header: Fields' entries in their order, then ExtFields'
// sorted by key.
func appendBinaryHeader(dst []byte, c *Command) ([]byte, error) {
	if len(c.Remark) > math.MaxInt32 {
		return dst, errors.New("remoting: encode: remark too long")
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.Code))
	dst = append(dst, languageByte(c.Language))
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.Version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Opaque))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Flag))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.Remark)))
	dst = append(dst, c.Remark...)
	extAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	a := FieldAppender{dst: dst}
	a.writeCommand(c)
	if dst = a.dst; a.err != nil {
		return dst, a.err
	}
	ext := len(dst) - extAt - 4
	if ext > math.MaxInt32 {
		return dst, errors.New("remoting: encode: extFields too long")
	}
	binary.BigEndian.PutUint32(dst[extAt:], uint32(ext))
	return dst, nil
}

var errBinaryShort = errors.New("truncated")

// decodeBinaryHeader decodes a ROCKETMQ header into c. Every length is checked against the
// bytes left before anything is allocated. Bytes after the extFields section are ignored, as
// Java does.
func decodeBinaryHeader(b []byte, c *Command) error {
	if len(b) < binaryFixedLen {
		return fmt.Errorf("%w: %d bytes, the fixed part is %d", errBinaryShort, len(b), binaryFixedLen)
	}
	c.Code = int16(binary.BigEndian.Uint16(b))
	c.Language = languageName(b[2])
	c.Version = int16(binary.BigEndian.Uint16(b[3:]))
	c.Opaque = int32(binary.BigEndian.Uint32(b[5:]))
	c.Flag = int32(binary.BigEndian.Uint32(b[9:]))
	b = b[13:]
	remark, b, err := binaryField(b, 4, "remark")
	if err != nil {
		return err
	}
	c.Remark = string(remark)
	ext, _, err := binaryField(b, 4, "extFields")
	if err != nil {
		return err
	}
	if len(ext) > 0 {
		// Sized to the entries, so that the map is allocated once at its final size.
		c.ExtFields = make(map[string]string, countBinaryFields(ext))
	}
	section := ext
	// Keys and values not in the intern table are cut from one string copy of the whole
	// section: one allocation per header, not one per string.
	var all string
	str := func(b []byte, at int) string {
		if s, ok := interned(b); ok {
			return s
		}
		if all == "" {
			all = string(section)
		}
		return all[at : at+len(b)]
	}
	for len(ext) > 0 {
		var k, v []byte
		if k, ext, err = binaryField(ext, 2, "extFields key"); err != nil {
			return err
		}
		kAt := len(section) - len(ext) - len(k)
		if v, ext, err = binaryField(ext, 4, "extFields value"); err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
		vAt := len(section) - len(ext) - len(v)
		c.ExtFields[str(k, kAt)] = str(v, vAt)
	}
	return nil
}

// countBinaryFields counts the key-value entries of a ROCKETMQ extFields section, stopping at
// the first malformed one (the decoder then reports it).
func countBinaryFields(ext []byte) int {
	n := 0
	for len(ext) >= 2 {
		kl := int(int16(binary.BigEndian.Uint16(ext)))
		if kl < 0 || 2+kl+4 > len(ext) {
			break
		}
		vl := int(int32(binary.BigEndian.Uint32(ext[2+kl:])))
		if vl < 0 || 2+kl+4+vl > len(ext) {
			break
		}
		ext = ext[2+kl+4+vl:]
		n++
	}
	return n
}

// binaryField splits a length-prefixed field (a signed big-endian length of size bytes) off b.
func binaryField(b []byte, size int, what string) (field, rest []byte, err error) {
	if len(b) < size {
		return nil, nil, fmt.Errorf("%s length: %w", what, errBinaryShort)
	}
	var n int
	if size == 2 {
		n = int(int16(binary.BigEndian.Uint16(b)))
	} else {
		n = int(int32(binary.BigEndian.Uint32(b)))
	}
	b = b[size:]
	if n < 0 || n > len(b) {
		return nil, nil, fmt.Errorf("%s length %d: %d bytes left", what, n, len(b))
	}
	return b[:n], b[n:], nil
}
