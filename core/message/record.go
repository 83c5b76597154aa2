package message

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"net/netip"
	"slices"
)

// Magic codes (wire format, never change).
const (
	MagicMessage uint32 = 0xDAA320A7 // a stored message record (v1 layout, 1-byte topic length)
	MagicBlank   uint32 = 0xCBD43194 // end-of-segment filler in the CommitLog

	// magicMessageV2 is the 5.x layout with a 2-byte topic length. It is
	// recognised only to give a clearer error: Go v2.1.2 cannot read it.
	magicMessageV2 uint32 = 0xDAA320AB
)

// SysFlag bits (wire format, never change).
const (
	SysFlagCompressed  int32 = 0x1
	SysFlagMultiTags   int32 = 0x2
	TxNotType          int32 = 0x0
	TxPrepared         int32 = 0x4
	TxCommit           int32 = 0x8
	TxRollback         int32 = 0xC
	TxMask             int32 = 0xC
	SysFlagBornHostV6  int32 = 0x10
	SysFlagStoreHostV6 int32 = 0x20
)

// TxType returns the transaction type bits of sysFlag (sysFlag & TxMask).
func TxType(sysFlag int32) int32 { return sysFlag & TxMask }

// Queued reports whether a record with sysFlag gets a queue offset and a ConsumeQueue entry:
// every record but a prepared or rolled-back transaction message.
func Queued(sysFlag int32) bool {
	tx := TxType(sysFlag)
	return tx != TxPrepared && tx != TxRollback
}

// Limits (wire format, never change).
const (
	MaxTopicLen      = 127   // TOPICLENGTH is read as a signed byte
	MaxPropertiesLen = 32767 // PROPERTIESLENGTH is an int16
	MinRecordSize    = 91    // IPv4/IPv4 header with empty body, topic and properties
	BlankHeaderSize  = 8     // TOTALSIZE + MAGIC of an end-of-segment blank marker
)

// Field offsets and sizes of the record layout (see the package doc).
const (
	offTotalSize      = 0
	offMagic          = 4
	offBodyCRC        = 8
	offQueueID        = 12
	offFlag           = 16
	offQueueOffset    = 20
	offPhysicalOffset = 28
	offSysFlag        = 36
	offBornTimestamp  = 40
	offBornHost       = 48

	hostV4Size = 4 + 4  // IPv4 address + int32 port
	hostV6Size = 16 + 4 // IPv6 address + int32 port

	// fixedSize is the record size without the two hosts, body, topic and
	// properties: everything up to BORNHOST (48), STORETIMESTAMP (8),
	// RECONSUMETIMES (4), PREPAREDTXOFFSET (8), BODYLENGTH (4),
	// TOPICLENGTH (1) and PROPERTIESLENGTH (2).
	fixedSize = offBornHost + 8 + 4 + 8 + 4 + 1 + 2
)

// Record is what the encoder writes. Topic and Properties are strings because
// they arrive as strings from the remoting header; Body aliases the caller's
// bytes.
type Record struct {
	QueueID                   int32
	Flag                      int32
	QueueOffset               int64
	PhysicalOffset            int64
	SysFlag                   int32 // the encoder sets/clears the two IPv6 bits itself from the hosts
	BornTimestamp             int64
	BornHost                  netip.AddrPort
	StoreTimestamp            int64
	StoreHost                 netip.AddrPort
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
	BodyCRC                   uint32 // the caller computes it with BodyCRC(body), so it can be done outside a lock
	Body                      []byte
	Topic                     string
	Properties                string // encoded properties string (§4.3)
}

// isV6 reports whether ap is encoded as a 20-byte IPv6 host. IPv4-mapped IPv6
// addresses stay IPv6; anything that is not IPv6 (including the zero
// AddrPort) is encoded as IPv4.
func isV6(ap netip.AddrPort) bool { return ap.Addr().Is6() }

func hostSize(ap netip.AddrPort) int {
	if isV6(ap) {
		return hostV6Size
	}
	return hostV4Size
}

// Size returns the encoded size of r (TOTALSIZE): 91 + body + topic +
// properties for IPv4/IPv4, plus 12 per IPv6 host.
func (r *Record) Size() int {
	return fixedSize + hostSize(r.BornHost) + hostSize(r.StoreHost) +
		len(r.Body) + len(r.Topic) + len(r.Properties)
}

// Validate checks what the encoder cannot express: topic length 1..127,
// properties length <= 32767, hosts that are valid IPv4 or IPv6 addresses
// without a zone, and a total size that fits in an int32. Errors wrap
// ErrTopicEmpty, ErrTopicTooLong, ErrPropertiesTooLong, ErrBadHost or
// ErrTooLarge. It does not look inside the properties or check the CRC.
func (r *Record) Validate() error {
	switch {
	case len(r.Topic) == 0:
		return ErrTopicEmpty
	case len(r.Topic) > MaxTopicLen:
		return fmt.Errorf("%w: %d bytes, max %d", ErrTopicTooLong, len(r.Topic), MaxTopicLen)
	case len(r.Properties) > MaxPropertiesLen:
		return fmt.Errorf("%w: %d bytes, max %d", ErrPropertiesTooLong, len(r.Properties), MaxPropertiesLen)
	}
	if err := validateHost("born host", r.BornHost); err != nil {
		return err
	}
	if err := validateHost("store host", r.StoreHost); err != nil {
		return err
	}
	if n := r.Size(); n > math.MaxInt32 {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	return nil
}

func validateHost(what string, ap netip.AddrPort) error {
	a := ap.Addr()
	switch {
	case !a.IsValid():
		return fmt.Errorf("%w: %s not set", ErrBadHost, what)
	case a.Zone() != "":
		return fmt.Errorf("%w: %s %s has a zone, which cannot be encoded", ErrBadHost, what, ap)
	}
	return nil
}

// AppendRecord appends the encoding of r to dst and returns the extended
// slice. It does not allocate when cap(dst)-len(dst) >= r.Size(), so the store
// can encode straight into a mapped segment by passing seg[pos:pos:end].
//
// r must pass Validate; AppendRecord does not check it again. The IPv6 bits of
// SYSFLAG are derived from the hosts; BODYCRC is written as r.BodyCRC.
func AppendRecord(dst []byte, r *Record) []byte {
	n := r.Size()
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	b := dst[start:]
	be := binary.BigEndian

	sysFlag := r.SysFlag &^ (SysFlagBornHostV6 | SysFlagStoreHostV6)
	if isV6(r.BornHost) {
		sysFlag |= SysFlagBornHostV6
	}
	if isV6(r.StoreHost) {
		sysFlag |= SysFlagStoreHostV6
	}

	be.PutUint32(b[offTotalSize:], 0) // written last: see below
	be.PutUint32(b[offMagic:], MagicMessage)
	be.PutUint32(b[offBodyCRC:], r.BodyCRC)
	be.PutUint32(b[offQueueID:], uint32(r.QueueID))
	be.PutUint32(b[offFlag:], uint32(r.Flag))
	be.PutUint64(b[offQueueOffset:], uint64(r.QueueOffset))
	be.PutUint64(b[offPhysicalOffset:], uint64(r.PhysicalOffset))
	be.PutUint32(b[offSysFlag:], uint32(sysFlag))
	be.PutUint64(b[offBornTimestamp:], uint64(r.BornTimestamp))
	p := offBornHost
	p += putHost(b[p:], r.BornHost)
	be.PutUint64(b[p:], uint64(r.StoreTimestamp))
	p += 8
	p += putHost(b[p:], r.StoreHost)
	be.PutUint32(b[p:], uint32(r.ReconsumeTimes))
	be.PutUint64(b[p+4:], uint64(r.PreparedTransactionOffset))
	be.PutUint32(b[p+12:], uint32(len(r.Body)))
	p += 16
	p += copy(b[p:], r.Body)
	b[p] = byte(len(r.Topic))
	p++
	p += copy(b[p:], r.Topic)
	be.PutUint16(b[p:], uint16(len(r.Properties)))
	p += 2
	copy(b[p:], r.Properties)
	// TOTALSIZE goes in after every other byte, so a process killed in the middle of encoding
	// into a mapped file leaves a size of 0 (the end of the data) rather than a record whose
	// unchecked fields are torn.
	be.PutUint32(b[offTotalSize:], uint32(n))
	return dst
}

// putHost writes ap as address + int32 port and returns the bytes written.
func putHost(b []byte, ap netip.AddrPort) int {
	a := ap.Addr()
	if a.Is6() {
		ip := a.As16()
		copy(b, ip[:])
		binary.BigEndian.PutUint32(b[16:], uint32(ap.Port()))
		return hostV6Size
	}
	var ip [4]byte
	if a.Is4() {
		ip = a.As4()
	}
	copy(b, ip[:])
	binary.BigEndian.PutUint32(b[4:], uint32(ap.Port()))
	return hostV4Size
}

// BodyCRC is CRC-32 IEEE of body masked with 0x7FFFFFFF, as stored in
// BODYCRC. Compute it over the stored (possibly compressed) bytes.
func BodyCRC(body []byte) uint32 {
	return crc32.ChecksumIEEE(body) & 0x7FFFFFFF
}

// AppendBlank appends the header of an end-of-segment blank marker whose
// TOTALSIZE is n: TOTALSIZE=n and MAGIC=MagicBlank. It writes only those
// BlankHeaderSize bytes and returns dst extended by 8; the remaining n-8 bytes
// of the segment are the caller's and readers never look at them. It panics if
// n is smaller than BlankHeaderSize or does not fit in an int32.
func AppendBlank(dst []byte, n int) []byte {
	if n < BlankHeaderSize || n > math.MaxInt32 {
		panic(fmt.Sprintf("message: blank size %d out of range [%d, %d]", n, BlankHeaderSize, math.MaxInt32))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	return binary.BigEndian.AppendUint32(dst, MagicBlank)
}

// ValidateTopic checks a topic name the way RocketMQ does: 1 to MaxTopicLen characters, each
// from [%|a-zA-Z0-9_-]. The errors wrap ErrTopicEmpty, ErrTopicTooLong or ErrTopicChars.
func ValidateTopic(topic string) error {
	if topic == "" {
		return ErrTopicEmpty
	}
	if len(topic) > MaxTopicLen {
		return fmt.Errorf("%w: %d characters, at most %d", ErrTopicTooLong, len(topic), MaxTopicLen)
	}
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '%' || c == '|' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has %q; allowed are %%|a-zA-Z0-9_-", ErrTopicChars, topic, c)
		}
	}
	return nil
}
