package client

import (
	"hash/fnv"
	"slices"
)

// QueueSelector picks the queue of an ordered send (WithQueueSelector). queues are the topic's
// writable queues, ordered by broker name then queue id, and never empty; Select must return
// one of them and must not modify the slice. Select runs on the sending goroutine,
// concurrently for concurrent sends.
type QueueSelector interface {
	Select(msg *Message, queues []MessageQueue) MessageQueue
}

// QueueSelectorFunc adapts a function to QueueSelector.
type QueueSelectorFunc func(msg *Message, queues []MessageQueue) MessageQueue

// Select calls f.
func (f QueueSelectorFunc) Select(msg *Message, queues []MessageQueue) MessageQueue {
	return f(msg, queues)
}

// ShardingKeySelector returns the selector of messages with a ShardingKey: the FNV-1a hash of
// the key modulo the number of queues, as rocketmq-client-go's hash selector, so that Tern and
// official Go producers put one key on the same queue. A message without a key goes to the
// first queue. While the topic's queues don't change, every message of one key goes to one
// queue, in send order.
func ShardingKeySelector() QueueSelector { return QueueSelectorFunc(selectBySharding) }

func selectBySharding(msg *Message, queues []MessageQueue) MessageQueue {
	h := fnv.New32a()
	h.Write([]byte(msg.ShardingKey))
	return queues[h.Sum32()%uint32(len(queues))]
}

// pickQueue chooses the queue of one attempt of a load-balanced send: round-robin over queues
// from position start, skipping the brokers in avoid (those that failed earlier attempts of
// this send) and, when faults is set, the brokers in their penalty window. When that leaves
// nothing, it takes the least bad broker that is not in avoid (or of all, if every broker is),
// and failing fault data, any queue not in avoid. queues must not be empty.
func pickQueue(queues []MessageQueue, start uint32, avoid []string, faults *faultTable) MessageQueue {
	n := uint32(len(queues))
	for i := range n {
		q := queues[(start+i)%n]
		if !slices.Contains(avoid, q.BrokerName) && (faults == nil || faults.available(q.BrokerName)) {
			return q
		}
	}
	if faults != nil {
		var cands, all []string
		for _, q := range queues {
			if !slices.Contains(all, q.BrokerName) {
				all = append(all, q.BrokerName)
				if !slices.Contains(avoid, q.BrokerName) {
					cands = append(cands, q.BrokerName)
				}
			}
		}
		if len(cands) == 0 {
			cands = all
		}
		broker := faults.leastBad(cands)
		for i := range n {
			if q := queues[(start+i)%n]; q.BrokerName == broker {
				return q
			}
		}
	}
	for i := range n {
		if q := queues[(start+i)%n]; !slices.Contains(avoid, q.BrokerName) {
			return q
		}
	}
	return queues[start%n]
}
