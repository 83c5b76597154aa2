package store

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestOnFlush: with SYNC_FLUSH an acknowledged put has been flushed, and the flush that wrote
// it was reported to OnFlush; flushes with nothing to write are not reported.
func TestOnFlush(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.FlushDiskType = SyncFlush
	var flushes atomic.Int64
	cfg.OnFlush = func(d time.Duration) {
		if d < 0 {
			t.Errorf("flush of %v", d)
		}
		flushes.Add(1)
	}
	s := openStore(t, cfg)
	defer s.Close()
	if _, err := s.cl.Flush(); err != nil { // nothing to write
		t.Fatal(err)
	}
	if n := flushes.Load(); n != 0 {
		t.Fatalf("%d flushes reported before any put", n)
	}
	for i := range 3 {
		put(t, s, newRecord("T", 0, "m", nil))
		if n := flushes.Load(); n < int64(i+1) {
			t.Fatalf("after put %d: %d flushes reported", i+1, n)
		}
	}
}
