package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker/brokertest"
)

func newPullConsumer(t testing.TB, c *brokertest.Cluster, group string, opts ...PullConsumerOption) *PullConsumer {
	t.Helper()
	opts = append([]PullConsumerOption{WithNameServers(c.NamesrvAddr), WithLogger(brokertest.Logger()), WithConsumeFrom(ConsumeFromFirstOffset)}, opts...)
	pl, err := NewPullConsumer(group, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { consClose(t, pl) })
	return pl
}

// pollN polls until n messages arrived.
func pollN(t testing.TB, pl *PullConsumer, n int) []*MessageExt {
	t.Helper()
	ctx := consCtx(t, 30*time.Second)
	var out []*MessageExt
	for len(out) < n {
		msgs, err := pl.Poll(ctx)
		if err != nil {
			t.Fatalf("poll: %v after %d of %d messages", err, len(out), n)
		}
		out = append(out, msgs...)
	}
	if len(out) != n {
		t.Fatalf("polled %d messages, want %d: offsets %v", len(out), n, queueOffsets(out))
	}
	return out
}

// TestPullConsumer: assign, poll (in queue order), commit, committed, and the seeks.
func TestPullConsumer(t *testing.T) {
	t.Parallel()
	topic := consName("Pull")
	c := consCluster(t, topic, 2)
	s := newConsSender(t, c)
	for i := range 40 {
		s.send(t, int32(i%2), &Message{Topic: topic, Body: fmt.Appendf(nil, "%d", i), Tag: []string{"A", "B"}[i/20]})
	}
	group := consName("pg")
	pl := newPullConsumer(t, c, group, WithPollLimit(7))
	ctx := consCtx(t, 60*time.Second)
	qs, err := pl.Queues(ctx, topic)
	if err != nil || len(qs) != 2 {
		t.Fatalf("queues %v %v", qs, err)
	}
	if _, err := pl.Committed(ctx, qs[0]); !errors.Is(err, ErrNoOffset) {
		t.Fatalf("committed before any commit: %v", err)
	}
	if err := pl.Seek(qs[0], 3); !errors.Is(err, ErrNotAssigned) {
		t.Fatalf("seek of an unassigned queue: %v", err)
	}
	if err := pl.Assign(qs...); err != nil {
		t.Fatal(err)
	}
	msgs := pollN(t, pl, 40)
	last := map[int32]int64{0: -1, 1: -1}
	for _, m := range msgs {
		if m.QueueOffset != last[m.QueueID]+1 {
			t.Fatalf("queue %d: offset %d after %d", m.QueueID, m.QueueOffset, last[m.QueueID])
		}
		last[m.QueueID] = m.QueueOffset
	}
	for _, q := range qs {
		if p, ok := pl.Position(q); !ok || p != 20 {
			t.Errorf("position of %v: %d %v", q, p, ok)
		}
	}
	if err := pl.CommitAll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if off, err := pl.Committed(ctx, q); err != nil || off != 20 {
			t.Errorf("committed %v: %d %v", q, off, err)
		}
	}

	if err := pl.Seek(qs[0], 15); err != nil {
		t.Fatal(err)
	}
	if got := pollN(t, pl, 5); got[0].QueueID != 0 || got[0].QueueOffset != 15 || got[4].QueueOffset != 19 {
		t.Errorf("after seek to 15: first %d@%d", got[0].QueueID, got[0].QueueOffset)
	}
	if err := pl.SeekToBeginning(ctx, qs[1]); err != nil {
		t.Fatal(err)
	}
	if got := pollN(t, pl, 20); got[0].QueueOffset != 0 || got[0].QueueID != 1 {
		t.Errorf("after seek to beginning: first %d@%d", got[0].QueueID, got[0].QueueOffset)
	}
	if err := pl.SeekToTime(ctx, qs[1], time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	pollN(t, pl, 20)
	if err := pl.SeekToEnd(ctx, qs[0]); err != nil {
		t.Fatal(err)
	}
	s.send(t, 0, &Message{Topic: topic, Body: []byte("new")})
	if got := pollN(t, pl, 1); string(got[0].Body) != "new" {
		t.Errorf("after seek to end: %q", got[0].Body)
	}

	// A selector applies from the next pull.
	if err := pl.Subscribe(topic, Tag("B")); err != nil {
		t.Fatal(err)
	}
	if err := pl.SeekToBeginning(ctx, qs[1]); err != nil {
		t.Fatal(err)
	}
	got := pollN(t, pl, 10)
	for _, m := range got {
		if m.Tag != "B" {
			t.Errorf("tag %q through selector B", m.Tag)
		}
	}
	if err := pl.Commit(ctx, qs[1], 7); err != nil {
		t.Fatal(err)
	}
	if off, err := pl.Committed(ctx, qs[1]); err != nil || off != 7 {
		t.Errorf("committed after Commit(7): %d %v", off, err)
	}
}

// TestPullConsumerResumeAndClose: a new pull consumer starts at the committed offsets; Poll
// honours its ctx; Close ends a blocked Poll and leaves no goroutine.
func TestPullConsumerResumeAndClose(t *testing.T) {
	t.Parallel()
	topic := consName("PullResume")
	c := consCluster(t, topic, 1)
	s := newConsSender(t, c)
	s.sendN(t, topic, 1, 10, "m")
	group := consName("pg")
	mq := MessageQueue{Topic: topic, BrokerName: c.Config.BrokerName, QueueID: 0}
	first := newPullConsumer(t, c, group)
	if _, err := first.Queues(consCtx(t, 10*time.Second), topic); err != nil {
		t.Fatal(err)
	}
	if err := first.Commit(consCtx(t, 10*time.Second), mq, 6); err != nil {
		t.Fatal(err)
	}
	consClose(t, first)

	pl := newPullConsumer(t, c, group)
	if off, err := pl.Committed(consCtx(t, 10*time.Second), mq); err != nil || off != 6 {
		t.Fatalf("committed: %d %v", off, err)
	}
	if err := pl.Assign(mq); err != nil {
		t.Fatal(err)
	}
	if got := pollN(t, pl, 4); got[0].QueueOffset != 6 {
		t.Errorf("resumed at %d, want the committed 6", got[0].QueueOffset)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := pl.Poll(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("poll of an idle queue: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := pl.Poll(context.Background())
		done <- err
	}()
	consClose(t, pl)
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("poll during close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a blocked Poll")
	}
	if err := pl.Assign(mq); !errors.Is(err, ErrClosed) {
		t.Errorf("assign after close: %v", err)
	}
}
