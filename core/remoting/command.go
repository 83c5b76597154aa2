package remoting

import (
	"maps"
	"strconv"
	"sync/atomic"
)

// SerializeType is the header encoding of a frame (wire format, never change).
type SerializeType byte

// Header encodings.
const (
	JSON     SerializeType = 0
	RocketMQ SerializeType = 1 // the binary "ROCKETMQ" header
)

// LanguageCode values of the binary header (wire format, never change).
var languages = [...]string{"JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST"}

// Flag bits of a command.
const (
	FlagResponse int32 = 1 << 0
	FlagOneway   int32 = 1 << 1
)

// Version is the MQVersion ordinal Tern sends (V4_9_4 = 401: standard JSON from name servers).
const Version = 401

// Command is one remoting request or response. Its custom header (extFields) is built in
// ExtFields or Fields and read with Lookup or Header; every value is a string on the wire.
// Body is the payload; BodyParts, when set, is sent after Body without being copied together
// (a pull response's records, straight from the CommitLog).
type Command struct {
	Code     int16
	Language string
	Version  int16
	Opaque   int32
	Flag     int32
	Remark   string
	// ExtFields is the custom header of a command being built. A decoded command's header is
	// read with Lookup (no map is built) or Header (which builds ExtFields).
	ExtFields map[string]string
	// Fields, if set, also writes extFields when the command is encoded, before those of
	// ExtFields (the two must not share a key): the custom headers of the hot path (a send and
	// its answer) write themselves into the frame this way, without building a map. FieldMap
	// gives a command's fields as one map.
	Fields    FieldWriter
	Body      []byte
	BodyParts [][]byte
	// Serialize is the header encoding the command was read with, and the one a response is
	// written with (a response is answered in its request's encoding).
	Serialize SerializeType
	// Release, if set, is called once the command has been written (or dropped), to give back
	// what BodyParts point into.
	Release func()
	// frame is the pooled buffer a received command's header and Body were read into, until
	// Recycle gives it back.
	frame *[]byte
	// detached: the handler serving this request answers it after returning (Conn.Detach).
	detached bool
	// freeSlots, set on a response, frees its request's in-flight slots right before the
	// response is written, or when it is dropped (see releaseCmd): the peer can send again as
	// soon as it has the answer, and a response waiting for room in the queue keeps its slots.
	freeSlots func()

	// ext is the extFields section of a decoded ROCKETMQ header, checked, not yet in ExtFields;
	// extUnique says that no key in it repeats, extAt (atomic) is where the last Lookup that
	// matched stopped (an entry boundary), and extKeys has the bit keyBit of each key.
	ext       string
	extUnique bool
	extAt     uint32
	extKeys   uint64
}

// IsResponse reports whether c is a response.
func (c *Command) IsResponse() bool { return c.Flag&FlagResponse != 0 }

// IsOneway reports whether c is a request that expects no response.
func (c *Command) IsOneway() bool { return c.Flag&FlagOneway != 0 }

// BodyLen is the total length of Body and BodyParts.
func (c *Command) BodyLen() int {
	n := len(c.Body)
	for _, p := range c.BodyParts {
		n += len(p)
	}
	return n
}

// NewRequest returns a request with the given code and header fields.
func NewRequest(code int16, fields map[string]string, body []byte) *Command {
	return &Command{Code: code, Language: "GO", Version: Version, ExtFields: fields, Body: body}
}

// NewResponse returns the response to req with the given code and remark: same opaque, same
// header encoding, the response flag set.
func NewResponse(req *Command, code int16, remark string) *Command {
	return &Command{
		Code: code, Language: "GO", Version: Version, Opaque: req.Opaque, Flag: FlagResponse,
		Remark: remark, Serialize: req.Serialize,
	}
}

// Lookup returns a field of the command's custom header. Of a key given twice, the last
// value counts.
func (c *Command) Lookup(key string) (string, bool) {
	if c.ext == "" {
		v, ok := c.ExtFields[key]
		return v, ok
	}
	if c.extKeys&keyBit(key) == 0 {
		return "", false
	}
	if !c.extUnique {
		var v string
		found := false
		for rest := c.ext; rest != ""; {
			var k, val string
			k, val, rest = nextBinaryField(rest)
			if sameKey(k, key) {
				v, found = val, true
			}
		}
		return v, found
	}
	// No key repeats: the first match is the answer. A decoder reads the fields in about the
	// order they were written, so the scan starts where the last match ended and wraps around.
	start := int(atomic.LoadUint32(&c.extAt))
	if start > len(c.ext) {
		start = 0
	}
	at, rest := start, c.ext[start:]
	for pass := 0; pass < 2; pass++ {
		for rest != "" {
			k, v, next := nextBinaryField(rest)
			at += len(rest) - len(next)
			if sameKey(k, key) {
				atomic.StoreUint32(&c.extAt, uint32(at))
				return v, true
			}
			rest = next
		}
		at, rest = 0, c.ext[:start] // then the entries before start
	}
	return "", false
}

// keyBit is a key's bit in Command.extKeys: a clear bit proves a key absent.
func keyBit(key string) uint64 {
	h := uint(len(key)) * 31
	if key != "" {
		h += uint(key[0]) + uint(key[len(key)-1])
	}
	return 1 << (h & 63)
}

// sameKey compares the length and the first byte before the whole key: most keys differ
// there, without a call to compare.
func sameKey(k, key string) bool {
	return len(k) == len(key) && (k == "" || k[0] == key[0]) && k == key
}

// Field returns a field of the command's custom header ("" if absent).
func (c *Command) Field(key string) string {
	v, _ := c.Lookup(key)
	return v
}

// Header returns the command's custom header as ExtFields, building the map of a decoded
// header on the first call. Writing to the map changes the command's header.
func (c *Command) Header() map[string]string {
	if c.ext != "" {
		c.ExtFields, c.ext = c.extMap(), ""
	}
	return c.ExtFields
}

// extMap returns ExtFields, with a decoded header's entries in a new map; c is not changed.
func (c *Command) extMap() map[string]string {
	if c.ext == "" {
		return c.ExtFields
	}
	m := make(map[string]string, len(c.ExtFields)+16)
	maps.Copy(m, c.ExtFields)
	for rest := c.ext; rest != ""; {
		var k, v string
		k, v, rest = nextBinaryField(rest)
		m[k] = v
	}
	return m
}

// SetField sets a header field.
func (c *Command) SetField(key, value string) {
	c.Header()
	if c.ExtFields == nil {
		c.ExtFields = make(map[string]string, 8)
	}
	c.ExtFields[key] = value
}

// SetInt sets a header field to a decimal integer.
func (c *Command) SetInt(key string, v int64) { c.SetField(key, strconv.FormatInt(v, 10)) }
