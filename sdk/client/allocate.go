package client

import (
	"cmp"
	"crypto/md5"
	"encoding/binary"
	"slices"
	"strconv"
)

// AllocateStrategy picks the queues consumer self gets when the consumers of a clustering group
// share queues. Every consumer calls it with the same consumers and queues, sorted (consumer
// ids as strings, queues by topic, broker name and queue id), and must get a share disjoint
// from the others' with every queue in some share. A consumer not in consumers gets nothing.
//
// AllocateAverage, AllocateRoundRobin and AllocateConsistentHash give RocketMQ's assignments
// (AllocateMessageQueueAveragely, AveragelyByCircle and ConsistentHash), so a group may mix
// Tern and RocketMQ consumers using the same strategy.
type AllocateStrategy func(self string, consumers []string, queues []MessageQueue) []MessageQueue

// AllocateAverage gives each consumer a contiguous range of queues, the first
// len(queues) % len(consumers) consumers one more than the others (RocketMQ's default,
// AllocateMessageQueueAveragely).
func AllocateAverage(self string, consumers []string, queues []MessageQueue) []MessageQueue {
	i := slices.Index(consumers, self)
	if i < 0 || len(queues) == 0 {
		return nil
	}
	n, q := len(consumers), len(queues)
	size, start := q/n, i*(q/n)+min(i, q%n)
	if i < q%n {
		size++
	}
	return slices.Clone(queues[start : start+size])
}

// AllocateRoundRobin deals the queues out in turn: consumer i gets queues i, i+n, i+2n, …
// (RocketMQ's AllocateMessageQueueAveragelyByCircle).
func AllocateRoundRobin(self string, consumers []string, queues []MessageQueue) []MessageQueue {
	i := slices.Index(consumers, self)
	if i < 0 {
		return nil
	}
	var out []MessageQueue
	for j := i; j < len(queues); j += len(consumers) {
		out = append(out, queues[j])
	}
	return out
}

// AllocateConsistentHash places virtualNodes points per consumer on a hash ring and gives each
// queue to the consumer owning the first point at or after the queue's hash, so that a
// consumer joining or leaving moves few queues (RocketMQ's AllocateMessageQueueConsistentHash
// with its MD5 hash: the points of consumer c hash "c-0" … "c-<virtualNodes-1>", a queue
// hashes "MessageQueue [topic=T, brokerName=B, queueId=N]"). virtualNodes <= 0 means
// RocketMQ's default of 10.
func AllocateConsistentHash(virtualNodes int) AllocateStrategy {
	if virtualNodes <= 0 {
		virtualNodes = 10
	}
	return func(self string, consumers []string, queues []MessageQueue) []MessageQueue {
		if !slices.Contains(consumers, self) {
			return nil
		}
		ring := newHashRing(consumers, virtualNodes)
		var out []MessageQueue
		for _, q := range queues {
			if ring.owner(javaQueueString(q)) == self {
				out = append(out, q)
			}
		}
		return out
	}
}

// hashRing is a consistent-hash ring of consumer ids.
type hashRing struct {
	points []ringPoint // sorted by hash; one point per hash (a later node replaces an earlier)
}

type ringPoint struct {
	hash  uint32
	owner string
}

func newHashRing(nodes []string, virtualNodes int) *hashRing {
	byHash := make(map[uint32]string, len(nodes)*virtualNodes)
	for _, n := range nodes {
		for i := range virtualNodes {
			byHash[ringHash(n+"-"+strconv.Itoa(i))] = n // as Java's TreeMap.put: last wins
		}
	}
	r := &hashRing{points: make([]ringPoint, 0, len(byHash))}
	for h, n := range byHash {
		r.points = append(r.points, ringPoint{h, n})
	}
	slices.SortFunc(r.points, func(a, b ringPoint) int { return cmp.Compare(a.hash, b.hash) })
	return r
}

// owner returns the node of the first point at or after key's hash, wrapping around.
func (r *hashRing) owner(key string) string {
	if len(r.points) == 0 {
		return ""
	}
	h := ringHash(key)
	i, _ := slices.BinarySearchFunc(r.points, h, func(p ringPoint, h uint32) int { return cmp.Compare(p.hash, h) })
	if i == len(r.points) {
		i = 0
	}
	return r.points[i].owner
}

// ringHash is RocketMQ's ConsistentHashRouter MD5 hash: the first 4 bytes of the MD5 digest
// of the UTF-8 key, big-endian, as a non-negative number.
func ringHash(key string) uint32 {
	sum := md5.Sum([]byte(key))
	return binary.BigEndian.Uint32(sum[:4])
}

// javaQueueString is Java's MessageQueue.toString, the key RocketMQ hashes a queue by.
func javaQueueString(q MessageQueue) string {
	return "MessageQueue [topic=" + q.Topic + ", brokerName=" + q.BrokerName + ", queueId=" + strconv.Itoa(int(q.QueueID)) + "]"
}
