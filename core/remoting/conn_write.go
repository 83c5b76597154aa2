package remoting

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maxBatch is the most frames the writer sends with one writev.
const maxBatch = 64

// outFrame is one queued command: its encoded prefix (length, header word, header) and the
// command, whose Body and BodyParts follow the prefix on the wire.
type outFrame struct {
	prefix *[]byte
	cmd    *Command
}

// prefixPool recycles prefix buffers; buffers above maxPooledPrefix are left to the GC.
var prefixPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledPrefix = 64 << 10

func putPrefix(b *[]byte) {
	if cap(*b) <= maxPooledPrefix {
		*b = (*b)[:0]
		prefixPool.Put(b)
	}
}

// releaseCmd frees cmd's slots (if not yet) and calls its Release, once each.
func releaseCmd(cmd *Command) {
	freeSlots(cmd)
	if f := cmd.Release; f != nil {
		cmd.Release = nil
		f()
	}
}

// freeSlots calls cmd's freeSlots, once.
func freeSlots(cmd *Command) {
	if f := cmd.freeSlots; f != nil {
		cmd.freeSlots = nil
		f()
	}
}

// enqueue encodes cmd's prefix and queues it for the writer. The encoding happens here, in the
// caller's goroutine, so that an unencodable command fails its caller. When the queue is full it
// blocks until there is room, ctx ends or the connection closes. On failure cmd is released.
func (c *Conn) enqueue(ctx context.Context, cmd *Command) error {
	return c.push(ctx, time.Time{}, cmd, pushWait)
}

// tryEnqueue is enqueue that fails at once when the queue is full.
func (c *Conn) tryEnqueue(cmd *Command) error {
	return c.push(context.Background(), time.Time{}, cmd, pushTry)
}

// How push behaves when the write queue is full.
type pushMode int

const (
	pushWait  pushMode = iota // wait for room
	pushTry                   // fail at once
	pushSpill                 // return at once and leave the wait to a goroutine of its own
)

// push is enqueue (pushWait), tryEnqueue (pushTry) or a detached answer (pushSpill); a wait also ends
// at deadline (the zero time: never).
func (c *Conn) push(ctx context.Context, deadline time.Time, cmd *Command, mode pushMode) error {
	bp := prefixPool.Get().(*[]byte)
	prefix, err := appendPrefix(*bp, cmd)
	*bp = prefix
	if err != nil {
		putPrefix(bp)
		releaseCmd(cmd)
		return fmt.Errorf("remoting: send code %d to %s: %w", cmd.Code, c.remote, err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		putPrefix(bp)
		releaseCmd(cmd)
		return c.closedErr()
	}
	c.enqueues.Add(1)
	// Several responses handed out since the last push wake as many callers, who are about to
	// send: the first of them queues too, so that the writer sends them together. (Going first
	// on its own, its frame split each burst of synchronous producers that a group commit
	// answered at once: one more read and write on each side per burst.)
	lone := mode == pushWait && len(c.pending) <= 1 && len(c.inflight) <= 1 && c.answered <= 1
	c.answered = 0
	c.mu.Unlock()
	f := outFrame{prefix: bp, cmd: cmd}
	if lone && c.raw != nil && len(prefix)+cmd.BodyLen() <= directMax && c.wmu.TryLock() {
		if c.queued.Load() == 0 { // nothing queued, being written or left by a writeNow: f goes next
			defer c.enqueues.Done()
			return c.writeNow(f)
		}
		c.wmu.Unlock()
	}
	c.queued.Add(1)
	if mode == pushSpill {
		select {
		case c.queue <- f:
			c.enqueues.Done()
		default:
			go func() {
				defer c.enqueues.Done()
				c.wait(ctx, deadline, f)
			}()
		}
		return nil
	}
	defer c.enqueues.Done()
	select {
	case c.queue <- f:
		return nil
	default:
	}
	if mode == pushTry {
		c.queued.Add(-1)
		putPrefix(bp)
		releaseCmd(cmd)
		return fmt.Errorf("remoting: send code %d to %s: write queue full", cmd.Code, c.remote)
	}
	return c.wait(ctx, deadline, f)
}

// wait queues f once there is room, or fails when ctx ends, deadline passes or the connection
// closes; on failure it releases f.
func (c *Conn) wait(ctx context.Context, deadline time.Time, f outFrame) error {
	cmd := f.cmd
	var err error
	var expired <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expired = t.C
	}
	select {
	case c.queue <- f:
		return nil
	case <-c.closing:
		err = c.closedErr()
	case <-ctx.Done():
		err = fmt.Errorf("remoting: send code %d to %s: write queue full: %w", cmd.Code, c.remote, context.Cause(ctx))
	case <-expired:
		err = fmt.Errorf("remoting: send code %d to %s: write queue full: %w", cmd.Code, c.remote, context.DeadlineExceeded)
	}
	c.queued.Add(-1)
	putPrefix(f.prefix)
	releaseCmd(cmd)
	return err
}

// writeLoop writes queued frames until the connection closes or a write fails. It gathers the
// frames already queued (up to maxBatch) into one writev. Once closing, it waits for the
// enqueue calls in progress and releases whatever is left in the queue.
func (c *Conn) writeLoop() {
	defer c.cfg.track.Done()
	defer close(c.writerDone)
	batch := make([]outFrame, 0, maxBatch)
	for {
		select {
		case f := <-c.queue:
			batch = append(batch[:0], f)
			batch = c.gather(batch)
			if len(batch) < maxBatch {
				// Let the goroutines that are about to queue a frame (handlers finishing
				// together, callers woken by one read) do so, and send their frames with
				// this writev: one syscall for many frames, and the peer reads them at once.
				runtime.Gosched()
				batch = c.gather(batch)
			}
			c.wmu.Lock()
			err := c.writeBatch(batch)
			c.wmu.Unlock()
			for i, f := range batch {
				putPrefix(f.prefix)
				releaseCmd(f.cmd)
				batch[i] = outFrame{}
			}
			if err != nil {
				c.log.Debug("remoting: write failed", "err", err)
				c.shutdown(fmt.Errorf("write: %w", err))
				c.drain()
				return
			}
		case <-c.closing:
			c.drain()
			return
		}
	}
}

// gather appends the frames already queued to batch, up to maxBatch.
func (c *Conn) gather(batch []outFrame) []outFrame {
	for len(batch) < maxBatch {
		select {
		case f := <-c.queue:
			batch = append(batch, f)
		default:
			return batch
		}
	}
	return batch
}

// directMax is the largest frame that writeNow writes.
const directMax = 64 << 10

// writeNow writes f, a frame pushed while the connection had nothing else to do, on the pushing
// goroutine, with wmu held (and released here): one writev that never waits for room in the
// socket. The writer goroutine's turn costs a lone request or response two goroutine switches,
// and the thread wake-ups that go with them: about a tenth of one synchronous producer's rate.
// Under load the frames queue as before, and the writer gathers them into one writev.
//
// What the socket did not take becomes the head, which the writer writes before any frame
// queued after it: the caller never blocks on a peer that stopped reading, and its deadline and
// context keep their meaning. A failed write closes the connection.
func (c *Conn) writeNow(f outFrame) error {
	c.direct.Add(1)
	code := f.cmd.Code
	freeSlots(f.cmd)
	b := c.appendFrame(c.bufs[:0], f)
	var n int
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		n, werr = unix.Writev(int(fd), b)
		return true // one attempt: never wait for room here
	})
	if err == nil && werr != nil && !errors.Is(werr, unix.EAGAIN) {
		err = werr
	}
	n = max(n, 0)
	left := false
	if err == nil {
		c.lastIO.Store(time.Now().UnixNano())
		for _, p := range b {
			if n >= len(p) {
				n -= len(p)
				continue
			}
			c.head = append(c.head, p[n:]...)
			n = 0
		}
		if left = len(c.head) > 0; left {
			c.partial.Add(1)
			c.queued.Add(1)
		}
	}
	clear(b)
	c.bufs = b[:0]
	c.wmu.Unlock()
	putPrefix(f.prefix)
	releaseCmd(f.cmd)
	if err != nil {
		c.log.Debug("remoting: write failed", "err", err)
		c.shutdown(fmt.Errorf("write: %w", err))
		return fmt.Errorf("remoting: send code %d to %s: %w", code, c.remote, err)
	}
	if left {
		// Wake the writer with an empty frame. A full queue has woken it already, and it writes
		// the head before the frames it takes.
		c.queued.Add(1)
		select {
		case c.queue <- outFrame{prefix: prefixPool.Get().(*[]byte), cmd: &Command{}}:
		default:
			c.queued.Add(-1)
		}
	}
	return nil
}

// appendFrame appends f's buffers to b: its prefix, then its Body and BodyParts.
func (c *Conn) appendFrame(b net.Buffers, f outFrame) net.Buffers {
	b = append(b, *f.prefix)
	if len(f.cmd.Body) > 0 {
		b = append(b, f.cmd.Body)
	}
	for _, p := range f.cmd.BodyParts {
		if len(p) > 0 {
			b = append(b, p)
		}
	}
	return b
}

// writeBatch writes the head, if any, and the frames with one writev, and takes them off the
// count of what is queued. The caller holds wmu.
func (c *Conn) writeBatch(batch []outFrame) error {
	bufs := &c.bufs
	b := (*bufs)[:0]
	n := int64(len(batch))
	if len(c.head) > 0 {
		b = append(b, c.head)
		n++
	}
	defer c.queued.Add(-n)
	for _, f := range batch {
		freeSlots(f.cmd)
		b = c.appendFrame(b, f)
	}
	*bufs = b
	now := time.Now()
	if c.cfg.idle > 0 && c.writeDeadline.Sub(now) < c.cfg.idle {
		// The deadline stays between IdleTimeout and 1.5 IdleTimeout ahead: moving it is a
		// runtime timer update, too dear for every write.
		c.writeDeadline = now.Add(c.cfg.idle + c.cfg.idle/2)
		if err := c.nc.SetWriteDeadline(c.writeDeadline); err != nil {
			return err
		}
	}
	_, err := b.WriteTo(writeTarget(c.nc)) // writev on the TCP socket, also behind a prefixConn
	clear((*bufs)[:cap(*bufs)])
	if err == nil {
		c.head = c.head[:0]
		c.lastIO.Store(now.UnixNano())
	}
	return err
}

// drain releases the queued frames once no enqueue can add more.
func (c *Conn) drain() {
	c.enqueues.Wait()
	for {
		select {
		case f := <-c.queue:
			putPrefix(f.prefix)
			releaseCmd(f.cmd)
		default:
			return
		}
	}
}
