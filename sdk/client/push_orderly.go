package client

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// lockRenewInterval is how often an orderly clustering consumer renews the broker locks of its
// queues (RocketMQ: 20 s, against a 30 s client-side and 60 s broker-side expiry).
const lockRenewInterval = 20 * time.Second

// orderlyLoop consumes r's queue in order, one batch at a time, while the queue's lock is
// valid (clustering). A batch the handler does not acknowledge is put back and redelivered
// after the suspend duration, ahead of every later message; once its messages were redelivered
// WithMaxReconsumeTimes times they go to the dead-letter topic instead (clustering) or are
// skipped (broadcasting).
func (pc *PushConsumer) orderlyLoop(ctx context.Context, r *queueRunner) {
	pq := r.pq
	locking := pc.cfg.model == Clustering
	for {
		select {
		case <-ctx.Done():
			return
		case <-pq.ready:
		}
		for ctx.Err() == nil {
			if locking && !pq.lockValid(time.Now()) {
				break // setLocked signals ready
			}
			gen, msgs := pq.take(pc.cfg.batchSize)
			if len(msgs) == 0 {
				break
			}
			select {
			case <-ctx.Done():
				pq.putBack(gen)
				return
			case pc.slots <- struct{}{}:
			}
			ok, _ := pc.callHandler(msgs)
			<-pc.slots
			if ok || !pc.suspend(ctx, msgs) {
				pq.remove(gen, msgs)
				continue
			}
			pq.putBack(gen)
			if !wait(ctx, pc.cfg.suspend) {
				return
			}
		}
	}
}

// suspend decides about a failed orderly batch: true to redeliver it (its ReconsumeTimes
// incremented), false to move on once every message was redelivered maxReconsume times and
// was sent to the dead-letter topic (clustering) or given up (broadcasting).
func (pc *PushConsumer) suspend(ctx context.Context, msgs []*MessageExt) bool {
	maxTimes := int32(pc.cfg.maxReconsume)
	again := func() bool {
		for _, m := range msgs {
			m.ReconsumeTimes++
		}
		return true
	}
	if slices.ContainsFunc(msgs, func(m *MessageExt) bool { return m.ReconsumeTimes < maxTimes }) {
		return again()
	}
	if pc.cfg.model == Broadcasting {
		pc.log.Warn("orderly broadcast messages failed too often and are skipped", "queue", msgs[0].QueueID, "offset", msgs[0].QueueOffset, "count", len(msgs))
		return false
	}
	bg := context.WithoutCancel(ctx)
	for _, m := range msgs {
		if err := pc.core.sendBack(bg, m, -1, maxTimes); err != nil {
			pc.log.Warn("send to dead-letter topic failed", "topic", m.Topic, "msg_id", m.MsgID, "err", err)
			return again()
		}
	}
	return false
}

// lockLoop renews the locks of the consumer's queues every lockRenewInterval.
func (pc *PushConsumer) lockLoop(ctx context.Context) {
	tick(ctx, lockRenewInterval, func(ctx context.Context) {
		pc.mu.Lock()
		pqs := make(map[MessageQueue]*processQueue, len(pc.queues))
		for mq, r := range pc.queues {
			if pc.dropping[mq] == nil {
				pqs[mq] = r.pq
			}
		}
		pc.mu.Unlock()
		pc.lockAll(ctx, pqs)
	})
}

// lockAll locks (or renews) the queues of pqs and records the outcome on each queue whose
// broker answered.
func (pc *PushConsumer) lockAll(ctx context.Context, pqs map[MessageQueue]*processQueue) {
	at := time.Now()
	for _, mqs := range byBroker(slices.Collect(maps.Keys(pqs))) {
		held, err := pc.lockBatch(ctx, mqs)
		if err != nil {
			if ctx.Err() == nil {
				pc.log.Warn("lock queues failed", "broker", mqs[0].BrokerName, "err", err)
			}
			continue
		}
		for _, mq := range mqs {
			pqs[mq].setLocked(held[mq], at)
		}
	}
}

// lockOne tries to lock pq's queue, reporting success.
func (pc *PushConsumer) lockOne(ctx context.Context, pq *processQueue) bool {
	at := time.Now()
	held, err := pc.lockBatch(ctx, []MessageQueue{pq.mq})
	if err != nil {
		pc.log.Debug("lock queue failed", "queue", pq.mq.String(), "err", err)
		return false
	}
	pq.setLocked(held[pq.mq], at)
	return held[pq.mq]
}

// lockBatch sends LOCK_BATCH_MQ for mqs, all of one broker, and returns the queues the
// consumer holds now.
func (pc *PushConsumer) lockBatch(ctx context.Context, mqs []MessageQueue) (map[MessageQueue]bool, error) {
	body, err := json.Marshal(protocol.LockBatchRequestBody{ConsumerGroup: pc.core.group, ClientID: pc.in.id, MQSet: wireQueues(mqs)})
	if err != nil {
		return nil, err
	}
	resp, err := pc.core.invokeBroker(ctx, mqs[0], remoting.NewRequest(remoting.LockBatchMQ, nil, body))
	if err != nil {
		return nil, err
	}
	var out protocol.LockBatchResponseBody
	if err := protocol.Unmarshal(resp.Body, &out); err != nil {
		return nil, err
	}
	held := make(map[MessageQueue]bool, len(out.LockOKMQSet))
	for _, q := range out.LockOKMQSet {
		held[MessageQueue{Topic: q.Topic, BrokerName: q.BrokerName, QueueID: q.QueueID}] = true
	}
	return held, nil
}

// unlock releases the broker locks of mqs (UNLOCK_BATCH_MQ), ignoring failures: locks expire.
func (pc *PushConsumer) unlock(ctx context.Context, mqs []MessageQueue) {
	for _, qs := range byBroker(mqs) {
		body, err := json.Marshal(protocol.UnlockBatchRequestBody{ConsumerGroup: pc.core.group, ClientID: pc.in.id, MQSet: wireQueues(qs)})
		if err == nil {
			_, err = pc.core.invokeBroker(ctx, qs[0], remoting.NewRequest(remoting.UnlockBatchMQ, nil, body))
		}
		if err != nil {
			pc.log.Debug("unlock queues failed", "broker", qs[0].BrokerName, "err", err)
		}
	}
}

// byBroker groups queues by broker name, each group sorted.
func byBroker(mqs []MessageQueue) [][]MessageQueue {
	slices.SortFunc(mqs, func(a, b MessageQueue) int {
		if a.BrokerName != b.BrokerName {
			if a.BrokerName < b.BrokerName {
				return -1
			}
			return 1
		}
		return a.compare(b)
	})
	var out [][]MessageQueue
	for i := 0; i < len(mqs); {
		j := i + 1
		for j < len(mqs) && mqs[j].BrokerName == mqs[i].BrokerName {
			j++
		}
		out = append(out, mqs[i:j:j])
		i = j
	}
	return out
}

// wireQueues converts queues to their JSON form.
func wireQueues(mqs []MessageQueue) []protocol.MessageQueue {
	out := make([]protocol.MessageQueue, len(mqs))
	for i, q := range mqs {
		out[i] = protocol.MessageQueue{Topic: q.Topic, BrokerName: q.BrokerName, QueueID: q.QueueID}
	}
	return out
}
