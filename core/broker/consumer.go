package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ternmq/tern/core/broker/locks"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

func ok(req *remoting.Command) *remoting.Command {
	return remoting.NewResponse(req, int16(remoting.Success), "")
}

func badHeader(req *remoting.Command, err error) *remoting.Command {
	return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
}

// handleQueryConsumerOffset serves QUERY_CONSUMER_OFFSET: the committed offset, or
// QUERY_NOT_FOUND so that the client applies its consume-from-where rule.
func (b *Broker) handleQueryConsumerOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.ConsumerOffsetHeader
	if err := h.DecodeQuery(req); err != nil {
		return badHeader(req, err)
	}
	off, found := b.offsets.Query(h.ConsumerGroup, h.Topic, h.QueueID)
	if !found {
		return remoting.NewResponse(req, int16(remoting.QueryNotFound), "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")
	}
	resp := ok(req)
	rh := protocol.OffsetResponseHeader{Offset: off}
	resp.ExtFields = rh.Encode()
	return resp
}

// handleUpdateConsumerOffset serves UPDATE_CONSUMER_OFFSET.
func (b *Broker) handleUpdateConsumerOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.ConsumerOffsetHeader
	if err := h.DecodeUpdate(req); err != nil {
		return badHeader(req, err)
	}
	b.offsets.Commit(h.ConsumerGroup, h.Topic, h.QueueID, h.CommitOffset)
	return ok(req)
}

// handleConsumerList serves GET_CONSUMER_LIST_BY_GROUP.
func (b *Broker) handleConsumerList(_ context.Context, _ *remoting.Conn, req *remoting.Command, h *protocol.ConsumerGroupHeader) *remoting.Command {
	ids := b.clients.ConsumerIDs(h.ConsumerGroup)
	if len(ids) == 0 {
		return remoting.NewResponse(req, int16(remoting.SystemError), "no consumer for this group, "+h.ConsumerGroup)
	}
	resp := ok(req)
	resp.Body, _ = json.Marshal(protocol.ConsumerListBody{ConsumerIDList: ids})
	return resp
}

// handleUnregisterClient serves UNREGISTER_CLIENT (Java clients send it on shutdown).
func (b *Broker) handleUnregisterClient(_ context.Context, _ *remoting.Conn, req *remoting.Command, h *protocol.UnregisterClientHeader) *remoting.Command {
	b.clients.Unregister(h.ClientID, h.ProducerGroup, h.ConsumerGroup)
	return ok(req)
}

// lockQueues turns a lock body's message queues into the lock manager's.
func lockQueues(mqs []protocol.MessageQueue) []locks.Queue {
	out := make([]locks.Queue, 0, len(mqs))
	for _, q := range mqs {
		out = append(out, locks.Queue{Topic: q.Topic, BrokerName: q.BrokerName, QueueID: q.QueueID})
	}
	return out
}

// handleLockBatch serves LOCK_BATCH_MQ: the queues the client now holds.
func (b *Broker) handleLockBatch(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var body protocol.LockBatchRequestBody
	if err := protocol.Unmarshal(req.Body, &body); err != nil {
		return badHeader(req, fmt.Errorf("lock body: %w", err))
	}
	held := b.locks.TryLock(body.ConsumerGroup, body.ClientID, lockQueues(body.MQSet))
	out := protocol.LockBatchResponseBody{LockOKMQSet: make([]protocol.MessageQueue, 0, len(held))}
	for _, q := range held {
		out.LockOKMQSet = append(out.LockOKMQSet, protocol.MessageQueue{Topic: q.Topic, BrokerName: q.BrokerName, QueueID: q.QueueID})
	}
	resp := ok(req)
	resp.Body, _ = json.Marshal(out)
	return resp
}

// handleUnlockBatch serves UNLOCK_BATCH_MQ.
func (b *Broker) handleUnlockBatch(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var body protocol.LockBatchRequestBody // UNLOCK_BATCH_MQ's body has the same shape
	if err := protocol.Unmarshal(req.Body, &body); err != nil {
		return badHeader(req, fmt.Errorf("unlock body: %w", err))
	}
	b.locks.Unlock(body.ConsumerGroup, body.ClientID, lockQueues(body.MQSet))
	return ok(req)
}

// retryBaseLevel is RocketMQ's first retry level: a message consumed unsuccessfully n times
// waits level 3+n.
const retryBaseLevel = 3

// handleSendBack serves CONSUMER_SEND_MSG_BACK: the message at the given physical offset goes
// to the group's retry topic with a growing delay, or to its dead-letter topic after
// maxReconsumeTimes (or at once for a negative delay level).
func (b *Broker) handleSendBack(ctx context.Context, conn *remoting.Conn, req *remoting.Command, h *protocol.ConsumerSendMsgBackHeader) *remoting.Command {
	m, err := b.store.GetMessage(h.Offset)
	if err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: look up the message at offset %d: %w", remoting.ErrSystemError, h.Offset, err))
	}
	defer m.Release()
	v := m.View
	props := message.ParseProperties(v.Properties())
	if props == nil {
		props = map[string]string{}
	}
	if _, ok := props[message.PropertyRetryTopic]; !ok {
		props[message.PropertyRetryTopic] = string(v.Topic())
	}
	if _, ok := props[message.PropertyOriginMessageID]; !ok {
		id := h.OriginMsgID
		if id == "" {
			id = message.OffsetMsgID(v.StoreHost(), v.PhysicalOffset())
		}
		props[message.PropertyOriginMessageID] = id
	}
	maxTimes := int32(b.cfg.MaxReconsumeTimes)
	if h.MaxReconsumeTimes != nil && *h.MaxReconsumeTimes >= 0 {
		maxTimes = *h.MaxReconsumeTimes
	}
	delete(props, message.PropertyDelayLevel)
	var topic string
	var qid int32
	var level int
	var delay time.Duration
	if v.ReconsumeTimes() >= maxTimes || h.DelayLevel < 0 {
		dlq, created, err := b.topics.CreateIfAbsent(protocol.DLQTopic(h.Group), 1, protocol.PermWrite|protocol.PermRead)
		if err != nil {
			return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
		}
		if created {
			b.registerSoon() // the DLQ gets a route now, not at the next periodic registration
		}
		topic = dlq.TopicName
	} else {
		rt, created, err := b.topics.CreateIfAbsent(protocol.RetryTopic(h.Group), 1, protocol.PermWrite|protocol.PermRead)
		if err != nil {
			return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
		}
		if created {
			b.registerSoon()
		}
		topic, qid = rt.TopicName, rand.Int32N(rt.WriteQueueNums)
		level, delay = b.retryDelay(ctx, h.Group, props[message.PropertyRetryTopic], v.ReconsumeTimes(), maxTimes, h.DelayLevel)
		if level > 0 {
			props[message.PropertyDelayLevel] = strconv.Itoa(level)
		}
	}
	p, err := message.AppendProperties(nil, props)
	if err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrMessageIllegal, err))
	}
	r := &message.Record{
		Topic: topic, QueueID: qid, Flag: v.Flag(), SysFlag: v.SysFlag() &^ message.TxMask,
		BornTimestamp: v.BornTimestamp(), BornHost: v.BornHost(), ReconsumeTimes: v.ReconsumeTimes() + 1,
		Body: v.Body(), Properties: string(p), // the put completes before m.Release
	}
	switch {
	case level > 0:
		_, err = b.levels.Rewrite(r)
	case topic != protocol.DLQTopic(h.Group):
		err = b.toInbox(r, b.now().Add(delay).UnixMilli())
	}
	if err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrMessageIllegal, err))
	}
	if _, err := b.w.PutMessage(ctx, r); err != nil {
		if _, ok := storedCode(err); !ok {
			return remoting.ErrorResponse(req, storeError(err))
		}
	}
	return ok(req)
}
