package message

import "errors"

// Sentinel errors. Decoders and Validate wrap them with detail
// (fmt.Errorf("...: %w", ErrX)), so test with errors.Is.
var (
	// ErrTruncated means the input ends before the record (or batch element)
	// does. A stream parser should wait for more bytes; at the tail of a
	// segment it marks a torn write.
	ErrTruncated = errors.New("message: truncated record")
	// ErrBlank means the input starts with an end-of-segment blank marker
	// (MagicBlank). BlankSize reports its TOTALSIZE.
	ErrBlank = errors.New("message: end-of-segment blank")
	// ErrBadMagic means the MAGICCODE is neither MagicMessage nor MagicBlank.
	ErrBadMagic = errors.New("message: bad magic code")
	// ErrCorrupt means the lengths inside a record or batch element are
	// inconsistent with each other or with TOTALSIZE.
	ErrCorrupt = errors.New("message: corrupt record")
	// ErrCRC means the stored BODYCRC does not match the body.
	ErrCRC = errors.New("message: body crc mismatch")
	// ErrTopicTooLong means the topic is longer than MaxTopicLen bytes.
	ErrTopicTooLong = errors.New("message: topic too long")
	// ErrTopicEmpty means the topic is empty.
	ErrTopicEmpty = errors.New("message: topic empty")
	// ErrTopicChars means the topic has a character outside [%|a-zA-Z0-9_-].
	ErrTopicChars = errors.New("message: invalid character in topic")
	// ErrPropertiesTooLong means the properties string is longer than
	// MaxPropertiesLen bytes.
	ErrPropertiesTooLong = errors.New("message: properties too long")
	// ErrBadProperty means a property key is empty or a key or value contains
	// a separator (NameValueSeparator or PropertySeparator).
	ErrBadProperty = errors.New("message: bad property")
	// ErrBadHost means a born or store host is not a valid, encodable IPv4 or
	// IPv6 address.
	ErrBadHost = errors.New("message: bad host address")
	// ErrBadMsgID means a message id is not well-formed.
	ErrBadMsgID = errors.New("message: bad message id")
	// ErrTooLarge means a record's encoded size does not fit TOTALSIZE (int32).
	ErrTooLarge = errors.New("message: record too large")
)
