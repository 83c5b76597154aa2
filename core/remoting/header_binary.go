package remoting

import (
	"bytes"
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
	// The section is checked whole here and kept as one string, which Lookup and Header read:
	// no map, and one allocation for every key and value. Keys in strictly increasing order
	// (as Tern's headers are written) cannot repeat, so Lookup stops at the first match.
	c.extUnique = true
	var prev []byte
	for rest, i := ext, 0; len(rest) > 0; i++ {
		var k []byte
		if k, rest, err = binaryField(rest, 2, "extFields key"); err != nil {
			return err
		}
		if _, rest, err = binaryField(rest, 4, "extFields value"); err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			c.extUnique = false
		}
		prev = k
		c.extKeys |= keyBit(string(k))
	}
	c.ext = string(ext)
	return nil
}

// nextBinaryField splits the first entry off a checked extFields section.
func nextBinaryField(ext string) (k, v, rest string) {
	kl := int(ext[0])<<8 | int(ext[1])
	k, ext = ext[2:2+kl], ext[2+kl:]
	vl := int(ext[0])<<24 | int(ext[1])<<16 | int(ext[2])<<8 | int(ext[3])
	return k, ext[4 : 4+vl], ext[4+vl:]
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
