package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// orderLog records, per queue, the sequence numbers handlers saw, in the order they saw them
// (across consumers), and fails on concurrent handler calls for one queue.
type orderLog struct {
	t      testing.TB
	mu     sync.Mutex
	seqs   map[int32][]int
	active map[int32]*atomic.Int32
	col    *consCollector
}

func newOrderLog(t testing.TB) *orderLog {
	return &orderLog{t: t, seqs: map[int32][]int{}, active: map[int32]*atomic.Int32{}, col: newConsCollector()}
}

func (l *orderLog) handler(_ context.Context, msgs []*MessageExt) (ConsumeResult, error) {
	q := msgs[0].QueueID
	l.mu.Lock()
	a := l.active[q]
	if a == nil {
		a = new(atomic.Int32)
		l.active[q] = a
	}
	l.mu.Unlock()
	if a.Add(1) != 1 {
		l.t.Errorf("two handlers at once for queue %d", q)
	}
	defer a.Add(-1)
	l.mu.Lock()
	for _, m := range msgs {
		var qq, seq int
		fmt.Sscanf(string(m.Body), "q%d-%d", &qq, &seq)
		l.seqs[q] = append(l.seqs[q], seq)
	}
	l.mu.Unlock()
	l.col.add(msgs...)
	return ConsumeSuccess, nil
}

// check fails unless every queue's sequence is 0..n-1 in order, allowing a redelivered
// suffix to restart (a handover re-consumes what was not committed) but never a gap.
func (l *orderLog) check(t testing.TB, queues, n int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for q := range queues {
		seqs := l.seqs[int32(q)]
		next := 0
		for i, s := range seqs {
			if s > next {
				t.Fatalf("queue %d: %d after %v (gap)", q, s, seqs[max(0, i-3):i])
			}
			next = s + 1
		}
		if next != n {
			t.Errorf("queue %d ends at %d, want %d", q, next-1, n-1)
		}
	}
}

func sendOrdered(t testing.TB, s *consSender, topic string, queues, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		for q := range queues {
			s.send(t, int32(q), &Message{Topic: topic, Body: fmt.Appendf(nil, "q%d-%d", q, i)})
		}
	}
}

// TestPushOrderly: each queue is consumed in order, by one handler call at a time, while the
// consumer holds the queue's broker lock.
func TestPushOrderly(t *testing.T) {
	t.Parallel()
	topic := consName("Orderly")
	c := consCluster(t, topic, 4)
	s := newConsSender(t, c)
	const perQueue = 60
	sendOrdered(t, s, topic, 4, 0, perQueue/2)
	l := newOrderLog(t)
	pc := consStart(t, c, consName("cg"), topic, Tag("*"), l.handler, WithOrderly(true), WithConsumeGoroutines(2), WithConsumeBatchSize(3))
	sendOrdered(t, s, topic, 4, perQueue/2, perQueue)
	l.col.waitDistinct(t, 4*perQueue, 30*time.Second)
	l.check(t, 4, perQueue)
	if d := l.col.duplicates(); d != 0 {
		t.Errorf("%d duplicates in a clean run", d)
	}
	pc.mu.Lock()
	for mq, r := range pc.queues {
		if mq.Topic == topic && !r.pq.lockValid(time.Now()) {
			t.Errorf("%v consumed without a valid lock", mq)
		}
	}
	pc.mu.Unlock()
}

// TestPushOrderlySuspend: SuspendCurrentQueue redelivers the same message after the suspend
// duration, before any later one, with ReconsumeTimes incremented; past the reconsume limit
// the message goes to the dead-letter topic and the queue moves on.
func TestPushOrderlySuspend(t *testing.T) {
	t.Parallel()
	topic := consName("Suspend")
	c := consCluster(t, topic, 1)
	s := newConsSender(t, c)
	for i := range 10 {
		s.send(t, 0, &Message{Topic: topic, Body: fmt.Appendf(nil, "%d", i)})
	}
	group := consName("cg")
	var mu sync.Mutex
	var seen []string
	var reconsume []int32
	col := newConsCollector()
	consStart(t, c, group, topic, Tag("*"), func(ctx context.Context, msgs []*MessageExt) (ConsumeResult, error) {
		col.add(msgs...)
		mu.Lock()
		defer mu.Unlock()
		b := string(msgs[0].Body)
		seen = append(seen, b)
		switch b {
		case "3":
			reconsume = append(reconsume, msgs[0].ReconsumeTimes)
			if msgs[0].ReconsumeTimes == 0 {
				return SuspendCurrentQueue, nil
			}
		case "6":
			return SuspendCurrentQueue, fmt.Errorf("never")
		}
		return ConsumeSuccess, nil
	}, WithOrderly(true), WithSuspendDuration(50*time.Millisecond), WithMaxReconsumeTimes(2))
	col.waitDistinct(t, 10, 30*time.Second)
	dlq := dlqMessages(t, c, group, topic, 1)
	mu.Lock()
	defer mu.Unlock()
	want := []string{"0", "1", "2", "3", "3", "4", "5", "6", "6", "6", "7", "8", "9"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("delivery order %v, want %v", seen, want)
	}
	if fmt.Sprint(reconsume) != "[0 1]" {
		t.Errorf("message 3 delivered with ReconsumeTimes %v, want [0 1]", reconsume)
	}
	if string(dlq[0].Body) != "6" {
		t.Errorf("DLQ holds %q, want 6", dlq[0].Body)
	}
}
