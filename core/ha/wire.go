package ha

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Wire constants (wire format, never change).
const (
	// helloMagic opens every hello.
	helloMagic = "TERNHA1\x00"
	// helloPrefix is the magic and the length field.
	helloPrefix = 10
	// helloFixed is the hello body without the name: nameLen, brokerId, segmentSize, maxOffset,
	// lastEpoch, reportMillis.
	helloFixed = 2 + 8 + 8 + 8 + 8 + 4
	// maxHelloLen bounds a hello's length field.
	maxHelloLen = 1024
	// maxBrokerName bounds a broker name.
	maxBrokerName = 255

	// answerPrefix is the length field of a welcome or refusal.
	answerPrefix = 4
	// maxAnswerLen bounds an answer's length field.
	maxAnswerLen = 1 << 20
	// welcomeFixed is a welcome without its entries: kind, epoch, minOffset, maxOffset,
	// heartbeatMillis, count.
	welcomeFixed = 1 + 8 + 8 + 8 + 4 + 4
	// epochEntrySize is one history entry on the wire.
	epochEntrySize = 16
	// refusalFixed is a refusal without its reason: kind, code, reasonLen.
	refusalFixed = 1 + 1 + 2
	// maxReason bounds a refusal's reason (longer reasons are cut when encoded).
	maxReason = 1024

	kindWelcome = 1
	kindRefusal = 2

	// frameHeaderSize is a data frame's header.
	frameHeaderSize = 4 + 8 + 8 + 8
	// MaxFrameBody bounds a data frame's body. A slave refuses longer frames, and
	// MasterOptions.MaxTransfer must not exceed it.
	MaxFrameBody = 64 << 20

	// ackSize is an ack.
	ackSize = 16
)

// hello is the slave's first message.
type hello struct {
	BrokerName     string
	BrokerID       int64
	SegmentSize    int64
	MaxOffset      int64
	LastEpoch      int64
	ReportInterval time.Duration // millisecond precision on the wire
}

// answer is the master's reply to a hello: a welcome (Refused == false) or a refusal.
type answer struct {
	Refused bool

	// Welcome.
	Epoch     int64
	MinOffset int64
	MaxOffset int64
	Heartbeat time.Duration // millisecond precision on the wire
	History   []Epoch

	// Refusal.
	Code   byte
	Reason string
}

// frameHeader heads a data frame; BodyLen == 0 is a heartbeat.
type frameHeader struct {
	BodyLen   uint32
	Epoch     int64
	Offset    int64
	MasterMax int64
}

// ack is the slave's progress report.
type ack struct {
	Epoch     int64
	MaxOffset int64
}

func millis(d time.Duration) uint32 {
	ms := d.Milliseconds()
	return uint32(max(0, min(ms, 1<<32-1)))
}

// appendHello appends h's encoding to dst. The name is cut to maxBrokerName bytes.
func appendHello(dst []byte, h hello) []byte {
	name := h.BrokerName[:min(len(h.BrokerName), maxBrokerName)]
	dst = append(dst, helloMagic...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(helloFixed+len(name)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(name)))
	dst = append(dst, name...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.BrokerID))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.SegmentSize))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.MaxOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.LastEpoch))
	return binary.BigEndian.AppendUint32(dst, millis(h.ReportInterval))
}

// appendWelcome appends a welcome's encoding to dst.
func appendWelcome(dst []byte, a answer) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(welcomeFixed+epochEntrySize*len(a.History)))
	dst = append(dst, kindWelcome)
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.Epoch))
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.MinOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.MaxOffset))
	dst = binary.BigEndian.AppendUint32(dst, millis(a.Heartbeat))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(a.History)))
	for _, e := range a.History {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.Epoch))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.StartOffset))
	}
	return dst
}

// appendRefusal appends a refusal with err's code and text to dst.
func appendRefusal(dst []byte, err error) []byte {
	reason := err.Error()
	reason = reason[:min(len(reason), maxReason)]
	dst = binary.BigEndian.AppendUint32(dst, uint32(refusalFixed+len(reason)))
	dst = append(dst, kindRefusal, refusalCode(err))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(reason)))
	return append(dst, reason...)
}

// appendFrameHeader appends a frame header to dst.
func appendFrameHeader(dst []byte, f frameHeader) []byte {
	dst = binary.BigEndian.AppendUint32(dst, f.BodyLen)
	dst = binary.BigEndian.AppendUint64(dst, uint64(f.Epoch))
	dst = binary.BigEndian.AppendUint64(dst, uint64(f.Offset))
	return binary.BigEndian.AppendUint64(dst, uint64(f.MasterMax))
}

// appendAck appends an ack to dst.
func appendAck(dst []byte, a ack) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.Epoch))
	return binary.BigEndian.AppendUint64(dst, uint64(a.MaxOffset))
}

// decoder reads big-endian fields from a buffer with a sticky error: after the first short read
// every read returns zero and err stays io.ErrUnexpectedEOF.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.err = io.ErrUnexpectedEOF
		d.b = nil
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) u8() byte {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) i64() int64 {
	if b := d.take(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

// short returns io.EOF for an empty input and io.ErrUnexpectedEOF for a torn one.
func short(b []byte) error {
	if len(b) == 0 {
		return io.EOF
	}
	return io.ErrUnexpectedEOF
}

// helloLen checks the magic and length of a hello's first helloPrefix bytes and returns the
// length.
func helloLen(prefix []byte) (int, error) {
	if string(prefix[:len(helloMagic)]) != helloMagic {
		return 0, protoErr("bad hello magic %q", prefix[:len(helloMagic)])
	}
	n := int(binary.BigEndian.Uint16(prefix[len(helloMagic):]))
	if n < helloFixed+1 || n > maxHelloLen {
		return 0, protoErr("hello length %d outside [%d,%d]", n, helloFixed+1, maxHelloLen)
	}
	return n, nil
}

// decodeHello decodes the hello at the start of b and returns it with the bytes it used.
func decodeHello(b []byte) (hello, int, error) {
	if len(b) < helloPrefix {
		return hello{}, 0, short(b)
	}
	n, err := helloLen(b)
	if err != nil {
		return hello{}, 0, err
	}
	if len(b) < helloPrefix+n {
		return hello{}, 0, io.ErrUnexpectedEOF
	}
	d := decoder{b: b[helloPrefix : helloPrefix+n]}
	nameLen := int(d.u16())
	if nameLen < 1 || nameLen > maxBrokerName || helloFixed+nameLen > n {
		return hello{}, 0, protoErr("hello name length %d in a hello of %d bytes", nameLen, n)
	}
	h := hello{BrokerName: string(d.take(nameLen))}
	h.BrokerID = d.i64()
	h.SegmentSize = d.i64()
	h.MaxOffset = d.i64()
	h.LastEpoch = d.i64()
	h.ReportInterval = time.Duration(d.u32()) * time.Millisecond
	if d.err != nil { // cannot happen after the length checks; kept as the decoder's contract
		return hello{}, 0, d.err
	}
	if h.BrokerID < 0 || h.SegmentSize <= 0 || h.MaxOffset < 0 || h.LastEpoch < 0 {
		return hello{}, 0, protoErr("hello fields out of range: broker id %d, segment size %d, max offset %d, epoch %d",
			h.BrokerID, h.SegmentSize, h.MaxOffset, h.LastEpoch)
	}
	return h, helloPrefix + n, nil
}

// answerLen checks an answer's length field.
func answerLen(prefix []byte) (int, error) {
	n := binary.BigEndian.Uint32(prefix)
	if n < 1 || n > maxAnswerLen {
		return 0, protoErr("answer length %d outside [1,%d]", n, maxAnswerLen)
	}
	return int(n), nil
}

// decodeAnswer decodes the welcome or refusal at the start of b and returns it with the bytes it
// used.
func decodeAnswer(b []byte) (answer, int, error) {
	if len(b) < answerPrefix {
		return answer{}, 0, short(b)
	}
	n, err := answerLen(b)
	if err != nil {
		return answer{}, 0, err
	}
	if len(b) < answerPrefix+n {
		return answer{}, 0, io.ErrUnexpectedEOF
	}
	body := b[answerPrefix : answerPrefix+n]
	switch body[0] {
	case kindWelcome:
		a, err := decodeWelcome(body)
		return a, answerPrefix + n, err
	case kindRefusal:
		a, err := decodeRefusal(body)
		return a, answerPrefix + n, err
	default:
		return answer{}, 0, protoErr("unknown answer kind %d", body[0])
	}
}

func decodeWelcome(body []byte) (answer, error) {
	if len(body) < welcomeFixed {
		return answer{}, protoErr("welcome of %d bytes, want at least %d", len(body), welcomeFixed)
	}
	d := decoder{b: body[1:]}
	a := answer{Epoch: d.i64(), MinOffset: d.i64(), MaxOffset: d.i64()}
	a.Heartbeat = time.Duration(d.u32()) * time.Millisecond
	count := d.u32()
	if uint64(count)*epochEntrySize > uint64(len(body)-welcomeFixed) {
		return answer{}, protoErr("welcome announces %d epochs in %d bytes", count, len(body)-welcomeFixed)
	}
	if a.Epoch < 0 || a.MinOffset < 0 || a.MaxOffset < a.MinOffset {
		return answer{}, protoErr("welcome fields out of range: epoch %d, offsets [%d,%d)", a.Epoch, a.MinOffset, a.MaxOffset)
	}
	if count > 0 {
		a.History = make([]Epoch, count)
	}
	for i := range a.History {
		a.History[i] = Epoch{Epoch: d.i64(), StartOffset: d.i64()}
	}
	if err := checkHistory(a.History); err != nil {
		return answer{}, protoErr("welcome history: %v", err)
	}
	last := int64(0)
	if count > 0 {
		last = a.History[count-1].Epoch
	}
	if a.Epoch != last {
		return answer{}, protoErr("welcome epoch %d is not its history's last (%d)", a.Epoch, last)
	}
	return a, nil
}

func decodeRefusal(body []byte) (answer, error) {
	d := decoder{b: body[1:]}
	a := answer{Refused: true, Code: d.u8()}
	rl := int(d.u16())
	if d.err != nil || rl > len(d.b) {
		return answer{}, protoErr("refusal of %d bytes with a reason of %d", len(body), rl)
	}
	a.Reason = string(d.take(rl))
	return a, nil
}

// decodeFrameHeader decodes a frame header from the first frameHeaderSize bytes of b and checks
// it against maxBody.
func decodeFrameHeader(b []byte, maxBody int) (frameHeader, error) {
	if len(b) < frameHeaderSize {
		return frameHeader{}, short(b)
	}
	d := decoder{b: b[:frameHeaderSize]}
	f := frameHeader{BodyLen: d.u32(), Epoch: d.i64(), Offset: d.i64(), MasterMax: d.i64()}
	if int64(f.BodyLen) > int64(maxBody) {
		return frameHeader{}, protoErr("frame body of %d bytes, limit %d", f.BodyLen, maxBody)
	}
	if f.Epoch < 0 || f.Offset < 0 || f.MasterMax < f.Offset || f.MasterMax-f.Offset < int64(f.BodyLen) {
		return frameHeader{}, protoErr("frame fields out of range: epoch %d, offset %d, body %d, master max %d",
			f.Epoch, f.Offset, f.BodyLen, f.MasterMax)
	}
	return f, nil
}

// decodeAck decodes an ack from the first ackSize bytes of b.
func decodeAck(b []byte) (ack, error) {
	if len(b) < ackSize {
		return ack{}, short(b)
	}
	d := decoder{b: b[:ackSize]}
	a := ack{Epoch: d.i64(), MaxOffset: d.i64()}
	if a.Epoch < 0 || a.MaxOffset < 0 {
		return ack{}, protoErr("ack fields out of range: epoch %d, offset %d", a.Epoch, a.MaxOffset)
	}
	return a, nil
}

// readHello reads one hello from r.
func readHello(r io.Reader) (hello, error) {
	var buf [helloPrefix + maxHelloLen]byte
	if _, err := io.ReadFull(r, buf[:helloPrefix]); err != nil {
		return hello{}, fmt.Errorf("read hello: %w", err)
	}
	n, err := helloLen(buf[:])
	if err != nil {
		return hello{}, err
	}
	if _, err := io.ReadFull(r, buf[helloPrefix:helloPrefix+n]); err != nil {
		return hello{}, fmt.Errorf("read hello: %w", eofTorn(err))
	}
	h, _, err := decodeHello(buf[:helloPrefix+n])
	return h, err
}

// readAnswer reads one welcome or refusal from r. Its memory grows as its bytes arrive.
func readAnswer(r io.Reader) (answer, error) {
	var prefix [answerPrefix]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return answer{}, fmt.Errorf("read answer: %w", err)
	}
	n, err := answerLen(prefix[:])
	if err != nil {
		return answer{}, err
	}
	buf, err := readGrowing(r, append(make([]byte, 0, 256), prefix[:]...), n)
	if err != nil {
		return answer{}, fmt.Errorf("read answer: %w", eofTorn(err))
	}
	a, _, err := decodeAnswer(buf)
	return a, err
}

// readGrowing appends exactly n bytes from r to buf, growing buf by at most 1 MiB ahead of the
// bytes that arrived, so a lying length costs no more memory than the bytes sent.
func readGrowing(r io.Reader, buf []byte, n int) ([]byte, error) {
	const step = 1 << 20
	for n > 0 {
		k := min(n, step)
		buf = growLen(buf, k)
		if _, err := io.ReadFull(r, buf[len(buf)-k:]); err != nil {
			return buf, err
		}
		n -= k
	}
	return buf, nil
}

// growLen extends buf by k bytes, reallocating when needed.
func growLen(buf []byte, k int) []byte {
	if cap(buf)-len(buf) < k {
		nb := make([]byte, len(buf), max(2*cap(buf), len(buf)+k))
		copy(nb, buf)
		buf = nb
	}
	return buf[:len(buf)+k]
}

// eofTorn turns io.EOF in the middle of a message into io.ErrUnexpectedEOF.
func eofTorn(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
