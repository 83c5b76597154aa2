package commitlog

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/segment"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// segSize is the segment size of every test log: the smallest Validate allows, so that blank
// markers and new segments come quickly.
const segSize = 4096

var (
	bornHost  = netip.MustParseAddrPort("10.1.2.3:5555")
	storeHost = netip.MustParseAddrPort("10.9.8.7:10911")
)

// testOptions returns options for a small log that flushes only when asked (or on Close).
func testOptions() Options {
	o := DefaultOptions()
	o.SegmentSize = segSize
	o.Prealloc = false
	o.FlushInterval = time.Hour
	return o
}

// newRecord returns a valid record whose encoded size is exactly size (at least 92 bytes). seq
// varies the content.
func newRecord(size, seq int) *message.Record {
	r := &message.Record{
		Topic:          "t",
		QueueID:        int32(seq % 4),
		QueueOffset:    int64(seq),
		BornTimestamp:  1700000000000 + int64(seq),
		BornHost:       bornHost,
		StoreTimestamp: 1700000000500 + int64(seq),
		StoreHost:      storeHost,
	}
	r.Body = bytes.Repeat([]byte{byte('a' + seq%26)}, size-r.Size())
	r.BodyCRC = message.BodyCRC(r.Body)
	return r
}

// encodeRecord returns an encode function for Append that stamps r with the offset it gets.
func encodeRecord(r *message.Record) func([]byte, int64) []byte {
	return func(dst []byte, phy int64) []byte {
		r.PhysicalOffset = phy
		return message.AppendRecord(dst, r)
	}
}

// appendSized appends a valid record of size bytes and returns where it went.
func appendSized(t testing.TB, c *CommitLog, size, seq int) (off, end int64) {
	t.Helper()
	r := newRecord(size, seq)
	off, end, err := c.Append(size, encodeRecord(r))
	if err != nil {
		t.Fatalf("Append(%d): %v", size, err)
	}
	return off, end
}

// appendFlushed appends a valid record of size bytes, waits until it is flushed and returns
// where it went.
func appendFlushed(c *CommitLog, size, seq int) (off, end int64, err error) {
	r := newRecord(size, seq)
	if off, end, err = c.Append(size, encodeRecord(r)); err != nil {
		return 0, 0, err
	}
	return off, end, c.WaitFlushed(context.Background(), end)
}

// openLog opens the log in dir without recovering it; the log is closed when the test ends.
func openLog(t testing.TB, dir string, opts Options) *CommitLog {
	t.Helper()
	c, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newLog opens an empty, recovered log in a new directory.
func newLog(t testing.TB, opts Options) (*CommitLog, string) {
	t.Helper()
	dir := t.TempDir()
	c := openLog(t, dir, opts)
	if _, err := c.Recover(0, 0, false, nil); err != nil {
		t.Fatalf("Recover of an empty log: %v", err)
	}
	return c, dir
}

// visited is one record a Recover visit saw.
type visited struct {
	off  int64
	data []byte
}

// collect returns a visit function that records every record into *out.
func collect(out *[]visited) func(message.View) error {
	return func(v message.View) error {
		*out = append(*out, visited{off: v.PhysicalOffset(), data: bytes.Clone(v)})
		return nil
	}
}

// segPath returns the file of the segment holding off.
func segPath(dir string, off int64) string {
	return filepath.Join(dir, segment.Name(off-off%segSize))
}

// writeAt overwrites the log's files at a global offset (within one segment).
func writeAt(t testing.TB, dir string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(segPath(dir, off), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off%segSize); err != nil {
		t.Fatal(err)
	}
}

// readAt reads n bytes of the log's files at a global offset (within one segment).
func readAt(t testing.TB, dir string, off int64, n int) []byte {
	t.Helper()
	raw, err := os.ReadFile(segPath(dir, off))
	if err != nil {
		t.Fatal(err)
	}
	return raw[off%segSize : off%segSize+int64(n)]
}

// readDir returns the content of every file in dir by name.
func readDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}
