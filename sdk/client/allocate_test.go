package client

import (
	"fmt"
	"slices"
	"testing"
)

// allocQueues returns n queues of topic "topic" on broker "brokerName", as RocketMQ's
// allocation tests build them.
func allocQueues(n int) []MessageQueue {
	out := make([]MessageQueue, n)
	for i := range out {
		out[i] = MessageQueue{Topic: "topic", BrokerName: "brokerName", QueueID: int32(i)}
	}
	return out
}

func allocIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("CID_PREFIX%d", i)
	}
	return out
}

func queueIDs(qs []MessageQueue) []int32 {
	out := []int32{}
	for _, q := range qs {
		out = append(out, q.QueueID)
	}
	return out
}

// TestAllocate checks each strategy's assignments against RocketMQ's: the expectations of
// AllocateMessageQueueAveragelyTest and AllocateMessageQueueAveragelyByCircleTest, the Java
// formula for other sizes, and for the consistent hash the ring of Java's
// ConsistentHashRouter (MD5, virtual node keys "cid-i", queue keys MessageQueue.toString),
// computed independently.
func TestAllocate(t *testing.T) {
	tests := []struct {
		name      string
		strategy  AllocateStrategy
		consumers int
		queues    int
		want      [][]int32 // per consumer
	}{
		{"average 10 over 4", AllocateAverage, 4, 10, [][]int32{{0, 1, 2}, {3, 4, 5}, {6, 7}, {8, 9}}},
		{"average 8 over 2", AllocateAverage, 2, 8, [][]int32{{0, 1, 2, 3}, {4, 5, 6, 7}}},
		{"average 3 over 5", AllocateAverage, 5, 3, [][]int32{{0}, {1}, {2}, {}, {}}},
		{"average 4 over 4", AllocateAverage, 4, 4, [][]int32{{0}, {1}, {2}, {3}}},
		{"average 7 over 3", AllocateAverage, 3, 7, [][]int32{{0, 1, 2}, {3, 4}, {5, 6}}},
		{"average 1 over 1", AllocateAverage, 1, 1, [][]int32{{0}}},
		{"average no queues", AllocateAverage, 2, 0, [][]int32{{}, {}}},
		{"round robin 10 over 4", AllocateRoundRobin, 4, 10, [][]int32{{0, 4, 8}, {1, 5, 9}, {2, 6}, {3, 7}}},
		{"round robin 3 over 5", AllocateRoundRobin, 5, 3, [][]int32{{0}, {1}, {2}, {}, {}}},
		{"round robin 8 over 2", AllocateRoundRobin, 2, 8, [][]int32{{0, 2, 4, 6}, {1, 3, 5, 7}}},
		{"consistent hash 10 over 4", AllocateConsistentHash(10), 4, 10, [][]int32{{1, 6, 7, 8, 9}, {0, 3}, {2, 5}, {4}}},
		{"consistent hash 10 over 3", AllocateConsistentHash(0), 3, 10, [][]int32{{1, 6, 7, 8, 9}, {0, 3, 4}, {2, 5}}},
		{"consistent hash 3 virtual nodes", AllocateConsistentHash(3), 4, 10, [][]int32{{0, 8}, {2, 3, 4}, {1, 5, 6, 7, 9}, {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, qs := allocIDs(tt.consumers), allocQueues(tt.queues)
			seen := map[MessageQueue]int{}
			for i, id := range ids {
				got := tt.strategy(id, ids, qs)
				if g := queueIDs(got); !slices.Equal(g, tt.want[i]) {
					t.Errorf("consumer %d: got %v, want %v", i, g, tt.want[i])
				}
				for _, q := range got {
					seen[q]++
				}
			}
			for _, q := range qs {
				if seen[q] != 1 {
					t.Errorf("queue %v allocated %d times", q, seen[q])
				}
			}
			if got := tt.strategy("CID_PREFIX", ids, qs); len(got) != 0 {
				t.Errorf("a consumer not in the list got %v", got)
			}
		})
	}
}

// TestAllocateConsistentHashTwoBrokers pins the ring for real-looking client ids and two
// brokers, and checks that a leaving consumer moves only its own queues.
func TestAllocateConsistentHashTwoBrokers(t *testing.T) {
	var qs []MessageQueue
	for _, b := range []string{"broker-a", "broker-b"} {
		for i := range 4 {
			qs = append(qs, MessageQueue{Topic: "T", BrokerName: b, QueueID: int32(i)})
		}
	}
	ids := []string{"10.0.0.1@1234", "10.0.0.2@1234"}
	s := AllocateConsistentHash(10)
	names := func(qs []MessageQueue) []string {
		var out []string
		for _, q := range qs {
			out = append(out, fmt.Sprintf("%s#%d", q.BrokerName, q.QueueID))
		}
		return out
	}
	if got, want := names(s(ids[0], ids, qs)), []string{"broker-a#2", "broker-b#1", "broker-b#2"}; !slices.Equal(got, want) {
		t.Errorf("first: %v, want %v", got, want)
	}
	if got, want := names(s(ids[1], ids, qs)), []string{"broker-a#0", "broker-a#1", "broker-a#3", "broker-b#0", "broker-b#3"}; !slices.Equal(got, want) {
		t.Errorf("second: %v, want %v", got, want)
	}

	four, three := allocIDs(4), allocIDs(3)
	before := map[MessageQueue]string{}
	for _, id := range four {
		for _, q := range s(id, four, allocQueues(10)) {
			before[q] = id
		}
	}
	for _, id := range three {
		for _, q := range s(id, three, allocQueues(10)) {
			if before[q] != id && before[q] != "CID_PREFIX3" {
				t.Errorf("queue %d moved from %s to %s though its owner stayed", q.QueueID, before[q], id)
			}
		}
	}
}
