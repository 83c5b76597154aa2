package remoting

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// FieldWriter is a custom header that writes its extFields into the frame itself (see
// Command.Fields): in an order of its own, numbers written as digits straight into the frame,
// with no map in between.
type FieldWriter interface {
	WriteFields(w *FieldAppender)
}

// FieldAppender receives a FieldWriter's fields: it appends them to a header being encoded (in
// the command's encoding), or collects them into a map (Command.FieldMap).
type FieldAppender struct {
	dst  []byte
	json bool
	n    int               // entries appended
	m    map[string]string // collecting instead of appending
	err  error             // the first field that cannot be encoded
}

// String adds a field.
func (a *FieldAppender) String(key, value string) {
	if a.m != nil {
		a.m[key] = value
		return
	}
	a.key(key, len(value))
	if a.json {
		a.dst = appendJSONString(a.dst, value)
	} else {
		a.dst = append(a.dst, value...)
	}
}

// Int adds a field holding a decimal integer.
func (a *FieldAppender) Int(key string, v int64) {
	if a.m != nil {
		a.m[key] = strconv.FormatInt(v, 10)
		return
	}
	var buf [20]byte
	digits := strconv.AppendInt(buf[:0], v, 10)
	a.key(key, len(digits))
	if a.json {
		a.dst = append(a.dst, '"')
		a.dst = append(a.dst, digits...)
		a.dst = append(a.dst, '"')
	} else {
		a.dst = append(a.dst, digits...)
	}
}

// Bool adds a field holding "true" or "false".
func (a *FieldAppender) Bool(key string, v bool) { a.String(key, strconv.FormatBool(v)) }

// key appends an entry's key and what comes between it and a value of n bytes.
func (a *FieldAppender) key(key string, n int) {
	if a.json {
		if a.n > 0 {
			a.dst = append(a.dst, ',')
		}
		a.dst = appendJSONString(a.dst, key)
		a.dst = append(a.dst, ':')
	} else {
		if (len(key) > math.MaxInt16 || n > math.MaxInt32) && a.err == nil {
			a.err = fmt.Errorf("remoting: encode: extFields entry %.40q: key of %d or value of %d bytes too long", key, len(key), n)
		}
		a.dst = binary.BigEndian.AppendUint16(a.dst, uint16(len(key)))
		a.dst = append(a.dst, key...)
		a.dst = binary.BigEndian.AppendUint32(a.dst, uint32(n))
	}
	a.n++
}

// writeCommand writes c's extFields: Fields' entries in their order, then ExtFields' sorted by
// key (headers are deterministic).
func (a *FieldAppender) writeCommand(c *Command) {
	if c.Fields != nil {
		c.Fields.WriteFields(a)
	}
	var stack [32]string
	ext := c.extMap() // encoding does not change c: it may be shared
	for _, k := range sortedKeys(stack[:0], ext) {
		a.String(k, ext[k])
	}
}

// FieldMap returns a new map of c's extFields: what Fields writes and ExtFields.
func (c *Command) FieldMap() map[string]string {
	m := make(map[string]string, len(c.ExtFields)+len(c.ext)/8+16)
	(&FieldAppender{m: m}).writeCommand(c)
	return m
}

// FieldsOf returns the fields w writes, as a map.
func FieldsOf(w FieldWriter) map[string]string {
	m := make(map[string]string, 16)
	w.WriteFields(&FieldAppender{m: m})
	return m
}
