package message

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
)

// ErrInflatedTooLarge is returned by Inflate for a body that inflates past its limit (a zlib
// bomb must not take the reader's memory).
var ErrInflatedTooLarge = errors.New("message: inflated body too large")

// Inflate decompresses a body stored with SysFlagCompressed (zlib, as RocketMQ clients write
// it), refusing one that inflates to more than limit bytes.
func Inflate(body []byte, limit int) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("message: inflate: %w", err)
	}
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("message: inflate: %w", err)
	}
	if len(out) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", ErrInflatedTooLarge, limit)
	}
	return out, nil
}
