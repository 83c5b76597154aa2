package commitlog

import (
	"fmt"
	"time"
)

// flushNotice is a callback waiting for the log to be on the disk up to end.
type flushNotice struct {
	end      int64
	deadline time.Time
	fn       func(error)
}

// OnFlushed arranges for fn to be called once the log is on the disk up to end: with nil after
// the flush that covers it; with ErrFlushTimeout if SyncFlushTimeout passes first; with the
// error of a failed flush; with ErrClosed if the log closes without it. It is WaitFlushed
// without a goroutine parked for each writer (RocketMQ's asynchronous put): the flusher calls
// the callbacks of a flush one after the other as soon as it ends, so fn must not block. With
// asynchronous flushing, or when end is on the disk already, fn is called before OnFlushed
// returns.
func (c *CommitLog) OnFlushed(end int64, fn func(error)) {
	if !c.opts.Sync || c.flushedOff.Load() >= end {
		fn(nil)
		return
	}
	if p := c.flushErr.Load(); p != nil {
		fn(fmt.Errorf("commitlog: flush failed: %w", *p))
		return
	}
	c.flushMu.Lock()
	if c.noticesDone {
		c.flushMu.Unlock()
		fn(c.closedErr(end))
		return
	}
	c.notices = append(c.notices, flushNotice{end: end, deadline: time.Now().Add(c.opts.SyncFlushTimeout), fn: fn})
	if !c.noticeArmed {
		c.noticeArmed = true
		c.noticeTimer.Reset(c.opts.SyncFlushTimeout)
	}
	c.flushMu.Unlock()
	// Counted as a waiter, so that the flusher gathers for it and does not go idle while it is
	// unserved (see WaitFlushed).
	if n := c.requests.Add(1); n == c.served.Load()+1 || n >= c.target.Load() {
		select {
		case c.flushReq <- struct{}{}:
		default:
		}
	}
}

// notify calls the callbacks that the flushes so far have served, or all of them with the
// sticky error of a failed flush. The flusher calls it after each flush, outside its locks.
func (c *CommitLog) notify() {
	var err error
	if p := c.flushErr.Load(); p != nil {
		err = fmt.Errorf("commitlog: flush failed: %w", *p)
	}
	flushed := c.flushedOff.Load()
	c.flushMu.Lock()
	if len(c.notices) == 0 {
		c.flushMu.Unlock()
		return
	}
	ready, rest := c.notices, c.spareNotices[:0]
	for _, n := range c.notices {
		if n.end > flushed && err == nil {
			rest = append(rest, n)
		}
	}
	if len(rest) > 0 { // rare: a callback registered after its flush had started
		keep := ready[:0:0]
		for _, n := range ready {
			if n.end <= flushed || err != nil {
				keep = append(keep, n)
			}
		}
		ready = keep
	}
	c.notices, c.spareNotices = rest, nil
	c.flushMu.Unlock()
	for _, n := range ready {
		n.fn(err)
	}
	clear(ready)
	c.flushMu.Lock()
	if c.spareNotices == nil {
		c.spareNotices = ready[:0]
	}
	c.flushMu.Unlock()
}

// expireNotices, run by the notice timer, fails the callbacks whose deadline has passed and
// sets the timer for the next deadline.
func (c *CommitLog) expireNotices() {
	now := time.Now()
	var expired []flushNotice
	c.flushMu.Lock()
	rest := c.notices[:0]
	var next time.Time
	for _, n := range c.notices {
		switch {
		case !n.deadline.After(now):
			expired = append(expired, n)
		default:
			if next.IsZero() || n.deadline.Before(next) {
				next = n.deadline
			}
			rest = append(rest, n)
		}
	}
	clear(c.notices[len(rest):])
	c.notices = rest
	if len(rest) > 0 {
		c.noticeTimer.Reset(next.Sub(now))
	} else {
		c.noticeArmed = false
	}
	c.flushMu.Unlock()
	for _, n := range expired {
		n.fn(fmt.Errorf("%w: offset %d not flushed after %v", ErrFlushTimeout, n.end, c.opts.SyncFlushTimeout))
	}
}

// closeNotices, once the flusher has stopped, calls every callback left: with nil where the
// final flush covered it, else with ErrClosed or the flush's error. Later calls of OnFlushed
// are answered at once.
func (c *CommitLog) closeNotices() {
	c.flushMu.Lock()
	left := c.notices
	c.notices, c.noticesDone = nil, true
	c.noticeTimer.Stop()
	c.flushMu.Unlock()
	for _, n := range left {
		n.fn(c.closedErr(n.end))
	}
}

// closedErr is what a writer waiting for end learns when the log has closed.
func (c *CommitLog) closedErr(end int64) error {
	if c.flushedOff.Load() >= end {
		return nil
	}
	if p := c.flushErr.Load(); p != nil {
		return fmt.Errorf("commitlog: flush failed: %w", *p)
	}
	return ErrClosed
}
