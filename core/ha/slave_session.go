package ha

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// session is one connection to the master at addr. progressed reports whether it got data.
func (s *Slave) session(ctx context.Context, addr string) (progressed bool, err error) {
	s.mu.Lock()
	s.masterAddr = addr
	s.mu.Unlock()
	d := net.Dialer{Timeout: s.opts.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	context.AfterFunc(sctx, func() { conn.Close() })

	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	w, err := s.handshake(conn)
	if err != nil {
		return false, err
	}
	conn.SetDeadline(time.Time{})
	s.mu.Lock()
	s.connected, s.epoch, s.lastErr = true, w.Epoch, ""
	s.mu.Unlock()
	s.masterMax.Store(w.MaxOffset)
	s.log.Info("ha following master", "master", addr, "epoch", w.Epoch, "offset", s.opts.Log.CommitLogMaxOffset(),
		"master_offset", w.MaxOffset)

	var wg sync.WaitGroup
	ackReq := make(chan struct{}, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel() // a failed ack write ends the session
		s.writeAcks(sctx, conn, ackReq, silenceTimeout(w.Heartbeat))
	}()
	f := follower{s: s, w: w, conn: conn, ackReq: ackReq}
	err = f.readFrames(silenceTimeout(w.Heartbeat))
	cancel()
	wg.Wait()
	return f.applied > 0, err
}

// handshake sends the hello, reads the answer, truncates a divergent tail and sends the start
// request.
func (s *Slave) handshake(conn net.Conn) (answer, error) {
	lg, ep := s.opts.Log, s.opts.Epochs
	myEpoch := ep.Last().Epoch
	h := hello{
		BrokerName: s.opts.BrokerName, BrokerID: s.opts.BrokerID, SegmentSize: lg.CommitLogSegmentSize(),
		MaxOffset: lg.CommitLogMaxOffset(), LastEpoch: myEpoch, ReportInterval: s.opts.ReportInterval,
	}
	if _, err := conn.Write(appendHello(nil, h)); err != nil {
		return answer{}, fmt.Errorf("write hello: %w", err)
	}
	w, err := readAnswer(conn)
	if err != nil {
		return answer{}, err
	}
	if w.Refused {
		return answer{}, refusalError(w.Code, w.Reason)
	}
	if w.Epoch < myEpoch {
		return answer{}, fmt.Errorf("%w: master epoch %d, ours %d", ErrStaleEpoch, w.Epoch, myEpoch)
	}
	end := lg.CommitLogMaxOffset()
	cut := divergence(w.History, w.MaxOffset, ep.All(), end)
	if cut < end {
		s.log.Warn("ha truncating divergent tail", "offset", cut, "max_offset", end, "epoch", myEpoch, "master_epoch", w.Epoch)
		if err := lg.Truncate(cut); err != nil {
			return answer{}, fmt.Errorf("truncate at %d: %w", cut, err)
		}
	}
	if err := ep.TruncateAfter(cut); err != nil {
		return answer{}, err
	}
	end = lg.CommitLogMaxOffset()
	if min := lg.CommitLogMinOffset(); end < w.MinOffset && min < end && end != s.emptiedAt {
		// Our log ends where the master has nothing any more: start over, empty.
		s.log.Warn("ha log behind the master's start: emptying it", "min_offset", min, "max_offset", end,
			"master_min_offset", w.MinOffset)
		if err := lg.Truncate(min); err != nil {
			return answer{}, fmt.Errorf("empty the log at %d: %w", min, err)
		}
		if err := ep.TruncateAfter(min); err != nil {
			return answer{}, err
		}
		end = lg.CommitLogMaxOffset()
		s.emptiedAt = end // an empty log may keep its old end: do not empty it again
	}
	if err := s.beginEpochs(w.History, end+1); err != nil {
		return answer{}, err
	}
	req := appendAck(nil, ack{Epoch: ep.Last().Epoch, MaxOffset: end})
	if _, err := conn.Write(req); err != nil {
		return answer{}, fmt.Errorf("write start request: %w", err)
	}
	return w, nil
}

// beginEpochs copies the master's history entries newer than ours that start below upTo.
func (s *Slave) beginEpochs(history []Epoch, upTo int64) error {
	ep := s.opts.Epochs
	last := ep.Last().Epoch
	for _, e := range history {
		if e.StartOffset >= upTo {
			return nil
		}
		if e.Epoch > last {
			if err := ep.Begin(e.Epoch, e.StartOffset); err != nil {
				return err
			}
			last = e.Epoch
		}
	}
	return nil
}

// writeAcks sends an ack whenever the reader asks and every ReportInterval, until ctx ends or a
// write fails.
func (s *Slave) writeAcks(ctx context.Context, conn net.Conn, req <-chan struct{}, timeout time.Duration) {
	t := time.NewTicker(s.opts.ReportInterval)
	defer t.Stop()
	var buf [ackSize]byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-req:
		case <-t.C:
		}
		b := appendAck(buf[:0], ack{Epoch: s.opts.Epochs.Last().Epoch, MaxOffset: s.opts.Log.CommitLogMaxOffset()})
		conn.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := conn.Write(b); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("ha ack write failed", "err", err)
			}
			return
		}
	}
}

// follower reads and applies the frames of one session.
type follower struct {
	s      *Slave
	w      answer // the welcome
	conn   net.Conn
	ackReq chan<- struct{}

	applied int64 // bytes appended
}

// readFrames applies frames until the connection fails or a frame is refused.
func (f *follower) readFrames(timeout time.Duration) error {
	s := f.s
	br := bufio.NewReaderSize(f.conn, 256<<10)
	var hdr [frameHeaderSize]byte
	var body []byte
	unacked := 0
	for {
		f.conn.SetReadDeadline(time.Now().Add(timeout))
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return fmt.Errorf("read frame: %w", err)
		}
		h, err := decodeFrameHeader(hdr[:], MaxFrameBody)
		if err != nil {
			return err
		}
		switch {
		case h.Epoch < f.w.Epoch:
			return fmt.Errorf("%w: frame of epoch %d, ours %d", ErrStaleEpoch, h.Epoch, f.w.Epoch)
		case h.Epoch > f.w.Epoch:
			return fmt.Errorf("master moved to epoch %d (from %d): reconnecting for its history", h.Epoch, f.w.Epoch)
		}
		body, err = readGrowing(br, body[:0], int(h.BodyLen))
		if err != nil {
			return fmt.Errorf("read frame body at %d: %w", h.Offset, eofTorn(err))
		}
		s.masterMax.Store(h.MasterMax)
		s.lastFrame.Store(time.Now().UnixNano())
		if len(body) > 0 {
			if err := f.apply(h.Offset, body); err != nil {
				return err
			}
			unacked += len(body)
		}
		// Acks coalesce: while the next frame is already here, apply it first.
		if unacked > 0 && (br.Buffered() == 0 || unacked >= ackEvery) {
			unacked = 0
			select {
			case f.ackReq <- struct{}{}:
			default:
			}
		}
	}
}

// apply appends body at off, beginning the master's epochs it reaches.
func (f *follower) apply(off int64, body []byte) error {
	lg := f.s.opts.Log
	end := lg.CommitLogMaxOffset()
	// The first frame may start elsewhere when our log is empty; the Log tells whether it is.
	if off != end && f.applied > 0 {
		return protoErr("frame at %d, our log ends at %d", off, end)
	}
	if err := f.s.beginEpochs(f.w.History, off+int64(len(body))); err != nil {
		return err
	}
	if err := lg.AppendReplicated(off, body); err != nil {
		return fmt.Errorf("append %d bytes at %d: %w", len(body), off, err)
	}
	f.applied += int64(len(body))
	return nil
}
