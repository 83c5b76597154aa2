package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/ternmq/tern/core/broker/longpoll"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/store"
	"github.com/ternmq/tern/sdk/plugin/filter"
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
	sel, err := b.pullSelector(ctx, h)
	if err != nil {
		return remoting.ErrorResponse(req, err)
	}
	if h.SysFlag&pullCommitOffset != 0 && h.CommitOffset >= 0 {
		b.offsets.Commit(h.ConsumerGroup, h.Topic, h.QueueID, h.CommitOffset)
	}
	resp, out := b.pullOnce(ctx, conn, req, h, sel)
	held := out == pullEmpty && resp.Code == int16(remoting.PullNotFound) && h.SysFlag&pullSuspend != 0
	if out == pullFound || !held && out != pullFilterDown {
		return resp
	}
	suspend := b.cfg.ShortPollingTimeMills.D()
	if b.cfg.LongPollingEnable && held {
		suspend = min(time.Duration(h.SuspendTimeoutMillis)*time.Millisecond, maxSuspend)
	}
	if out == pullFilterDown {
		// The filter could not decide and its policy holds delivery: answer "nothing new" at the
		// same offset after a short wait, so the client asks again without spinning.
		suspend = min(suspend, filterRetryWait)
	}
	b.hold.Hold(&longpoll.Request{
		Topic: h.Topic, QueueID: h.QueueID, Offset: h.QueueOffset, Deadline: b.now().Add(suspend), Gone: conn.Done(),
		Retry: func(final bool) bool {
			if m := b.cfg.Metrics; m != nil && !final {
				m.Woken(ctx)
			}
			resp, out := b.pullOnce(ctx, conn, req, h, sel)
			if out != pullFound && !final && (out == pullFilterDown || resp.Code != int16(remoting.PullOffsetMoved)) {
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

// filterRetryWait is how long a pull whose filter plugin is down waits before it is answered
// "nothing new" at the same offset.
const filterRetryWait = 250 * time.Millisecond

// pullOutcome is how one read of a pull went.
type pullOutcome uint8

const (
	pullEmpty      pullOutcome = iota // no messages: the response says why
	pullFound                         // messages in the response
	pullFilterDown                    // the filter could not decide: PULL_NOT_FOUND at the same offset
)

// pullSelector builds the pull's selector: the expression in the request when it carries one,
// else the subscription the group registered by heartbeat.
func (b *Broker) pullSelector(ctx context.Context, h *protocol.PullMessageHeader) (*selector, error) {
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
	return b.newSelector(ctx, filter.Subscription{Group: h.ConsumerGroup, Topic: h.Topic, ExpressionType: typ, Expression: expr})
}

// dispatchWait bounds how long a pull that looks past the end of its queue waits for the
// dispatcher to catch up with the CommitLog before it is believed.
const dispatchWait = time.Second

// getMessages reads the pull's messages. An offset past the end of the queue while the
// dispatcher has not caught up with the CommitLog may only be early (a consumer that resumes
// at an offset it committed a moment ago, before the ConsumeQueue shows it): it waits for the
// dispatch of what is written now and reads again, so that the consumer is not moved back.
func (b *Broker) getMessages(ctx context.Context, h *protocol.PullMessageHeader, sel *selector) (store.GetResult, error) {
	get := func() (store.GetResult, error) {
		return b.store.GetMessages(h.Topic, h.QueueID, h.QueueOffset, int(max(h.MaxMsgNums, 1)), 0, sel.store)
	}
	res, err := get()
	if err != nil || h.QueueOffset == 0 {
		return res, err
	}
	switch res.Status {
	case store.OffsetOverflowBadly, store.NoMessageInQueue, store.NoMatchedLogicQueue:
	default:
		return res, nil
	}
	if b.store.DispatchedOffset() >= b.store.CommitLogMaxOffset() {
		return res, nil
	}
	res.Release()
	if err := b.awaitDispatch(ctx); err != nil {
		return store.GetResult{}, err
	}
	return get()
}

// awaitDispatch waits, at most dispatchWait, for the dispatcher to reach the CommitLog's end as
// of now, so that a read of the ConsumeQueues counts every send acknowledged before it. It
// returns an error only when ctx ends; after dispatchWait the caller reads what is dispatched.
func (b *Broker) awaitDispatch(ctx context.Context) error {
	end := b.store.CommitLogMaxOffset()
	if b.store.DispatchedOffset() >= end {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, dispatchWait)
	defer cancel()
	if err := b.store.WaitDispatched(wctx, end); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// pullOnce reads the messages of one pull and builds its response, which owns the read's
// segment references (Release).
func (b *Broker) pullOnce(ctx context.Context, conn *remoting.Conn, req *remoting.Command, h *protocol.PullMessageHeader, sel *selector) (*remoting.Command, pullOutcome) {
	var start time.Time // read only when measured
	if b.cfg.Metrics != nil {
		start = time.Now()
	}
	res, err := b.getMessages(ctx, h, sel)
	if err != nil {
		return remoting.ErrorResponse(req, storeError(err)), pullEmpty
	}
	if err := sel.apply(ctx, &res); err != nil {
		// Deliver nothing and skip nothing: the same offset is asked again.
		res.Release()
		b.log.Warn("pull filter failed", "group", h.ConsumerGroup, "topic", h.Topic, "queue_id", h.QueueID, "err", err)
		resp := remoting.NewResponse(req, int16(remoting.PullNotFound), "filter unavailable, delivery held")
		rh := protocol.PullMessageResponseHeader{NextBeginOffset: h.QueueOffset, MinOffset: res.MinOffset, MaxOffset: res.MaxOffset}
		resp.Fields = &rh
		return resp, pullFilterDown
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
	resp := remoting.NewResponse(req, int16(code), "")
	rh := protocol.PullMessageResponseHeader{NextBeginOffset: res.NextBeginOffset, MinOffset: res.MinOffset, MaxOffset: res.MaxOffset}
	if n := len(res.Messages); n > 0 {
		rh.SuggestWhichBrokerID = b.suggestBroker(message.View(res.Messages[n-1]).PhysicalOffset())
	} else if !b.rep.master.Load() {
		rh.SuggestWhichBrokerID = b.suggestBroker(b.store.CommitLogMaxOffset())
	}
	resp.Fields = &rh
	if code == remoting.Success {
		b.pulls.note(conn, h, res.NextBeginOffset, b.now().UnixMilli())
		resp.BodyParts = res.Messages
		resp.Release = res.Release
		b.measurePull(ctx, h, len(res.Messages), res.Bytes, start)
		b.traceDeliver(ctx, h, resp, res.Messages)
		return resp, pullFound
	}
	res.Release()
	b.measurePull(ctx, h, 0, 0, start)
	return resp, pullEmpty
}
