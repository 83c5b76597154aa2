package remoting

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Frame limits (see the package doc).
const (
	// DefaultMaxFrameSize is the largest length field accepted by default: RocketMQ's
	// frameMaxLength, 16 MiB.
	DefaultMaxFrameSize = 16 << 20
	// maxHeaderLen is the largest header the 24-bit header length can announce.
	maxHeaderLen = 1<<24 - 1
	// prefixLen is the length field plus the serialize-type/header-length word.
	prefixLen = 8
	// eagerAlloc is the largest frame read into a buffer of its full announced size at once;
	// a larger frame's buffer grows only as its bytes arrive, so that a peer announcing a big
	// frame and sending nothing pins little memory. It holds a batch of 64 bodies of 1 KiB or
	// 16 of 4 KiB (with 64 KiB, such a frame was read into 64 KiB first and then copied into a
	// second buffer of its size: 10 % of the broker's CPU with 4 KiB batches).
	eagerAlloc = 256 << 10
	// readBufferSize is the buffer of a FrameReader: small, as a broker keeps one per
	// connection; larger frames are read straight into their own buffer.
	readBufferSize = 8 << 10
)

// Decoding errors. FrameReader.Read wraps them with the details.
var (
	// ErrFrameTooLarge is a length field beyond the reader's maximum frame size.
	ErrFrameTooLarge = errors.New("remoting: frame too large")
	// ErrBadFrame is a malformed frame: a length below 4, a header longer than the frame, an
	// unknown serialize type or an undecodable header.
	ErrBadFrame = errors.New("remoting: bad frame")
)

// AppendFrame appends c's frame to dst in c.Serialize's header encoding: the length field, the
// serialize-type/header-length word, the header and Body. BodyParts are not appended, but the
// length field counts them: the caller writes them right after the returned bytes.
func AppendFrame(dst []byte, c *Command) ([]byte, error) {
	dst, err := appendPrefix(dst, c)
	if err != nil {
		return dst, err
	}
	return append(dst, c.Body...), nil
}

// appendPrefix appends everything of c's frame that comes before Body: the length field (which
// counts Body and BodyParts), the serialize-type/header-length word and the header.
func appendPrefix(dst []byte, c *Command) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(c.Serialize), 0, 0, 0)
	var err error
	switch c.Serialize {
	case JSON:
		dst = appendJSONHeader(dst, c)
	case RocketMQ:
		dst, err = appendBinaryHeader(dst, c)
	default:
		err = fmt.Errorf("remoting: encode: unknown serialize type %d", c.Serialize)
	}
	if err != nil {
		return dst[:start], err
	}
	hlen := len(dst) - start - prefixLen
	if hlen > maxHeaderLen {
		return dst[:start], fmt.Errorf("remoting: encode: header of %d bytes exceeds %d", hlen, maxHeaderLen)
	}
	total := 4 + hlen + c.BodyLen()
	if total > math.MaxInt32 {
		return dst[:start], fmt.Errorf("remoting: encode: frame of %d bytes exceeds the int32 length field", total)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(total))
	dst[start+5] = byte(hlen >> 16)
	dst[start+6] = byte(hlen >> 8)
	dst[start+7] = byte(hlen)
	return dst, nil
}

// FrameReader decodes frames from a byte stream. Errors are sticky: after one, Read returns it
// again.
type FrameReader struct {
	r   *bufio.Reader
	max int
	pre [prefixLen]byte
	err error
}

// NewFrameReader returns a reader of frames from r whose length field is at most maxFrameSize
// (DefaultMaxFrameSize if maxFrameSize <= 0). r is buffered unless it is a *bufio.Reader.
func NewFrameReader(r io.Reader, maxFrameSize int) *FrameReader {
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	maxFrameSize = min(maxFrameSize, math.MaxInt32)
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, readBufferSize)
	}
	return &FrameReader{r: br, max: maxFrameSize}
}

// Read decodes the next frame. It returns io.EOF only when the stream ends cleanly between
// frames; a stream that ends inside a frame gives an error wrapping io.ErrUnexpectedEOF.
// Malformed frames give errors wrapping ErrFrameTooLarge or ErrBadFrame. Errors of the
// underlying reader are returned as they are (wrapped).
func (fr *FrameReader) Read() (*Command, error) {
	if fr.err != nil {
		return nil, fr.err
	}
	c, err := fr.read()
	if err != nil {
		fr.err = err
	}
	return c, err
}

func (fr *FrameReader) read() (*Command, error) {
	if n, err := io.ReadFull(fr.r, fr.pre[:4]); err != nil {
		if err == io.EOF && n == 0 {
			return nil, io.EOF
		}
		return nil, tornErr("length field", err)
	}
	length := int64(binary.BigEndian.Uint32(fr.pre[:4]))
	if length&0x80000000 != 0 {
		length -= 1 << 32 // int32 on the wire
	}
	switch {
	case length < 4:
		return nil, fmt.Errorf("%w: length %d is below 4", ErrBadFrame, length)
	case length > int64(fr.max):
		return nil, fmt.Errorf("%w: length %d exceeds the limit of %d bytes", ErrFrameTooLarge, length, fr.max)
	}
	if _, err := io.ReadFull(fr.r, fr.pre[4:]); err != nil {
		return nil, tornErr("header length", err)
	}
	st := SerializeType(fr.pre[4])
	hlen := int(fr.pre[5])<<16 | int(fr.pre[6])<<8 | int(fr.pre[7])
	rest := int(length) - 4
	switch {
	case hlen > rest:
		return nil, fmt.Errorf("%w: header length %d exceeds the frame's %d bytes", ErrBadFrame, hlen, rest)
	case st != JSON && st != RocketMQ:
		return nil, fmt.Errorf("%w: unknown serialize type %d", ErrBadFrame, st)
	}
	var buf []byte
	var err error
	fb := GetBuffer(rest) // nil beyond eagerAlloc: then readN grows the buffer as bytes arrive
	if fb != nil {
		buf = *fb
		_, err = io.ReadFull(fr.r, buf)
	} else {
		buf, err = readN(fr.r, rest)
	}
	if err != nil {
		PutBuffer(fb)
		return nil, tornErr("frame", err)
	}
	c := &Command{Serialize: st}
	if st == JSON {
		err = decodeJSONHeader(buf[:hlen], c)
	} else {
		err = decodeBinaryHeader(buf[:hlen], c)
	}
	switch {
	case err != nil:
		PutBuffer(fb)
		return nil, fmt.Errorf("%w: %s header: %w", ErrBadFrame, serializeName(st), err)
	case hlen < rest:
		c.Body, c.frame = buf[hlen:rest:rest], fb
	default:
		PutBuffer(fb) // no body: the decoded header holds copies only
	}
	return c, nil
}

// readN reads exactly n bytes, more than eagerAlloc, into a buffer that doubles as the bytes
// arrive.
func readN(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, eagerAlloc)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), n))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// tornErr reports a stream that failed inside a frame: an end of stream becomes
// io.ErrUnexpectedEOF.
func tornErr(what string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("remoting: read %s: %w", what, err)
}

func serializeName(st SerializeType) string {
	if st == RocketMQ {
		return "ROCKETMQ"
	}
	return "JSON"
}

// languageOrGo is the language a command is written with: its own, or "GO" when empty.
func languageOrGo(s string) string {
	if s == "" {
		return "GO"
	}
	return s
}
