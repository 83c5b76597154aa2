package client

import (
	"context"
	"slices"
	"testing"
	"time"
)

func pqMsgs(offsets ...int64) []*MessageExt {
	out := make([]*MessageExt, len(offsets))
	for i, off := range offsets {
		out[i] = &MessageExt{QueueOffset: off, Message: Message{Body: make([]byte, 10)}}
	}
	return out
}

// TestProcessQueueCommitRule: the committed offset is the smallest offset still held, or the
// pull position when nothing is; acknowledgements may come in any order.
func TestProcessQueueCommitRule(t *testing.T) {
	pq := newProcessQueue(MessageQueue{Topic: "T"}, 100, 1<<20)
	var told []int64
	pq.onCommit = func(off int64) { told = append(told, off) }
	gen, _ := pq.generation()
	pq.setPosition(gen, 10)
	if c := pq.committed(); c != 10 {
		t.Fatalf("committed %d, want the position 10", c)
	}
	msgs := pqMsgs(10, 11, 12, 13)
	gen, kept := pq.add(gen, msgs, 16) // 14 and 15 filtered out
	if len(kept) != 4 {
		t.Fatalf("kept %d", len(kept))
	}
	steps := []struct {
		ack  []*MessageExt
		want int64
	}{
		{[]*MessageExt{msgs[2]}, 10},
		{[]*MessageExt{msgs[1]}, 10},
		{[]*MessageExt{msgs[0]}, 13},
		{[]*MessageExt{msgs[0]}, 13}, // twice: no effect
		{[]*MessageExt{msgs[3]}, 16},
	}
	for i, s := range steps {
		got, ok := pq.remove(gen, s.ack)
		if !ok || got != s.want {
			t.Fatalf("step %d: committed %d ok %v, want %d", i, got, ok, s.want)
		}
	}
	if n, b := pq.pending(); n != 0 || b != 0 {
		t.Fatalf("pending %d msgs %d bytes after all acks", n, b)
	}
	if want := []int64{10, 13, 16}; !slices.Equal(told, want) {
		t.Fatalf("onCommit told %v, want %v", told, want)
	}
	// An offset already held (a repeated pull) is not added twice.
	_, kept = pq.add(gen, pqMsgs(16, 17), 18)
	_, again := pq.add(gen, pqMsgs(17, 18), 19)
	if len(kept) != 2 || len(again) != 1 || again[0].QueueOffset != 18 {
		t.Fatalf("re-added offsets: kept %d, again %v", len(kept), queueOffsets(again))
	}
}

func queueOffsets(msgs []*MessageExt) []int64 {
	var out []int64
	for _, m := range msgs {
		out = append(out, m.QueueOffset)
	}
	return out
}

// TestProcessQueueGenerations: after reset or drop, acknowledgements of the old generation
// change nothing.
func TestProcessQueueGenerations(t *testing.T) {
	pq := newProcessQueue(MessageQueue{Topic: "T"}, 100, 1<<20)
	gen, _ := pq.generation()
	pq.setPosition(gen, 0)
	old, msgs := pq.add(gen, pqMsgs(0, 1, 2), 3)
	gen = pq.reset(100)
	if _, ok := pq.remove(old, msgs); ok {
		t.Fatal("stale generation acknowledged")
	}
	if c := pq.committed(); c != 100 {
		t.Fatalf("committed %d after reset to 100", c)
	}
	_, msgs = pq.add(gen, pqMsgs(100), 101)
	pq.drop()
	if _, ok := pq.remove(gen, msgs); ok || !pq.isDropped(gen) {
		t.Fatal("dropped queue acknowledged")
	}
}

// TestProcessQueueFlowControl: waitSpace blocks while the queue is at its limits and returns
// once an acknowledgement brings it below.
func TestProcessQueueFlowControl(t *testing.T) {
	for _, tc := range []struct {
		name     string
		msgs     int
		bytes    int64
		overWith int
	}{
		{"messages", 3, 1 << 20, 3},
		{"bytes", 100, 25, 3}, // 10-byte bodies: 30 bytes >= 25
	} {
		t.Run(tc.name, func(t *testing.T) {
			pq := newProcessQueue(MessageQueue{Topic: "T"}, tc.msgs, tc.bytes)
			gen, _ := pq.generation()
			pq.setPosition(gen, 0)
			var offs []int64
			for i := range tc.overWith {
				offs = append(offs, int64(i))
			}
			gen, msgs := pq.add(gen, pqMsgs(offs...), int64(tc.overWith))
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if err := pq.waitSpace(ctx); err == nil {
				t.Fatal("waitSpace returned while over the limit")
			}
			done := make(chan error, 1)
			go func() { done <- pq.waitSpace(context.Background()) }()
			pq.remove(gen, msgs[:1])
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("waitSpace did not return after an acknowledgement")
			}
		})
	}
}

// TestProcessQueueOrderlyTake: take hands messages in order; putBack returns them for the
// next take, ahead of later ones.
func TestProcessQueueOrderlyTake(t *testing.T) {
	pq := newProcessQueue(MessageQueue{Topic: "T"}, 100, 1<<20)
	gen, _ := pq.generation()
	pq.setPosition(gen, 0)
	pq.add(gen, pqMsgs(0, 1, 2, 3, 4), 5)
	g, first := pq.take(2)
	if got := queueOffsets(first); !slices.Equal(got, []int64{0, 1}) {
		t.Fatalf("first take %v", got)
	}
	pq.putBack(g)
	_, again := pq.take(3)
	if got := queueOffsets(again); !slices.Equal(got, []int64{0, 1, 2}) {
		t.Fatalf("take after putBack %v", got)
	}
	if c, _ := pq.remove(g, again); c != 3 {
		t.Fatalf("committed %d, want 3", c)
	}
	_, rest := pq.take(10)
	if got := queueOffsets(rest); !slices.Equal(got, []int64{3, 4}) {
		t.Fatalf("last take %v", got)
	}
}

// TestProcessQueueLockTTL: a lock is trusted for lockTTL after it was granted.
func TestProcessQueueLockTTL(t *testing.T) {
	pq := newProcessQueue(MessageQueue{Topic: "T"}, 1, 1)
	now := time.Now()
	if pq.lockValid(now) {
		t.Fatal("valid before any lock")
	}
	pq.setLocked(true, now)
	if !pq.lockValid(now.Add(lockTTL-time.Second)) || pq.lockValid(now.Add(lockTTL)) {
		t.Fatal("lock TTL not applied")
	}
	pq.setLocked(false, now)
	if pq.lockValid(now) {
		t.Fatal("valid after losing the lock")
	}
}
