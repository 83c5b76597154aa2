package client

import (
	"slices"
	"testing"
	"time"
)

// TestRebalanceSplitAndTakeOver: two consumers of a group split the queues (by each
// strategy); when one closes, the other takes all of them, and every message produced before
// and after is consumed (duplicates are allowed and counted).
func TestRebalanceSplitAndTakeOver(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		strategy AllocateStrategy
		even     bool
	}{
		{"average", AllocateAverage, true},
		{"round robin", AllocateRoundRobin, true},
		{"consistent hash", AllocateConsistentHash(10), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			topic := consName("Split")
			c := consCluster(t, topic, 8)
			s := newConsSender(t, c)
			group := consName("cg")
			col := newConsCollector()
			a := consStart(t, c, group, topic, Tag("*"), col.handler, WithAllocateStrategy(tc.strategy))
			b := consStart(t, c, group, topic, Tag("*"), col.handler, WithAllocateStrategy(tc.strategy))
			split := func() (int, int, bool) {
				qa, qb := topicQueues(a, topic), topicQueues(b, topic)
				for _, q := range qa {
					if slices.Contains(qb, q) {
						return len(qa), len(qb), false
					}
				}
				return len(qa), len(qb), len(qa)+len(qb) == 8
			}
			consEventually(t, 30*time.Second, "the queues split between the consumers", func() bool {
				na, nb, ok := split()
				return ok && (!tc.even || na == 4 && nb == 4)
			})
			na, nb, _ := split()
			t.Logf("split %d / %d", na, nb)
			s.sendN(t, topic, 8, 200, "before")
			col.waitDistinct(t, 200, 60*time.Second)
			consClose(t, b)
			consWaitQueues(t, a, topic, 8, 30*time.Second)
			s.sendN(t, topic, 8, 200, "after")
			col.waitDistinct(t, 400, 60*time.Second)
			col.requireBodies(t, "before", 200)
			col.requireBodies(t, "after", 200)
			t.Logf("duplicates: %d", col.duplicates())
		})
	}
}

// topicQueues returns the queues of topic pc holds.
func topicQueues(pc *PushConsumer, topic string) []MessageQueue {
	return slices.DeleteFunc(consQueues(pc), func(q MessageQueue) bool { return q.Topic != topic })
}

// TestRebalanceOrderlyHandover: queues move between orderly consumers without breaking the
// order of any queue or running two handlers on one queue.
func TestRebalanceOrderlyHandover(t *testing.T) {
	t.Parallel()
	topic := consName("Handover")
	c := consCluster(t, topic, 4)
	s := newConsSender(t, c)
	group := consName("cg")
	l := newOrderLog(t)
	opts := []PushConsumerOption{WithOrderly(true), WithConsumeBatchSize(2)}
	a := consStart(t, c, group, topic, Tag("*"), l.handler, opts...)
	sendOrdered(t, s, topic, 4, 0, 30)
	l.col.waitDistinct(t, 60, 30*time.Second)
	b := consStart(t, c, group, topic, Tag("*"), l.handler, opts...)
	sendOrdered(t, s, topic, 4, 30, 60)
	consWaitQueues(t, a, topic, 2, 30*time.Second)
	consWaitQueues(t, b, topic, 2, 30*time.Second)
	l.col.waitDistinct(t, 240, 60*time.Second)
	consClose(t, a)
	consWaitQueues(t, b, topic, 4, 30*time.Second)
	sendOrdered(t, s, topic, 4, 60, 80)
	l.col.waitDistinct(t, 320, 60*time.Second)
	l.check(t, 4, 80)
	t.Logf("duplicates: %d", l.col.duplicates())
}

// TestRebalanceBrokerRestart: consumption resumes after the broker restarts, and nothing is
// lost.
func TestRebalanceBrokerRestart(t *testing.T) {
	t.Parallel()
	topic := consName("Restart")
	c := consCluster(t, topic, 4)
	s := newConsSender(t, c)
	col := newConsCollector()
	pc := consStart(t, c, consName("cg"), topic, Tag("*"), col.handler, WithConsumeGoroutines(4))
	s.sendN(t, topic, 4, 100, "before")
	col.waitDistinct(t, 100, 30*time.Second)
	c.RestartBroker(t)
	s.sendN(t, topic, 4, 100, "after")
	col.waitDistinct(t, 200, 60*time.Second)
	col.requireBodies(t, "before", 100)
	col.requireBodies(t, "after", 100)
	t.Logf("duplicates: %d", col.duplicates())
	consClose(t, pc) // before the restarted broker's cleanup stops it
}
