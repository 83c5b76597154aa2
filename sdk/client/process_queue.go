package client

import (
	"context"
	"slices"
	"sync"
	"time"
)

// processQueue is the consumer-side state of one assigned queue (RocketMQ's ProcessQueue): the
// messages pulled and not yet acknowledged, in queue-offset order, and the pull position.
//
// # Offset rule
//
// The offset committed for the queue is the smallest offset still held (pulled, not yet
// acknowledged, whether waiting or inside a handler), or the pull position when nothing is
// held. Everything before it was acknowledged or filtered out, so a crash redelivers but never
// skips. Concurrent handlers acknowledge out of order; the committed offset only moves once
// the oldest held message is acknowledged.
//
// # Generations
//
// reset (the broker moved the offset) and drop (the queue went to another consumer) start a
// new generation; acknowledgements of an older generation are ignored, so a handler finishing
// late cannot move the offset of a queue that moved on.
//
// All methods are safe for concurrent use.
type processQueue struct {
	mq        MessageQueue
	maxMsgs   int
	maxBytes  int64
	space     chan struct{} // cap 1: the queue fell below its pending limits
	ready     chan struct{} // cap 1 (orderly): messages arrived, or the lock was granted
	lockedSet chan struct{} // cap 1 (orderly): the lock was granted
	// onCommit, if set, is told the offset to commit whenever it changes, under mu, so that
	// the offset store sees the changes in order. It must not call the processQueue.
	onCommit func(offset int64)

	mu       sync.Mutex // guards the fields below
	notified int64      // the offset onCommit was last told
	gen      uint64
	dropped  bool
	entries  []pqEntry // by queue offset; msg nil once acknowledged
	head     int       // entries before head are all acknowledged
	taken    int       // orderly: entries[head:taken] are in the handler
	count    int       // held messages
	bytes    int64     // held body bytes
	next     int64     // pull position: the next offset to pull
	// orderly, clustering: the broker lock
	locked   bool
	lockedAt time.Time
}

type pqEntry struct {
	off int64
	msg *MessageExt
}

func newProcessQueue(mq MessageQueue, maxMsgs int, maxBytes int64) *processQueue {
	return &processQueue{
		mq: mq, maxMsgs: maxMsgs, maxBytes: maxBytes, next: -1, notified: -1,
		space: make(chan struct{}, 1), ready: make(chan struct{}, 1), lockedSet: make(chan struct{}, 1),
	}
}

// generation returns the current generation, and whether the queue was dropped.
func (pq *processQueue) generation() (uint64, bool) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.gen, pq.dropped
}

// position returns the pull position (-1 before the initial offset is known).
func (pq *processQueue) position() int64 {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.next
}

// add appends msgs (queue-offset order, from a pull at the current position) and moves the
// pull position to next. Messages at or before an offset already held are skipped. It returns
// the generation they belong to and the messages taken.
func (pq *processQueue) add(gen uint64, msgs []*MessageExt, next int64) (uint64, []*MessageExt) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	if pq.dropped || gen != pq.gen {
		return pq.gen, nil
	}
	last := int64(-1)
	if n := len(pq.entries); n > 0 {
		last = pq.entries[n-1].off
	}
	kept := msgs[:0:0]
	for _, m := range msgs {
		if m.QueueOffset <= last {
			continue
		}
		last = m.QueueOffset
		pq.entries = append(pq.entries, pqEntry{off: m.QueueOffset, msg: m})
		pq.count++
		pq.bytes += int64(len(m.Body))
		kept = append(kept, m)
	}
	pq.next = next
	pq.notifyLocked()
	if len(kept) > 0 {
		signal(pq.ready)
	}
	return pq.gen, kept
}

// setPosition moves the pull position (a pull that found nothing, or the initial offset).
func (pq *processQueue) setPosition(gen uint64, next int64) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	if gen == pq.gen && !pq.dropped {
		pq.next = next
		pq.notifyLocked()
	}
}

// remove acknowledges msgs of generation gen and returns the offset to commit; ok is false
// when gen is stale or the queue was dropped.
func (pq *processQueue) remove(gen uint64, msgs []*MessageExt) (commit int64, ok bool) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	if pq.dropped || gen != pq.gen {
		return 0, false
	}
	for _, m := range msgs {
		pq.removeLocked(m.QueueOffset)
	}
	pq.advanceLocked()
	pq.notifyLocked()
	return pq.committedLocked(), true
}

// notifyLocked tells onCommit the offset to commit if it changed.
func (pq *processQueue) notifyLocked() {
	if off := pq.committedLocked(); off >= 0 && off != pq.notified && pq.onCommit != nil {
		pq.notified = off
		pq.onCommit(off)
	}
}

func (pq *processQueue) removeLocked(off int64) {
	live := pq.entries[pq.head:]
	i, found := slices.BinarySearchFunc(live, off, func(e pqEntry, off int64) int {
		switch {
		case e.off < off:
			return -1
		case e.off > off:
			return 1
		}
		return 0
	})
	if !found || live[i].msg == nil {
		return
	}
	pq.count--
	pq.bytes -= int64(len(live[i].msg.Body))
	live[i].msg = nil
}

// advanceLocked moves head past acknowledged entries, compacts, and signals space.
func (pq *processQueue) advanceLocked() {
	for pq.head < len(pq.entries) && pq.entries[pq.head].msg == nil {
		pq.head++
	}
	pq.taken = max(pq.taken, pq.head)
	if pq.head == len(pq.entries) {
		pq.entries, pq.head, pq.taken = pq.entries[:0], 0, 0
	} else if pq.head >= 256 && pq.head*2 >= len(pq.entries) {
		n := copy(pq.entries, pq.entries[pq.head:])
		clear(pq.entries[n:])
		pq.entries = pq.entries[:n]
		pq.taken -= pq.head
		pq.head = 0
	}
	if !pq.overLimitLocked() {
		signal(pq.space)
	}
}

// committed returns the offset to commit (see the type's doc), or -1 before the initial
// offset is known.
func (pq *processQueue) committed() int64 {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.committedLocked()
}

func (pq *processQueue) committedLocked() int64 {
	for _, e := range pq.entries[pq.head:] {
		if e.msg != nil {
			return e.off
		}
	}
	return pq.next
}

// pending returns the held messages and bytes.
func (pq *processQueue) pending() (int, int64) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.count, pq.bytes
}

func (pq *processQueue) overLimitLocked() bool {
	return pq.count >= pq.maxMsgs || pq.bytes >= pq.maxBytes
}

// waitSpace waits until the queue is below its pending limits (flow control), or ctx ends.
func (pq *processQueue) waitSpace(ctx context.Context) error {
	for {
		pq.mu.Lock()
		over := pq.overLimitLocked() && !pq.dropped
		pq.mu.Unlock()
		if !over {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-pq.space:
		}
	}
}

// reset forgets every held message and restarts at next (PULL_OFFSET_MOVED).
func (pq *processQueue) reset(next int64) uint64 {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	pq.gen++
	clear(pq.entries)
	pq.entries, pq.head, pq.taken, pq.count, pq.bytes, pq.next = pq.entries[:0], 0, 0, 0, 0, next
	pq.notifyLocked()
	signal(pq.space)
	return pq.gen
}

// drop marks the queue dropped: later acknowledgements are ignored.
func (pq *processQueue) drop() {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	pq.dropped = true
	pq.gen++
	signal(pq.space)
}

// isDropped reports whether the queue was dropped or gen is stale.
func (pq *processQueue) isDropped(gen uint64) bool {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.dropped || gen != pq.gen
}

// take hands the next up to n held messages, in order, to an orderly handler; they share the
// first one's topic (a retry queue mixes topics, which have their own handlers).
func (pq *processQueue) take(n int) (uint64, []*MessageExt) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	var out []*MessageExt
	for pq.taken < len(pq.entries) && len(out) < n {
		m := pq.entries[pq.taken].msg
		if m != nil && len(out) > 0 && m.Topic != out[0].Topic {
			break
		}
		if m != nil {
			out = append(out, m)
		}
		pq.taken++
	}
	return pq.gen, out
}

// putBack returns the taken messages, to be taken again (SuspendCurrentQueue).
func (pq *processQueue) putBack(gen uint64) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	if gen == pq.gen {
		pq.taken = pq.head
	}
}

// lockValid reports whether the queue's broker lock is held and younger than lockTTL.
func (pq *processQueue) lockValid(now time.Time) bool {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.locked && now.Sub(pq.lockedAt) < lockTTL
}

// setLocked records the outcome of a lock request made at at.
func (pq *processQueue) setLocked(locked bool, at time.Time) {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	pq.locked = locked
	if locked {
		pq.lockedAt = at
		signal(pq.lockedSet)
		signal(pq.ready)
	}
}

// lockTTL is how long a consumer trusts its broker lock without renewing it (RocketMQ: 30 s;
// brokers expire locks after 60 s).
const lockTTL = 30 * time.Second
