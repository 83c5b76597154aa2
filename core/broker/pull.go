package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/ternmq/tern/core/broker/longpoll"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/store"
)

// Pull flags (wire format): PULL_MESSAGE's sysFlag bits.
const (
	pullCommitOffset = 1 << 0
	pullSuspend      = 1 << 1
	pullSubscription = 1 << 2
)

// maxSuspend keeps a held pull below the Go client's 30 s request timeout.
const maxSuspend = 25 * time.Second

// handlePull serves PULL_MESSAGE. A pull that finds nothing and may be suspended is held and
// answered later through conn.Send.
func (b *Broker) handlePull(ctx context.Context, conn *remoting.Conn, req *remoting.Command, h *protocol.PullMessageHeader) *remoting.Command {
	tc, ok := b.topics.Get(h.Topic)
	if !ok {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: topic[%s] not exist, apply first please!", remoting.ErrTopicNotExist, h.Topic))
	}
	if !protocol.IsReadable(tc.Perm) {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: the topic %s is not readable", remoting.ErrNoPermission, h.Topic))
	}
	if h.QueueID < 0 || h.QueueID >= tc.ReadQueueNums {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: queueId[%d] is illegal, topic %s has %d read queues", remoting.ErrSystemError, h.QueueID, h.Topic, tc.ReadQueueNums))
	}
	filter, err := b.pullFilter(h)
	if err != nil {
		return remoting.ErrorResponse(req, err)
	}
	if h.SysFlag&pullCommitOffset != 0 && h.CommitOffset >= 0 {
		b.offsets.Commit(h.ConsumerGroup, h.Topic, h.QueueID, h.CommitOffset)
	}
	resp, found := b.pullOnce(req, h, filter)
	if found || resp.Code != int16(remoting.PullNotFound) || h.SysFlag&pullSuspend == 0 {
		return resp
	}
	suspend := b.cfg.ShortPollingTimeMills.D()
	if b.cfg.LongPollingEnable {
		suspend = min(time.Duration(h.SuspendTimeoutMillis)*time.Millisecond, maxSuspend)
	}
	b.hold.Hold(&longpoll.Request{
		Topic: h.Topic, QueueID: h.QueueID, Offset: h.QueueOffset, Deadline: b.now().Add(suspend),
		Retry: func(final bool) bool {
			resp, found := b.pullOnce(req, h, filter)
			if !found && !final && resp.Code != int16(remoting.PullOffsetMoved) {
				return false // nothing for this pull yet: keep holding (no segment is held)
			}
			if err := conn.Send(resp); err != nil {
				b.log.Debug("held pull answer not sent", "remote", conn.RemoteAddr(), "err", err)
			}
			return true
		},
	})
	return nil
}

// pullFilter builds the pull's filter: the expression in the request when it carries one, else
// the subscription the group registered by heartbeat.
func (b *Broker) pullFilter(h *protocol.PullMessageHeader) (store.Filter, error) {
	expr, typ := h.Subscription, h.ExpressionType
	if h.SysFlag&pullSubscription == 0 {
		sub, ok := b.clients.Subscription(h.ConsumerGroup, h.Topic)
		if !ok {
			return nil, fmt.Errorf("%w: the consumer group %s has no subscription to %s (no heartbeat yet?)", remoting.ErrSubscriptionNotExist, h.ConsumerGroup, h.Topic)
		}
		expr, typ = sub.Expression, sub.ExpressionType
	} else if sub, ok := b.clients.Subscription(h.ConsumerGroup, h.Topic); ok && sub.ExpressionType != "" && sub.ExpressionType != protocol.ExpressionTag && sub.Expression == expr {
		// The Go pull consumer labels SQL92 expressions as TAG: trust the registration.
		typ = sub.ExpressionType
	}
	if typ != "" && typ != protocol.ExpressionTag {
		return nil, fmt.Errorf("%w: the broker does not support filtering by %s yet", remoting.ErrSystemError, typ)
	}
	return newTagFilter(expr), nil
}

// pullOnce reads the messages of one pull and builds its response. found reports messages in
// it. The response owns the read's segment references (Release).
func (b *Broker) pullOnce(req *remoting.Command, h *protocol.PullMessageHeader, f store.Filter) (resp *remoting.Command, found bool) {
	res, err := b.store.GetMessages(h.Topic, h.QueueID, h.QueueOffset, int(max(h.MaxMsgNums, 1)), 0, f)
	if err != nil {
		return remoting.ErrorResponse(req, storeError(err)), false
	}
	code := remoting.PullRetryImmediately
	switch res.Status {
	case store.Found:
		code = remoting.Success
	case store.NoMatchedMessage, store.MessageWasRemoving:
		code = remoting.PullRetryImmediately
	case store.NoMatchedLogicQueue, store.NoMessageInQueue:
		code = remoting.PullNotFound
		if h.QueueOffset != 0 {
			code = remoting.PullOffsetMoved
		}
	case store.OffsetTooSmall, store.OffsetOverflowBadly:
		code = remoting.PullOffsetMoved
	case store.OffsetOverflowOne:
		code = remoting.PullNotFound
	}
	resp = remoting.NewResponse(req, int16(code), "")
	rh := protocol.PullMessageResponseHeader{NextBeginOffset: res.NextBeginOffset, MinOffset: res.MinOffset, MaxOffset: res.MaxOffset}
	resp.ExtFields = rh.Encode()
	if code == remoting.Success {
		resp.BodyParts = res.Messages
		resp.Release = res.Release
		return resp, true
	}
	res.Release()
	return resp, false
}
