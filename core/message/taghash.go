package message

import "unicode/utf16"

// hashRune folds r into a Java String.hashCode accumulator as one or two
// UTF-16 code units.
func hashRune(h int32, r rune) int32 {
	if r >= 0x10000 && r <= 0x10FFFF {
		hi, lo := utf16.EncodeRune(r)
		return 31*(31*h+hi) + lo
	}
	return 31*h + r
}

// TagsCode is the consume-queue tag hash of a TAGS value (§6.2): Java
// String.hashCode over the UTF-16 code units of tags with int32 wrap-around,
// sign-extended to int64. It is 0 for the empty string. Invalid UTF-8 is
// hashed as U+FFFD per invalid byte, as Go decodes it.
func TagsCode(tags string) int64 {
	var h int32
	for _, r := range tags {
		h = hashRune(h, r)
	}
	return int64(h)
}

// TagsCodeBytes is TagsCode for a byte slice, such as a value returned by
// Property. It does not allocate.
func TagsCodeBytes(tags []byte) int64 {
	var h int32
	for i, c := range tags {
		if c >= 0x80 {
			// The conversion in a range clause does not allocate.
			for _, r := range string(tags[i:]) {
				h = hashRune(h, r)
			}
			break
		}
		h = 31*h + int32(c)
	}
	return int64(h)
}
