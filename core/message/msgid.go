package message

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Offset message id sizes (wire format, never change).
const (
	offsetMsgIDLenV4 = 2 * (4 + 4 + 8)  // 32 hex characters
	offsetMsgIDLenV6 = 2 * (16 + 4 + 8) // 56 hex characters
)

const upperHex = "0123456789ABCDEF"

// appendHex appends b as upper-case hex.
func appendHex(dst []byte, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, upperHex[c>>4], upperHex[c&0xF])
	}
	return dst
}

// decodeHex decodes hex of either case from s into dst (len(s) == 2*len(dst)).
// It reports false on a non-hex character.
func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// AppendOffsetMsgID appends the upper-case hex offset message id (§5.1): the
// store host address (4 bytes for IPv4, 16 for IPv6 including IPv4-mapped) +
// port (int32) + physical offset (int64). It does not allocate when dst has
// room for 56 more bytes.
func AppendOffsetMsgID(dst []byte, storeHost netip.AddrPort, physicalOffset int64) []byte {
	var buf [16 + 4 + 8]byte
	n := putHost(buf[:], storeHost)
	binary.BigEndian.PutUint64(buf[n:], uint64(physicalOffset))
	return appendHex(dst, buf[:n+8])
}

// OffsetMsgID returns the offset message id of a record stored at
// physicalOffset on storeHost, e.g. 7F00000100002A9F000000000001E240 for
// 127.0.0.1:10911 and 123456.
func OffsetMsgID(storeHost netip.AddrPort, physicalOffset int64) string {
	var buf [offsetMsgIDLenV6]byte
	return string(AppendOffsetMsgID(buf[:0], storeHost, physicalOffset))
}

// ParseOffsetMsgID decodes an offset message id of 32 (IPv4) or 56 (IPv6) hex
// characters of either case. It returns an error wrapping ErrBadMsgID for any
// other length, a non-hex character, a port outside 0..65535 or a negative
// offset.
func ParseOffsetMsgID(id string) (netip.AddrPort, int64, error) {
	var buf [16 + 4 + 8]byte
	ipLen := 4
	switch len(id) {
	case offsetMsgIDLenV4:
	case offsetMsgIDLenV6:
		ipLen = 16
	default:
		return netip.AddrPort{}, 0, fmt.Errorf("%w: %d characters, want %d or %d", ErrBadMsgID, len(id), offsetMsgIDLenV4, offsetMsgIDLenV6)
	}
	b := buf[:len(id)/2]
	if !decodeHex(b, id) {
		return netip.AddrPort{}, 0, fmt.Errorf("%w: %q is not hex", ErrBadMsgID, id)
	}
	var addr netip.Addr
	if ipLen == 4 {
		addr = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		addr = netip.AddrFrom16([16]byte(b[:16]))
	}
	port := int32(binary.BigEndian.Uint32(b[ipLen:]))
	if port < 0 || port > 0xFFFF {
		return netip.AddrPort{}, 0, fmt.Errorf("%w: port %d out of range", ErrBadMsgID, port)
	}
	off := int64(binary.BigEndian.Uint64(b[ipLen+4:]))
	if off < 0 {
		return netip.AddrPort{}, 0, fmt.Errorf("%w: negative offset %d", ErrBadMsgID, off)
	}
	return netip.AddrPortFrom(addr, uint16(port)), off, nil
}
