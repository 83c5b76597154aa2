package message

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// Unique id layout (wire format, never change): prefix = ip (4|16) + pid (2) +
// random (4); suffix = ms since month start (4) + counter (2).
const (
	uniqPrefixLenV4 = 4 + 2 + 4
	uniqPrefixLenV6 = 16 + 2 + 4
	uniqSuffixLen   = 4 + 2
	uniqIDLenV4     = 2 * (uniqPrefixLenV4 + uniqSuffixLen) // 32 hex characters
	uniqIDLenV6     = 2 * (uniqPrefixLenV6 + uniqSuffixLen) // 56 hex characters
)

// UniqIDGenerator produces client unique ids (UNIQ_KEY) in the Java
// MessageClientIDSetter format (see the package doc): a fixed upper-case hex
// prefix of IP + pid + a per-generator random int32 (Java uses the class-loader
// hash), then the milliseconds since the start of the current month and a
// 16-bit counter, also in upper-case hex. Months start at midnight on the 1st
// in the location of the times the clock returns.
//
// It is safe for concurrent use; the clock is called with an internal lock
// held. Ids are unique per generator as long as fewer than 65536 are made
// within one millisecond and the clock does not step back.
type UniqIDGenerator struct {
	prefix    [2 * uniqPrefixLenV6]byte // upper-case hex, fixed after construction
	prefixLen int                       // bytes of prefix in use
	now       func() time.Time

	mu         sync.Mutex
	monthStart int64  // unix ms of the current month's start; guarded by mu
	nextMonth  int64  // unix ms of the next month's start; guarded by mu
	counter    uint16 // next counter value; guarded by mu
}

// NewUniqIDGenerator returns a generator for a producer at ip with process id
// pid (its low 16 bits are used). IPv4 and IPv4-mapped addresses give 32-char
// ids, other IPv6 addresses 56-char ids; an invalid ip is written as 0.0.0.0.
// now is the clock; nil means time.Now.
func NewUniqIDGenerator(ip netip.Addr, pid int, now func() time.Time) *UniqIDGenerator {
	if now == nil {
		now = time.Now
	}
	var raw [uniqPrefixLenV6]byte
	ip = ip.Unmap()
	n := 4
	if ip.Is6() {
		a := ip.As16()
		n = copy(raw[:], a[:])
	} else if ip.Is4() {
		a := ip.As4()
		copy(raw[:], a[:])
	}
	binary.BigEndian.PutUint16(raw[n:], uint16(pid))
	binary.BigEndian.PutUint32(raw[n+2:], rand.Uint32())
	g := &UniqIDGenerator{now: now}
	g.prefixLen = len(appendHex(g.prefix[:0], raw[:n+6]))
	return g
}

// monthBounds returns the unix ms of the start of t's month and of the next
// month, in t's location.
func monthBounds(t time.Time) (start, next int64) {
	y, m, _ := t.Date()
	loc := t.Location()
	return time.Date(y, m, 1, 0, 0, 0, 0, loc).UnixMilli(), time.Date(y, m+1, 1, 0, 0, 0, 0, loc).UnixMilli()
}

// AppendNext appends the next unique id to dst. It does not allocate when dst
// has room for 56 more bytes.
func (g *UniqIDGenerator) AppendNext(dst []byte) []byte {
	// The clock is read under the lock so that the time part never goes
	// backwards relative to the counter: a goroutine holding a stale reading
	// while 65536 others ran would otherwise repeat an id.
	g.mu.Lock()
	t := g.now()
	ms := t.UnixMilli()
	if ms < g.monthStart || ms >= g.nextMonth {
		g.monthStart, g.nextMonth = monthBounds(t)
	}
	span := uint32(ms - g.monthStart)
	counter := g.counter
	g.counter++
	g.mu.Unlock()

	var suffix [uniqSuffixLen]byte
	binary.BigEndian.PutUint32(suffix[:], span)
	binary.BigEndian.PutUint16(suffix[4:], counter)
	dst = append(dst, g.prefix[:g.prefixLen]...)
	return appendHex(dst, suffix[:])
}

// Next returns the next unique id.
func (g *UniqIDGenerator) Next() string {
	var buf [uniqIDLenV6]byte
	return string(g.AppendNext(buf[:0]))
}

// UniqIDTime recovers the approximate creation time of a Java-format unique
// id (32 or 56 hex characters, either case), given a reference time ref in
// the same month as the id or the following one, like Java's
// MessageClientIDSetter.getNearlyTimeFromID: the id's offset is added to the
// start of ref's month, or of the month before if that would be after ref.
// (Java also steps back when the result equals ref; this does not.) The result
// is in ref's location. ok is false if the id is malformed, or if its offset
// is so large that even the previous month gives a time after ref.
func UniqIDTime(id string, ref time.Time) (t time.Time, ok bool) {
	var buf [uniqIDLenV6 / 2]byte
	prefixLen := uniqPrefixLenV4
	switch len(id) {
	case uniqIDLenV4:
	case uniqIDLenV6:
		prefixLen = uniqPrefixLenV6
	default:
		return time.Time{}, false
	}
	b := buf[:len(id)/2]
	if !decodeHex(b, id) {
		return time.Time{}, false
	}
	span := int64(binary.BigEndian.Uint32(b[prefixLen:]))
	y, m, _ := ref.Date()
	loc := ref.Location()
	start := time.Date(y, m, 1, 0, 0, 0, 0, loc)
	if t = start.Add(time.Duration(span) * time.Millisecond); t.After(ref) {
		t = time.Date(y, m-1, 1, 0, 0, 0, 0, loc).Add(time.Duration(span) * time.Millisecond)
		if t.After(ref) {
			return time.Time{}, false
		}
	}
	return t, true
}
