package store

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/message"
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

// TestPutMessagesThen: with SYNC_FLUSH the callback comes once, after the flush that covers the
// records, with their result; with ASYNC_FLUSH, and for a put that fails, it comes before
// PutMessagesThen returns.
func TestPutMessagesThen(t *testing.T) {
	type outcome struct {
		res      PutResult
		err      error
		flushed  int64
		returned bool
	}
	then := func(s *Store, recs ...*message.Record) outcome {
		got := make(chan outcome, 2) // a second call would be seen
		var returned atomic.Bool
		s.PutMessagesThen(recs, func(res PutResult, err error) {
			got <- outcome{res, err, s.cl.FlushedOffset(), returned.Load()}
		})
		returned.Store(true)
		o := <-got
		select {
		case again := <-got:
			t.Fatalf("called back twice: %+v, then %+v", o, again)
		default:
		}
		return o
	}
	for _, mode := range []FlushDiskType{SyncFlush, AsyncFlush} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			cfg.FlushDiskType = mode
			cfg.FlushIntervalCommitLog = config.Millis(time.Hour)
			s := openStore(t, cfg)
			defer s.Close()
			for i := range 3 {
				o := then(s, newRecord("T", 1, "a", nil), newRecord("T", 1, "b", nil))
				if o.err != nil {
					t.Fatal(o.err)
				}
				if o.res.Count != 2 || o.res.QueueOffset != int64(2*i) {
					t.Fatalf("put %d: result %+v", i, o.res)
				}
				end := o.res.PhysicalOffset + int64(o.res.Bytes)
				if flushed := o.flushed >= end; flushed != (mode == SyncFlush) {
					t.Fatalf("put %d: called back with %d flushed, the records end at %d", i, o.flushed, end)
				}
				if mode == AsyncFlush && o.returned {
					t.Fatalf("put %d: ASYNC_FLUSH called back after PutMessagesThen returned", i)
				}
			}
			o := then(s, newRecord("bad topic!", 0, "x", nil))
			if !errors.Is(o.err, ErrBadTopic) || o.returned {
				t.Fatalf("bad topic: %v (after return: %v), want ErrBadTopic at once", o.err, o.returned)
			}
		})
	}
}
