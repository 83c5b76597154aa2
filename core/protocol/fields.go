package protocol

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors of header decoding. Decode methods return a *FieldError that wraps one of
// them, so test with errors.Is.
var (
	// ErrMissingField means a required ("req", Java @CFNotNull) header field is absent.
	ErrMissingField = errors.New("protocol: missing required header field")
	// ErrInvalidField means a header field is present but its value is malformed: not a
	// decimal integer of the field's width, or outside the values the field allows.
	ErrInvalidField = errors.New("protocol: invalid header field")
)

// FieldError reports a bad custom-header field. Its text names the field as the peer sent it
// (and the long name for a SEND_MESSAGE_V2 one-letter key), so it can be answered to a client
// as the response remark.
type FieldError struct {
	Field string // extFields key, e.g. "queueId" or "e"
	Name  string // long name when Field is a one-letter v2 key ("queueId"), else ""
	Value string // the value sent (invalid fields only)
	Want  string // what the value should be, e.g. "an int32" (invalid fields only)
	Err   error  // ErrMissingField or ErrInvalidField
}

func (e *FieldError) field() string {
	if e.Name != "" {
		return fmt.Sprintf("%q (%s)", e.Field, e.Name)
	}
	return strconv.Quote(e.Field)
}

func (e *FieldError) Error() string {
	if errors.Is(e.Err, ErrMissingField) {
		return "protocol: missing required header field " + e.field()
	}
	return fmt.Sprintf("protocol: header field %s is not %s: %q", e.field(), e.Want, e.Value)
}

// Unwrap returns ErrMissingField or ErrInvalidField.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldSource is a header's extFields as a decoder reads them: a received command
// (*remoting.Command, whose header is read without building a map) or a Map.
type FieldSource interface {
	Lookup(key string) (string, bool)
}

// Map is extFields held in a map.
type Map map[string]string

// Lookup returns the value of key.
func (m Map) Lookup(key string) (string, bool) {
	v, ok := m[key]
	return v, ok
}

// fieldReader reads typed values out of extFields with a sticky error: after the first bad
// field every read returns a zero value and Decode returns that first error.
//
// Optional fields ("req" false) that are absent or empty read as the zero value; an empty
// required string is accepted (Java only checks presence), an empty required number is not.
type fieldReader struct {
	fields FieldSource
	names  map[string]string // v2 short key → long name, for error text
	err    error
}

func (r *fieldReader) fail(key, value, want string, err error) {
	if r.err == nil {
		r.err = &FieldError{Field: key, Name: r.names[key], Value: value, Want: want, Err: err}
	}
}

// raw returns the field's value and whether there is one to parse.
func (r *fieldReader) raw(key string, required bool) (string, bool) {
	if r.err != nil {
		return "", false
	}
	v, ok := r.fields.Lookup(key)
	if !ok {
		if required {
			r.fail(key, "", "", ErrMissingField)
		}
		return "", false
	}
	if v == "" && !required {
		return "", false
	}
	return v, true
}

func (r *fieldReader) str(key string, required bool) string {
	if r.err != nil {
		return ""
	}
	v, ok := r.fields.Lookup(key)
	if !ok && required {
		r.fail(key, "", "", ErrMissingField)
	}
	return v
}

func (r *fieldReader) int64(key string, required bool) int64 {
	v, ok := r.raw(key, required)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.fail(key, v, "an int64", ErrInvalidField)
	}
	return n
}

func (r *fieldReader) int32(key string, required bool) int32 {
	v, ok := r.raw(key, required)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		r.fail(key, v, "an int32", ErrInvalidField)
	}
	return int32(n)
}

// optInt32 reads an optional int32 whose absence means something (nil).
func (r *fieldReader) optInt32(key string) *int32 {
	if _, ok := r.raw(key, false); !ok {
		return nil
	}
	n := r.int32(key, false)
	if r.err != nil {
		return nil
	}
	return &n
}

// bool parses like Java's Boolean.parseBoolean: "true" in any case is true, anything else
// (including absence) is false. A present boolean never fails to decode.
func (r *fieldReader) bool(key string, required bool) bool {
	if r.err != nil {
		return false
	}
	v, ok := r.fields.Lookup(key)
	if !ok && required {
		r.fail(key, "", "", ErrMissingField)
	}
	return strings.EqualFold(v, "true")
}

// Encoding helpers: every extFields value is a string.

func i32s(v int32) string { return strconv.FormatInt(int64(v), 10) }
func i64s(v int64) string { return strconv.FormatInt(v, 10) }
func bools(v bool) string { return strconv.FormatBool(v) }

// putOpt sets key only for a non-empty optional string (Java omits null fields).
func putOpt(m map[string]string, key, v string) {
	if v != "" {
		m[key] = v
	}
}
