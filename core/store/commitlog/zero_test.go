package commitlog

import (
	"bytes"
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestZeroAhead checks that in Buffered mode the zeroer writes the blocks past the end of the
// log (so they are data, not holes) and never writes over a record: writers append and wait for
// their flushes while the zeroer works a few KiB ahead of them, across segment switches, and
// every record must read back intact after a reopen.
func TestZeroAhead(t *testing.T) {
	const (
		writers   = 8
		perWriter = 150
		size      = 300
	)
	opts := testOptions()
	opts.Sync = true
	opts.SegmentSize = 64 << 10
	opts.ZeroAhead = 8 << 10 // right behind the writers: a race would show
	c, dir := newLog(t, opts)
	c.Start()
	var wg sync.WaitGroup
	want := make(map[int64][]byte) // by offset
	var mu sync.Mutex
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				off, _, err := appendFlushed(c, size, w*perWriter+i)
				if err != nil {
					t.Error(err)
					return
				}
				b, seg, err := c.Read(off, size)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want[off] = bytes.Clone(b)
				mu.Unlock()
				seg.Release()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// The zeroer's last round may still be on its way: one more round from here is synchronous.
	end := c.MaxOffset()
	if err := c.zeroAhead(); err != nil {
		t.Fatal(err)
	}
	seg := c.q.Last()
	pageUp := (end - seg.Start + pageSize - 1) &^ (pageSize - 1)
	if pageUp >= seg.Size() {
		t.Fatalf("test set-up: the log ends at %d, too near the end of segment [%d,%d) to zero anything", end, seg.Start, seg.End())
	}
	wantZeroed := seg.Start + min(end-seg.Start+opts.ZeroAhead, seg.Size())
	if got := c.zeroed.Load(); got != wantZeroed {
		t.Fatalf("zeroed to %d, want %d (end %d, segment [%d,%d))", got, wantZeroed, end, seg.Start, seg.End())
	}
	// The test log is sparse: the zeroed range must have become data.
	f, err := os.Open(segPath(dir, seg.Start))
	if err != nil {
		t.Fatal(err)
	}
	dataAt, err := unix.Seek(int(f.Fd()), pageUp, unix.SEEK_DATA)
	f.Close()
	if err != nil || dataAt != pageUp {
		t.Fatalf("SEEK_DATA from %d = %d, %v: the zeroed range is still a hole", pageUp, dataAt, err)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	re := openLog(t, dir, opts)
	var got []visited
	if _, err := re.Recover(0, 0, false, collect(&got)); err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*perWriter {
		t.Fatalf("recovered %d records, want %d", len(got), writers*perWriter)
	}
	for _, v := range got {
		if !bytes.Equal(v.data, want[v.off]) {
			t.Fatalf("the record at %d reads back different from what was written there", v.off)
		}
	}
}
