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
	if err := c.flushFailure(); err != nil {
		fn(err)
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
	if c.countWaiter() {
		c.wakeFlusher()
	}
}

// countWaiter counts a writer that waits for a flush, so that the flusher gathers for it and
// does not go idle while it is unserved, and reports whether to wake the flusher: for the first
// writer of a round (the flusher may be idle) or the one it gathers for. A writer that waits
// again after a flush that started before it was counted needs no wake-up: the flusher's next
// flush covers it.
func (c *CommitLog) countWaiter() (wake bool) {
	n := c.requests.Add(1)
	return n == c.served.Load()+1 || n >= c.target.Load()
}

// wakeFlusher wakes the flusher, if no wake-up is pending already.
func (c *CommitLog) wakeFlusher() {
	select {
	case c.flushReq <- struct{}{}:
	default:
	}
}

// flushFailure is the sticky error of a failed flush, nil if none failed.
func (c *CommitLog) flushFailure() error {
	if p := c.flushErr.Load(); p != nil {
		return fmt.Errorf("commitlog: flush failed: %w", *p)
	}
	return nil
}

// timeoutErr is what a writer waiting for end learns when SyncFlushTimeout passes first.
func (c *CommitLog) timeoutErr(end int64) error {
	return fmt.Errorf("%w: offset %d not flushed after %v", ErrFlushTimeout, end, c.opts.SyncFlushTimeout)
}

// notify calls the callbacks that the flushes so far have served, or all of them with the
// sticky error of a failed flush. The flusher calls it after each flush, outside its locks.
func (c *CommitLog) notify() {
	err := c.flushFailure()
	flushed := c.flushedOff.Load()
	c.flushMu.Lock()
	if len(c.notices) == 0 {
		c.flushMu.Unlock()
		return
	}
	// The list is swapped for the spare one; the served callbacks are packed at the front of the
	// old one (which only this call now holds), the others go back on the list.
	taken := c.notices
	c.notices, c.spareNotices = c.spareNotices[:0], nil
	ready := taken[:0]
	for _, n := range taken {
		if err == nil && n.end > flushed { // registered after this flush had started
			c.notices = append(c.notices, n)
		} else {
			ready = append(ready, n)
		}
	}
	c.flushMu.Unlock()
	for _, n := range ready {
		n.fn(err)
	}
	clear(taken)
	c.flushMu.Lock()
	c.spareNotices = taken[:0]
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
		n.fn(c.timeoutErr(n.end))
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
	if err := c.flushFailure(); err != nil {
		return err
	}
	return ErrClosed
}
