package commitlog

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// notice records one OnFlushed callback: its error, the flushed offset when it ran, and
// whether OnFlushed had returned by then.
type notice struct {
	err      error
	flushed  int64
	returned bool
}

// onFlushed registers a callback for end and returns where its outcome arrives.
func onFlushed(c *CommitLog, end int64) <-chan notice {
	got := make(chan notice, 1)
	var mu sync.Mutex
	returned := false
	c.OnFlushed(end, func(err error) {
		mu.Lock()
		defer mu.Unlock()
		got <- notice{err: err, flushed: c.FlushedOffset(), returned: returned}
	})
	mu.Lock()
	returned = true
	mu.Unlock()
	return got
}

func TestOnFlushed(t *testing.T) {
	tests := []struct {
		name string
		sync bool
		// start launches the flusher; timeout is SyncFlushTimeout; beyond waits for an offset
		// past the end of the log; closeFirst closes the log before registering, closeAfter
		// after.
		start                  bool
		timeout                time.Duration
		beyond                 bool
		closeFirst, closeAfter bool
		wantErr                error
		wantInline             bool // called before OnFlushed returned
		wantFlushed            bool // FlushedOffset covers the record when the callback runs
	}{
		{name: "sync flush", sync: true, start: true, timeout: time.Minute, wantFlushed: true},
		{name: "async calls back at once", sync: false, start: true, timeout: time.Minute, wantInline: true},
		{name: "sync without a flusher times out", sync: true, timeout: time.Millisecond, wantErr: ErrFlushTimeout},
		{name: "sync on a closed log", sync: true, start: true, timeout: time.Minute, beyond: true, closeFirst: true, wantErr: ErrClosed, wantInline: true},
		{name: "sync on a closed log, already flushed", sync: true, start: true, timeout: time.Minute, closeFirst: true, wantInline: true, wantFlushed: true},
		{name: "sync, closed while waiting", sync: true, start: true, timeout: time.Hour, beyond: true, closeAfter: true, wantErr: ErrClosed},
		{name: "sync without a flusher, closed while waiting", sync: true, timeout: time.Hour, closeAfter: true, wantFlushed: true},
		{name: "sync without a flusher, closed while waiting beyond the end", sync: true, timeout: time.Hour, beyond: true, closeAfter: true, wantErr: ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.Sync = tt.sync
			opts.SyncFlushTimeout = tt.timeout
			c, _ := newLog(t, opts)
			if tt.start {
				c.Start()
			}
			_, end := appendSized(t, c, 600, 0)
			if tt.beyond {
				end += 100
			}
			if tt.closeFirst {
				c.Close()
			}
			got := onFlushed(c, end)
			if tt.closeAfter {
				c.Close()
			}
			n := <-got
			if !errors.Is(n.err, tt.wantErr) || (tt.wantErr == nil && n.err != nil) {
				t.Fatalf("callback error %v, want %v", n.err, tt.wantErr)
			}
			if tt.wantInline == n.returned {
				t.Fatalf("called back with OnFlushed returned %v, want %v", n.returned, !tt.wantInline)
			}
			if flushed := n.flushed >= end; flushed != tt.wantFlushed {
				t.Fatalf("called back with FlushedOffset %d, end %d: flushed %v, want %v", n.flushed, end, flushed, tt.wantFlushed)
			}
		})
	}
}

// TestOnFlushedGroupCommit: synchronous writers that wait through callbacks share flushes as
// those that wait in WaitFlushed do, and each is called back once its record is flushed.
func TestOnFlushedGroupCommit(t *testing.T) {
	const writers, perWriter = 16, 32
	opts := testOptions()
	opts.Sync = true
	opts.SegmentSize = 1 << 20
	c, _ := newLog(t, opts)
	c.Start()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				r := newRecord(150, w*perWriter+i)
				_, end, err := c.Append(r.Size(), encodeRecord(r))
				if err != nil {
					t.Error(err)
					return
				}
				// Called back inline or later: a flush for another writer may cover this
				// append before OnFlushed is called (then it calls back at once).
				if n := <-onFlushed(c, end); n.err != nil || n.flushed < end {
					t.Errorf("callback for %d: %+v", end, n)
					return
				}
			}
		})
	}
	wg.Wait()
	appends := int64(writers * perWriter)
	flushes := c.flushes.Load()
	t.Logf("%d appends, %d flushes", appends, flushes)
	if flushes >= appends {
		t.Fatalf("%d flushes for %d appends: no group commit", flushes, appends)
	}
	c.flushMu.Lock()
	left := len(c.notices)
	c.flushMu.Unlock()
	if left != 0 {
		t.Fatalf("%d callbacks left after every writer was called back", left)
	}
}

// TestOnFlushedTimeoutPerCallback: each callback times out SyncFlushTimeout after it was
// registered, not when the timer set for an earlier one fires.
func TestOnFlushedTimeoutPerCallback(t *testing.T) {
	const timeout = 50 * time.Millisecond
	opts := testOptions()
	opts.Sync = true
	opts.SyncFlushTimeout = timeout
	c, _ := newLog(t, opts) // no flusher: nothing is flushed
	_, end := appendSized(t, c, 600, 0)
	first := onFlushed(c, end)
	n := <-first
	if !errors.Is(n.err, ErrFlushTimeout) {
		t.Fatalf("first callback: %v, want ErrFlushTimeout", n.err)
	}
	// The third is registered half a timeout after the second, while the timer is set for the
	// second: it must not expire with it.
	second := onFlushed(c, end)
	<-time.After(timeout / 2)
	registered := time.Now()
	third := onFlushed(c, end)
	for _, ch := range []<-chan notice{second, third} {
		if n := <-ch; !errors.Is(n.err, ErrFlushTimeout) {
			t.Fatalf("callback: %v, want ErrFlushTimeout", n.err)
		}
	}
	if waited := time.Since(registered); waited < timeout {
		t.Fatalf("the third callback timed out after %v, before SyncFlushTimeout (%v)", waited, timeout)
	}
}

// TestOnFlushedFlushError: a failed flush fails the callbacks waiting and those registered
// after it.
func TestOnFlushedFlushError(t *testing.T) {
	opts := testOptions()
	opts.Sync = true
	opts.SyncFlushTimeout = time.Hour
	c, _ := newLog(t, opts)
	_, end := appendSized(t, c, 600, 0)
	waiting := onFlushed(c, end)
	failed := errors.New("injected write-back failure")
	c.flushErr.Store(&failed)
	c.notify() // as the flusher does after its flush failed
	if n := <-waiting; !errors.Is(n.err, failed) {
		t.Fatalf("waiting callback: %v, want the flush error", n.err)
	}
	if n := <-onFlushed(c, end); !errors.Is(n.err, failed) || n.returned {
		t.Fatalf("later callback: %+v, want the flush error at once", n)
	}
}
