package reliability

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"strconv"
	"sync"
	"time"

	"github.com/ternmq/tern/sdk/client"
)

// Send states of a message in a ledger.
const (
	stateNone    uint8 = iota // never sent
	stateSending              // the send has not returned yet
	stateAcked                // SEND_OK
	stateFailed               // the send returned an error or another status: not acknowledged
)

// entry is what a ledger knows of one message.
type entry struct {
	state      uint8
	crc        uint32 // CRC-32 of the body as sent
	deliveries uint32
	firstCopy  int64 // queue id << 48 | queue offset of the first delivery, +1 (0: none)
	copies     uint8 // distinct stored copies seen (a copy redelivered counts once), capped
}

// ledger records every message producer goroutines send, by (producer, sequence number) in
// the body, and every delivery of consumers. Its memory is a few dozen bytes a message.
type ledger struct {
	mu      sync.Mutex
	sent    [][]entry // by producer, then sequence number
	missing int       // acknowledged messages not delivered yet
	corrupt int       // deliveries whose body did not match the checksum it was sent with
	unknown int       // deliveries of bodies no producer sent
	nAcked  int
	ackSig  chan struct{} // closed (and cleared) at the next acknowledgement; nil: nobody waits
	drained chan struct{}
}

func newLedger(producers int) *ledger {
	return &ledger{sent: make([][]entry, producers)}
}

// body returns the body of message seq of producer g: "g/seq|" and pseudo-random filler (which
// the client does not compress away).
func body(g, seq, size int) []byte {
	b := fmt.Appendf(nil, "%d/%d|", g, seq)
	x := uint64(g)<<32 | uint64(seq) | 1
	for len(b) < size {
		x ^= x << 13 // xorshift64
		x ^= x >> 7
		x ^= x << 17
		b = append(b, byte(x))
	}
	return b
}

// parseBody returns the producer and sequence number a body names.
func parseBody(b []byte) (g, seq int, ok bool) {
	head, _, ok := bytes.Cut(b, []byte("|"))
	if !ok {
		return 0, 0, false
	}
	gs, ss, ok := bytes.Cut(head, []byte("/"))
	if !ok {
		return 0, 0, false
	}
	g, err1 := strconv.Atoi(string(gs))
	seq, err2 := strconv.Atoi(string(ss))
	return g, seq, err1 == nil && err2 == nil
}

// send sends message seq of producer g and records the outcome.
func (l *ledger) send(ctx context.Context, p *client.Producer, topic string, g, seq, size int) error {
	return l.sendBatch(ctx, p, topic, g, seq, 1, size)
}

// sendBatch sends messages seq to seq+n-1 of producer g, one message alone or n > 1 as one
// batch (SendBatch: one record each, appended together), and records the outcome.
func (l *ledger) sendBatch(ctx context.Context, p *client.Producer, topic string, g, seq, n, size int) error {
	msgs := make([]*client.Message, n)
	l.mu.Lock()
	if len(l.sent[g]) != seq {
		l.mu.Unlock()
		return fmt.Errorf("producer %d sends %d out of order", g, seq)
	}
	for i := range msgs {
		b := body(g, seq+i, size)
		msgs[i] = &client.Message{Topic: topic, Body: b}
		l.sent[g] = append(l.sent[g], entry{state: stateSending, crc: crc32.ChecksumIEEE(b)})
	}
	l.mu.Unlock()
	var res *client.SendResult
	var err error
	if n == 1 {
		res, err = p.Send(ctx, msgs[0])
	} else {
		res, err = p.SendBatch(ctx, msgs)
	}
	if err == nil && res.Status != client.SendOK {
		err = fmt.Errorf("send status %v", res.Status)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range msgs {
		e := &l.sent[g][seq+i]
		if err != nil {
			e.state = stateFailed
			continue
		}
		e.state = stateAcked
		l.nAcked++
		if e.deliveries == 0 {
			l.missing++
		}
	}
	if err != nil {
		return err
	}
	if l.ackSig != nil {
		close(l.ackSig)
		l.ackSig = nil
	}
	return nil
}

// handler records deliveries; it always acknowledges them.
func (l *ledger) handler(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range msgs {
		g, seq, ok := parseBody(m.Body)
		if !ok || g < 0 || g >= len(l.sent) || seq < 0 || seq >= len(l.sent[g]) {
			l.unknown++
			continue
		}
		e := &l.sent[g][seq]
		if crc32.ChecksumIEEE(m.Body) != e.crc {
			l.corrupt++
		}
		copyID := int64(m.QueueID)<<48 | m.QueueOffset + 1
		switch {
		case e.deliveries == 0:
			e.firstCopy, e.copies = copyID, 1
			if e.state == stateAcked {
				l.missing--
			}
		case copyID != e.firstCopy && e.copies < 255:
			e.copies++ // a second stored copy (only told apart from the first one)
		}
		e.deliveries++
	}
	l.checkDrained()
	return client.ConsumeSuccess, nil
}

// drain returns a channel closed once every acknowledged message has been delivered; sends
// must be over.
func (l *ledger) drain() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drained = make(chan struct{})
	l.checkDrained()
	return l.drained
}

func (l *ledger) checkDrained() {
	if l.drained != nil && l.missing == 0 {
		select {
		case <-l.drained:
		default:
			close(l.drained)
		}
	}
}

// acked returns the number of acknowledged messages so far.
func (l *ledger) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nAcked
}

// waitAcked waits until more than n messages are acknowledged, for at most limit.
func (l *ledger) waitAcked(n int, limit time.Duration) bool {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		if l.nAcked > n {
			l.mu.Unlock()
			return true
		}
		if l.ackSig == nil {
			l.ackSig = make(chan struct{})
		}
		ch := l.ackSig
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// tally is a ledger's account.
type tally struct {
	Sent, Acked, Failed      int
	Consumed                 int // acknowledged messages delivered at least once
	Lost                     int // acknowledged messages never delivered
	UnackedStored            int // sends that failed, yet their message was delivered
	Deliveries, Duplicates   int // every delivery; deliveries beyond the first of a message
	Redelivered, TwiceStored int // messages delivered twice from one copy; stored twice
	Corrupt, Unknown         int
}

func (l *ledger) tally() tally {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := tally{Corrupt: l.corrupt, Unknown: l.unknown}
	for _, es := range l.sent {
		for i := range es {
			e := &es[i]
			s.Sent++
			s.Deliveries += int(e.deliveries)
			if e.deliveries > 1 {
				s.Duplicates += int(e.deliveries) - 1
				if e.copies > 1 {
					s.TwiceStored++
				} else {
					s.Redelivered++
				}
			}
			switch e.state {
			case stateAcked:
				s.Acked++
				if e.deliveries > 0 {
					s.Consumed++
				} else {
					s.Lost++
				}
			case stateFailed, stateSending:
				s.Failed++
				if e.deliveries > 0 {
					s.UnackedStored++
				}
			}
		}
	}
	return s
}

func (s tally) String() string {
	return fmt.Sprintf("sent %d, acknowledged %d, not acknowledged %d, consumed %d, lost %d, unacknowledged but stored %d, "+
		"deliveries %d, duplicates %d (%d messages redelivered from one copy, %d stored twice), corrupt %d, unknown %d",
		s.Sent, s.Acked, s.Failed, s.Consumed, s.Lost, s.UnackedStored, s.Deliveries, s.Duplicates, s.Redelivered, s.TwiceStored, s.Corrupt, s.Unknown)
}
