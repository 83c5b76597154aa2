package message

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
)

// View is one validated stored record, exactly TotalSize bytes, usually
// aliasing a mapped segment. Get one from Parse. Accessors read fields in
// place and never allocate; the slices they return alias the view, with
// capacity clipped to the field. Accessors on a View that did not come from
// Parse may panic.
type View []byte

// CheckHeader checks that b, the bytes of one record by its index entry, starts with a message
// record's header for exactly that size: MAGICCODE is MagicMessage and TOTALSIZE is len(b), at
// least MinRecordSize. It reads those 8 bytes only, where Parse reads fields through the whole
// record: the pull path checks this way records it passes on without looking into them. Its
// errors are Parse's, and ErrCorrupt when TOTALSIZE is not len(b).
func CheckHeader(b []byte) error {
	total, err := header(b)
	if err == nil && total != int64(len(b)) {
		err = fmt.Errorf("%w: TOTALSIZE %d, expected %d", ErrCorrupt, total, len(b))
	}
	return err
}

// header reads and checks the TOTALSIZE and MAGICCODE of the record at the start of b (Parse's
// errors), returning TOTALSIZE.
func header(b []byte) (int64, error) {
	if len(b) < BlankHeaderSize {
		return 0, fmt.Errorf("%w: %d bytes, need at least %d for the header", ErrTruncated, len(b), BlankHeaderSize)
	}
	be := binary.BigEndian
	total := int64(int32(be.Uint32(b[offTotalSize:])))
	switch magic := be.Uint32(b[offMagic:]); magic {
	case MagicMessage:
	case MagicBlank:
		if total < BlankHeaderSize {
			return 0, fmt.Errorf("%w: blank marker TOTALSIZE %d below %d", ErrCorrupt, total, BlankHeaderSize)
		}
		return 0, ErrBlank
	case magicMessageV2:
		return 0, fmt.Errorf("%w: %#08x is the 5.x v2 layout, which is not supported", ErrBadMagic, magic)
	default:
		return 0, fmt.Errorf("%w: %#08x", ErrBadMagic, magic)
	}
	if total < MinRecordSize {
		return 0, fmt.Errorf("%w: TOTALSIZE %d below minimum %d", ErrCorrupt, total, MinRecordSize)
	}
	return total, nil
}

// Parse validates the record at the start of b and returns it as a View of
// exactly TOTALSIZE bytes (the rest of b is not looked at). It checks:
// MAGICCODE is MagicMessage; TOTALSIZE is within [MinRecordSize, len(b)];
// the host sizes given by the SYSFLAG IPv6 bits, BODYLENGTH >= 0, TOPICLENGTH
// in 1..127 and PROPERTIESLENGTH in 0..32767 add up to TOTALSIZE exactly; both
// host ports are in 0..65535. It does not check the CRC (see View.CheckCRC).
//
// Errors, wrapped with detail:
//   - ErrTruncated: b is shorter than the 8-byte header or than TOTALSIZE;
//     a stream parser needs more bytes.
//   - ErrBlank: the magic is MagicBlank, the end of a segment; BlankSize(b)
//     gives the blank's TOTALSIZE. A blank whose TOTALSIZE is below
//     BlankHeaderSize is ErrCorrupt instead.
//   - ErrBadMagic: any other magic.
//   - ErrCorrupt: inconsistent lengths.
//
// Parse does not allocate on success.
func Parse(b []byte) (View, error) {
	total, err := header(b)
	if err != nil {
		return nil, err
	}
	if total > int64(len(b)) {
		return nil, fmt.Errorf("%w: TOTALSIZE %d, have %d bytes", ErrTruncated, total, len(b))
	}
	be := binary.BigEndian
	n := int(total)
	v := View(b[:n:n])

	sysFlag := int32(be.Uint32(v[offSysFlag:]))
	bornSize, storeSize := hostSizes(sysFlag)
	fixed := fixedSize + bornSize + storeSize
	if n < fixed {
		return nil, fmt.Errorf("%w: TOTALSIZE %d below %d for sysflag %#x", ErrCorrupt, n, fixed, sysFlag)
	}
	if err := checkPort("born host", v[offBornHost+bornSize-4:]); err != nil {
		return nil, err
	}
	storeHost := offBornHost + bornSize + 8
	if err := checkPort("store host", v[storeHost+storeSize-4:]); err != nil {
		return nil, err
	}

	// Variable part: BODYLENGTH body TOPICLENGTH topic PROPERTIESLENGTH props.
	// room counts the bytes available for body, topic and properties.
	room := int64(n - fixed)
	p := storeHost + storeSize + 4 + 8
	bodyLen := int64(int32(be.Uint32(v[p:])))
	if bodyLen < 0 || bodyLen > room {
		return nil, fmt.Errorf("%w: BODYLENGTH %d, room for %d", ErrCorrupt, bodyLen, room)
	}
	room -= bodyLen
	p += 4 + int(bodyLen)
	topicLen := int64(int8(v[p]))
	if topicLen < 1 || topicLen > room {
		return nil, fmt.Errorf("%w: TOPICLENGTH %d, want 1..%d and room for %d", ErrCorrupt, topicLen, MaxTopicLen, room)
	}
	room -= topicLen
	p += 1 + int(topicLen)
	propsLen := int64(int16(be.Uint16(v[p:])))
	if propsLen < 0 || propsLen != room {
		return nil, fmt.Errorf("%w: PROPERTIESLENGTH %d, TOTALSIZE leaves %d", ErrCorrupt, propsLen, room)
	}
	return v, nil
}

// checkPort checks the int32 port at the start of b.
func checkPort(what string, b []byte) error {
	if port := int32(binary.BigEndian.Uint32(b)); port < 0 || port > 0xFFFF {
		return fmt.Errorf("%w: %s port %d out of range", ErrCorrupt, what, port)
	}
	return nil
}

func hostSizes(sysFlag int32) (born, store int) {
	born, store = hostV4Size, hostV4Size
	if sysFlag&SysFlagBornHostV6 != 0 {
		born = hostV6Size
	}
	if sysFlag&SysFlagStoreHostV6 != 0 {
		store = hostV6Size
	}
	return born, store
}

// BlankSize returns the TOTALSIZE of a blank marker at the start of b: b has
// at least BlankHeaderSize bytes, MAGIC is MagicBlank and TOTALSIZE is at
// least BlankHeaderSize. Otherwise it returns 0.
func BlankSize(b []byte) int {
	if len(b) < BlankHeaderSize || binary.BigEndian.Uint32(b[offMagic:]) != MagicBlank {
		return 0
	}
	n := int32(binary.BigEndian.Uint32(b[offTotalSize:]))
	if n < BlankHeaderSize {
		return 0
	}
	return int(n)
}

func (v View) u32(off int) uint32 { return binary.BigEndian.Uint32(v[off:]) }
func (v View) u64(off int) uint64 { return binary.BigEndian.Uint64(v[off:]) }

// Size returns TOTALSIZE, which is len(v).
func (v View) Size() int { return len(v) }

// BodyCRC returns the stored BODYCRC.
func (v View) BodyCRC() uint32 { return v.u32(offBodyCRC) }

// QueueID returns QUEUEID.
func (v View) QueueID() int32 { return int32(v.u32(offQueueID)) }

// Flag returns the user FLAG.
func (v View) Flag() int32 { return int32(v.u32(offFlag)) }

// QueueOffset returns QUEUEOFFSET.
func (v View) QueueOffset() int64 { return int64(v.u64(offQueueOffset)) }

// PhysicalOffset returns PHYSICALOFFSET.
func (v View) PhysicalOffset() int64 { return int64(v.u64(offPhysicalOffset)) }

// SysFlag returns SYSFLAG as stored, IPv6 bits included.
func (v View) SysFlag() int32 { return int32(v.u32(offSysFlag)) }

// BornTimestamp returns BORNTIMESTAMP (ms).
func (v View) BornTimestamp() int64 { return int64(v.u64(offBornTimestamp)) }

// BornHost returns BORNHOST.
func (v View) BornHost() netip.AddrPort {
	born, _ := hostSizes(v.SysFlag())
	return v.host(offBornHost, born)
}

// offStoreTimestamp is the offset of STORETIMESTAMP; STOREHOST follows it.
func (v View) offStoreTimestamp() int {
	born, _ := hostSizes(v.SysFlag())
	return offBornHost + born
}

// StoreTimestamp returns STORETIMESTAMP (ms).
func (v View) StoreTimestamp() int64 { return int64(v.u64(v.offStoreTimestamp())) }

// StoreHost returns STOREHOST.
func (v View) StoreHost() netip.AddrPort {
	born, store := hostSizes(v.SysFlag())
	return v.host(offBornHost+born+8, store)
}

func (v View) host(off, size int) netip.AddrPort {
	if size == hostV6Size {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(v[off:off+16])), uint16(v.u32(off+16)))
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(v[off:off+4])), uint16(v.u32(off+4)))
}

// offReconsumeTimes is the offset of RECONSUMETIMES; PREPAREDTXOFFSET and
// BODYLENGTH follow it.
func (v View) offReconsumeTimes() int {
	born, store := hostSizes(v.SysFlag())
	return offBornHost + born + 8 + store
}

// ReconsumeTimes returns RECONSUMETIMES.
func (v View) ReconsumeTimes() int32 { return int32(v.u32(v.offReconsumeTimes())) }

// PreparedTransactionOffset returns PREPAREDTRANSACTIONOFFSET.
func (v View) PreparedTransactionOffset() int64 { return int64(v.u64(v.offReconsumeTimes() + 4)) }

// bodyBounds returns the offsets of the body's first byte and one past its last.
func (v View) bodyBounds() (int, int) {
	p := v.offReconsumeTimes() + 12
	start := p + 4
	return start, start + int(v.u32(p))
}

// Body returns BODY (stored bytes, compressed if SysFlagCompressed is set).
func (v View) Body() []byte {
	s, e := v.bodyBounds()
	return v[s:e:e]
}

// Topic returns TOPIC.
func (v View) Topic() []byte {
	_, p := v.bodyBounds()
	e := p + 1 + int(v[p])
	return v[p+1 : e : e]
}

// Properties returns the PROPERTIES string (§4.3): it runs from after the
// 2-byte PROPERTIESLENGTH to the end of the record.
func (v View) Properties() []byte {
	_, p := v.bodyBounds()
	p += 1 + int(v[p]) + 2
	return v[p:len(v):len(v)]
}

// CheckCRC recomputes the body CRC and returns an error wrapping ErrCRC with
// both values on mismatch.
func (v View) CheckCRC() error {
	if got, want := BodyCRC(v.Body()), v.BodyCRC(); got != want {
		return fmt.Errorf("%w: stored %#08x, computed %#08x", ErrCRC, want, got)
	}
	return nil
}

// Record converts a view into an owned Record: the body is copied and the
// topic and properties become strings. For tools and tests.
func (v View) Record() Record {
	return Record{
		QueueID:                   v.QueueID(),
		Flag:                      v.Flag(),
		QueueOffset:               v.QueueOffset(),
		PhysicalOffset:            v.PhysicalOffset(),
		SysFlag:                   v.SysFlag(),
		BornTimestamp:             v.BornTimestamp(),
		BornHost:                  v.BornHost(),
		StoreTimestamp:            v.StoreTimestamp(),
		StoreHost:                 v.StoreHost(),
		ReconsumeTimes:            v.ReconsumeTimes(),
		PreparedTransactionOffset: v.PreparedTransactionOffset(),
		BodyCRC:                   v.BodyCRC(),
		Body:                      bytes.Clone(v.Body()),
		Topic:                     string(v.Topic()),
		Properties:                string(v.Properties()),
	}
}
