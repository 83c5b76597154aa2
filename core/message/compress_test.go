package message

import (
	"bytes"
	"compress/zlib"
	"errors"
	"testing"
)

func TestInflate(t *testing.T) {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(bytes.Repeat([]byte("tern "), 1000))
	w.Close()
	out, err := Inflate(buf.Bytes(), 5000)
	if err != nil || len(out) != 5000 {
		t.Fatalf("Inflate = %d bytes, %v", len(out), err)
	}
	if _, err := Inflate(buf.Bytes(), 4999); !errors.Is(err, ErrInflatedTooLarge) {
		t.Fatalf("Inflate over the limit = %v", err)
	}
	if _, err := Inflate([]byte("not zlib"), 100); err == nil {
		t.Fatal("Inflate of garbage succeeded")
	}
}
