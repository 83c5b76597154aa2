package ha

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// slaveConn is the master's side of one slave connection: run does the handshake and the
// transfer, readAcks reads the acks.
type slaveConn struct {
	m      *Master
	conn   net.Conn
	addr   string
	since  time.Time
	ctx    context.Context // cancelled when the connection must close; closes conn
	cancel context.CancelFunc

	brokerID   atomic.Int64
	ready      atomic.Bool
	acked      atomic.Int64 // the slave's last reported log end
	sent       atomic.Int64 // end of the bytes handed to the socket
	lastAck    atomic.Int64 // unix nanoseconds
	ackTimeout time.Duration

	// Transfer goroutine only.
	hdr       [frameHeaderSize]byte
	bufs      [2][]byte
	nb        net.Buffers // aliases bufs: a field, so that writev allocates nothing
	lastWrite time.Time
}

func newSlaveConn(m *Master, c net.Conn) *slaveConn {
	sc := &slaveConn{m: m, conn: c, addr: c.RemoteAddr().String(), since: time.Now()}
	sc.ctx, sc.cancel = context.WithCancel(m.ctx)
	context.AfterFunc(sc.ctx, func() { c.Close() })
	return sc
}

// inSync reports whether the slave is handshaken and acked within MaxGapNotInSync of end.
func (sc *slaveConn) inSync(end int64) bool {
	return sc.ready.Load() && end-sc.acked.Load() < sc.m.opts.MaxGapNotInSync
}

func (sc *slaveConn) info(end int64) SlaveInfo {
	in := SlaveInfo{
		Addr: sc.addr, BrokerID: sc.brokerID.Load(), Ready: sc.ready.Load(),
		AckedOffset: sc.acked.Load(), SentOffset: sc.sent.Load(),
		InSync: sc.inSync(end), ConnectedSince: sc.since,
	}
	in.Lag = end - in.AckedOffset
	if ns := sc.lastAck.Load(); ns != 0 {
		in.LastAck = time.Unix(0, ns)
	}
	return in
}

// run serves the connection until it fails or the master closes.
func (sc *slaveConn) run() {
	m := sc.m
	defer m.wg.Done()
	defer func() {
		sc.cancel()
		m.mu.Lock()
		delete(m.slaves, sc)
		m.mu.Unlock()
	}()
	start, err := sc.handshake()
	if err != nil {
		m.log.Warn("ha slave refused", "slave", sc.addr, "err", err)
		return
	}
	m.log.Info("ha slave connected", "slave", sc.addr, "broker_id", sc.brokerID.Load(),
		"offset", start, "slave_offset", sc.acked.Load())
	m.wg.Add(1)
	go sc.readAcks()
	err = sc.transfer(start)
	if sc.ctx.Err() == nil || !errors.Is(err, context.Canceled) {
		m.log.Warn("ha slave dropped", "slave", sc.addr, "acked", sc.acked.Load(), "err", err)
	}
}

// handshake reads the hello, answers it, reads the start request and returns where the transfer
// starts.
func (sc *slaveConn) handshake() (int64, error) {
	m := sc.m
	sc.conn.SetDeadline(time.Now().Add(handshakeTimeout))
	h, err := readHello(sc.conn)
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			sc.refuse(fmt.Errorf("%w: %v", ErrBadHello, err))
		}
		return 0, err
	}
	sc.brokerID.Store(h.BrokerID)
	sc.ackTimeout = silenceTimeout(h.ReportInterval)
	epoch := m.epoch()
	switch {
	case m.ctx.Err() != nil:
		return 0, sc.refuse(ErrClosed)
	case h.LastEpoch > epoch:
		err := sc.refuse(fmt.Errorf("%w: slave epoch %d, master epoch %d", ErrFenced, h.LastEpoch, epoch))
		m.depose(h.LastEpoch) // after the refusal: it closes this connection too
		return 0, err
	case m.fenced.Load():
		return 0, sc.refuse(fmt.Errorf("%w: master deposed by epoch %d", ErrFenced, m.fencedBy.Load()))
	case h.BrokerName != m.opts.BrokerName:
		return 0, sc.refuse(fmt.Errorf("%w: slave of %q, master of %q", ErrWrongBroker, h.BrokerName, m.opts.BrokerName))
	case h.SegmentSize != m.opts.Log.CommitLogSegmentSize():
		return 0, sc.refuse(fmt.Errorf("%w: slave %d, master %d", ErrSegmentSize, h.SegmentSize, m.opts.Log.CommitLogSegmentSize()))
	}
	lg := m.opts.Log
	w := answer{
		Epoch: epoch, MinOffset: lg.CommitLogMinOffset(), MaxOffset: lg.CommitLogMaxOffset(),
		Heartbeat: m.opts.HeartbeatInterval, History: m.opts.Epochs.All(),
	}
	if n := len(w.History); n > 0 && w.History[n-1].Epoch != epoch {
		return 0, fmt.Errorf("ha: epoch history moved during the handshake")
	}
	if _, err := sc.conn.Write(appendWelcome(nil, w)); err != nil {
		return 0, fmt.Errorf("write welcome: %w", err)
	}
	var buf [ackSize]byte
	if _, err := io.ReadFull(sc.conn, buf[:]); err != nil {
		return 0, fmt.Errorf("read start request: %w", err)
	}
	req, err := decodeAck(buf[:])
	if err != nil {
		return 0, err
	}
	if req.Epoch > epoch {
		m.depose(req.Epoch)
		return 0, fmt.Errorf("%w: start request of epoch %d", ErrFenced, req.Epoch)
	}
	end := lg.CommitLogMaxOffset()
	if req.MaxOffset > end {
		return 0, protoErr("start request at %d beyond the log end %d", req.MaxOffset, end)
	}
	start := req.MaxOffset
	if start == 0 || start < lg.CommitLogMinOffset() {
		seg := lg.CommitLogSegmentSize()
		start = end - end%seg
	}
	sc.conn.SetDeadline(time.Time{})
	sc.acked.Store(req.MaxOffset)
	sc.sent.Store(start)
	sc.lastAck.Store(time.Now().UnixNano())
	sc.lastWrite = time.Now()
	sc.ready.Store(true)
	m.advance(req.MaxOffset)
	return start, nil
}

// refuse sends a refusal for err (best effort) and returns err.
func (sc *slaveConn) refuse(err error) error {
	sc.conn.Write(appendRefusal(nil, err))
	return err
}

// transfer streams the log from next until the connection fails: data as it comes, a heartbeat
// after HeartbeatInterval of silence. The heartbeat deadline is one context reused by every wait
// until it expires, so a busy connection allocates nothing per frame.
func (sc *slaveConn) transfer(next int64) error {
	m := sc.m
	lg := m.opts.Log
	hb := m.opts.HeartbeatInterval
	var beat deadline
	defer beat.stop()
	for {
		if err := sc.ctx.Err(); err != nil {
			return err
		}
		data, release, err := lg.ReadCommitLog(next, m.opts.MaxTransfer)
		if err != nil {
			return fmt.Errorf("read commitlog at %d: %w", next, err)
		}
		if len(data) > 0 {
			err := sc.writeFrame(next, data)
			release()
			if err != nil {
				return err
			}
			next += int64(len(data))
			continue
		}
		if release != nil {
			release()
		}
		err = lg.WaitCommitLog(beat.get(sc.ctx, sc.lastWrite.Add(hb)), next)
		switch {
		case err == nil:
		case sc.ctx.Err() != nil:
			return sc.ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			beat.stop()
			if time.Since(sc.lastWrite) >= hb { // else frames went out meanwhile: wait again
				if err := sc.writeFrame(next, nil); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("wait commitlog at %d: %w", next, err)
		}
	}
}

// deadline is a context with a deadline, made on first use and kept until stop.
type deadline struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// get returns the context, deriving it from parent with deadline at if there is none.
func (d *deadline) get(parent context.Context, at time.Time) context.Context {
	if d.ctx == nil {
		d.ctx, d.cancel = context.WithDeadline(parent, at)
	}
	return d.ctx
}

// stop releases the context; the next get makes a new one.
func (d *deadline) stop() {
	if d.cancel != nil {
		d.cancel()
	}
	d.ctx, d.cancel = nil, nil
}

// writeFrame writes one frame of data at off (a heartbeat when data is empty) with one writev.
func (sc *slaveConn) writeFrame(off int64, data []byte) error {
	if len(data) > MaxFrameBody {
		return fmt.Errorf("ha: %d bytes at %d exceed a frame", len(data), off)
	}
	h := appendFrameHeader(sc.hdr[:0], frameHeader{
		BodyLen: uint32(len(data)), Epoch: sc.m.epoch(), Offset: off, MasterMax: sc.m.opts.Log.CommitLogMaxOffset(),
	})
	// Counted before the write: the slave may ack the bytes before Write returns.
	sc.sent.Store(off + int64(len(data)))
	sc.lastWrite = time.Now()
	sc.conn.SetWriteDeadline(sc.lastWrite.Add(sc.ackTimeout))
	sc.bufs[0], sc.bufs[1] = h, data
	sc.nb = sc.bufs[:]
	if len(data) == 0 {
		sc.nb = sc.nb[:1]
	}
	_, err := sc.nb.WriteTo(sc.conn)
	sc.bufs[0], sc.bufs[1] = nil, nil // keep no reference to the mapping
	if err != nil {
		return fmt.Errorf("write frame at %d: %w", off, err)
	}
	return nil
}

// readAcks reads the slave's acks until the connection fails, then closes it.
func (sc *slaveConn) readAcks() {
	m := sc.m
	defer m.wg.Done()
	defer sc.cancel()
	var buf [ackSize]byte
	for {
		sc.conn.SetReadDeadline(time.Now().Add(sc.ackTimeout))
		if _, err := io.ReadFull(sc.conn, buf[:]); err != nil {
			if sc.ctx.Err() == nil {
				m.log.Info("ha slave read failed", "slave", sc.addr, "err", err)
			}
			return
		}
		a, err := decodeAck(buf[:])
		if err == nil && a.MaxOffset > sc.sent.Load() {
			err = protoErr("ack of %d beyond the %d bytes sent", a.MaxOffset, sc.sent.Load())
		}
		if err == nil && a.MaxOffset < sc.acked.Load() {
			err = protoErr("ack of %d below the previous %d", a.MaxOffset, sc.acked.Load())
		}
		if err != nil {
			m.log.Warn("ha bad ack", "slave", sc.addr, "err", err)
			return
		}
		if a.Epoch > m.epoch() {
			m.depose(a.Epoch)
			return
		}
		sc.acked.Store(a.MaxOffset)
		sc.lastAck.Store(time.Now().UnixNano())
		m.advance(a.MaxOffset)
	}
}
