package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/filters/tag"
)

// Consumer errors.
var (
	// ErrNoOffset: the group never committed an offset for the queue.
	ErrNoOffset = errors.New("client: no committed offset")
	// ErrStarted: Start was called twice, or Subscribe after Start.
	ErrStarted = errors.New("client: consumer already started")
	// ErrNoSubscription: a push consumer was started without a subscription.
	ErrNoSubscription = errors.New("client: no subscription")
)

// Selector chooses the messages of a topic a consumer receives. The broker filters by it; the
// expression type travels to the broker unchanged, so brokers with filter plugins accept
// their own types (Expr). The zero Selector is Tag("*"): every message.
type Selector struct {
	typ  string
	expr string
}

// Tag selects messages by tag: "*" (every message) or tags separated by "||" ("A || B").
func Tag(expr string) Selector { return Selector{typ: protocol.ExpressionTag, expr: expr} }

// SQL92 selects messages by a RocketMQ SQL92 expression over their properties ("a > 1 AND
// TAGS = 'x'"). The broker must have property filtering enabled.
func SQL92(expr string) Selector { return Selector{typ: protocol.ExpressionSQL92, expr: expr} }

// CEL selects messages by a Common Expression Language expression (a Tern extension).
func CEL(expr string) Selector { return Selector{typ: protocol.ExpressionCEL, expr: expr} }

// Expr selects messages by an expression of the given type, as a broker filter plugin of that
// name understands it.
func Expr(typ, expr string) Selector { return Selector{typ: typ, expr: expr} }

// Type returns the expression type (TAG for the zero Selector).
func (s Selector) Type() string {
	if s.typ == "" {
		return protocol.ExpressionTag
	}
	return s.typ
}

// validate refuses what the broker would: a TAG expression that does not parse.
// Other types are the broker's (and its filter plugins') to check.
func (s Selector) validate() error {
	if s.Type() == protocol.ExpressionTag {
		if _, err := tag.Parse(s.Expression()); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
	}
	return nil
}

// Expression returns the expression ("*" for the zero Selector).
func (s Selector) Expression() string {
	if s.typ == "" && s.expr == "" {
		return protocol.SubAll
	}
	return s.expr
}

func (s Selector) String() string { return s.Type() + "(" + s.Expression() + ")" }

// ConsumeResult is a handler's verdict on a batch of messages.
type ConsumeResult int

// Consume results. A concurrent consumer redelivers a batch answered ConsumeRetryLater (or
// with an error) through the group's retry topic, later and with ReconsumeTimes incremented;
// an orderly consumer treats ConsumeRetryLater as SuspendCurrentQueue, and a concurrent one
// SuspendCurrentQueue as ConsumeRetryLater.
const (
	// ConsumeSuccess acknowledges the batch.
	ConsumeSuccess ConsumeResult = iota
	// ConsumeRetryLater asks for redelivery of the batch later.
	ConsumeRetryLater
	// SuspendCurrentQueue (orderly) stops the queue for the suspend duration
	// (WithSuspendDuration) and then redelivers the same batch, keeping the queue's order.
	SuspendCurrentQueue
)

func (r ConsumeResult) String() string {
	switch r {
	case ConsumeSuccess:
		return "ConsumeSuccess"
	case ConsumeRetryLater:
		return "ConsumeRetryLater"
	case SuspendCurrentQueue:
		return "SuspendCurrentQueue"
	}
	return "ConsumeResult(" + strconv.Itoa(int(r)) + ")"
}

// ConsumeFunc handles a batch of messages of one queue, in queue order. A non-nil error means
// ConsumeRetryLater (SuspendCurrentQueue when orderly) whatever the result; so does a panic,
// which the consumer recovers and logs. ctx carries the trace context of the first message
// of the batch (see the package doc) and ends when Close gives up waiting for handlers.
type ConsumeFunc func(ctx context.Context, msgs []*MessageExt) (ConsumeResult, error)

// MessageModel is how a consumer group shares messages.
type MessageModel int

// Message models.
const (
	// Clustering shares a group's queues among its consumers: each message is consumed by one
	// consumer of the group. Offsets are kept by the brokers.
	Clustering MessageModel = iota
	// Broadcasting delivers every message to every consumer of the group. Offsets are kept in
	// a local file per consumer, and failed messages are not redelivered.
	Broadcasting
)

func (m MessageModel) wire() protocol.MessageModel {
	if m == Broadcasting {
		return protocol.Broadcasting
	}
	return protocol.Clustering
}

func (m MessageModel) String() string { return string(m.wire()) }

// ConsumeFrom is where a consumer group without a committed offset for a queue starts:
// ConsumeFromLastOffset (the zero value), ConsumeFromFirstOffset, or ConsumeFromTimestamp.
// Retry queues (%RETRY%<group>) always start from their first message.
type ConsumeFrom int64

// Where to start.
const (
	// ConsumeFromLastOffset starts after the queue's last message: only new messages.
	ConsumeFromLastOffset ConsumeFrom = 0
	// ConsumeFromFirstOffset starts at the queue's first message still stored.
	ConsumeFromFirstOffset ConsumeFrom = -1
)

// ConsumeFromTimestamp starts at the message stored nearest to t.
func ConsumeFromTimestamp(t time.Time) ConsumeFrom { return ConsumeFrom(max(t.UnixMilli(), 1)) }

func (c ConsumeFrom) wire() protocol.ConsumeFromWhere {
	switch {
	case c == ConsumeFromFirstOffset:
		return protocol.ConsumeFromFirstOffset
	case c > 0:
		return protocol.ConsumeFromTimestamp
	}
	return protocol.ConsumeFromLastOffset
}

func (c ConsumeFrom) String() string {
	if c > 0 {
		return "timestamp " + time.UnixMilli(int64(c)).UTC().Format(time.RFC3339Nano)
	}
	return string(c.wire())
}

// consumerCore is what both consumer kinds do with brokers: offsets, pulls and send-back.
type consumerCore struct {
	group string
	in    *instance
	cfg   *consumerConfig
}

// brokerAddrOf returns the address of broker id of mq's broker (the master when id is 0 or
// unknown, a slave when the route has no master), fetching mq.Topic's route if the broker is
// unknown.
func (c *consumerCore) brokerAddrOf(ctx context.Context, mq MessageQueue, id int64) (string, error) {
	if addr, ok := c.in.brokerAddr(mq.BrokerName, id); ok && id != protocol.MasterID {
		return addr, nil
	}
	if addr, ok := c.in.replicaAddr(mq.BrokerName); ok {
		return addr, nil
	}
	if _, err := c.in.fetchRoute(ctx, mq.Topic); err != nil {
		return "", err
	}
	if addr, ok := c.in.replicaAddr(mq.BrokerName); ok {
		return addr, nil
	}
	return "", fmt.Errorf("%w: broker %s of %s has no master or slave in the route", ErrNoRoute, mq.BrokerName, mq)
}

// invokeBroker sends req to mq's master and checks the response code.
func (c *consumerCore) invokeBroker(ctx context.Context, mq MessageQueue, req *remoting.Command) (*remoting.Command, error) {
	addr, err := c.brokerAddrOf(ctx, mq, protocol.MasterID)
	if err != nil {
		return nil, err
	}
	return c.in.invokeOK(ctx, addr, req)
}

// committedOffset asks mq's broker for the group's committed offset (QUERY_CONSUMER_OFFSET);
// ErrNoOffset when there is none.
func (c *consumerCore) committedOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	h := protocol.ConsumerOffsetHeader{ConsumerGroup: c.group, Topic: mq.Topic, QueueID: mq.QueueID}
	resp, err := c.invokeBroker(ctx, mq, remoting.NewRequest(remoting.QueryConsumerOffset, h.EncodeQuery(), nil))
	if errors.Is(err, remoting.ErrQueryNotFound) {
		return 0, fmt.Errorf("%s: %w", mq, ErrNoOffset)
	}
	if err != nil {
		return 0, fmt.Errorf("committed offset of %s: %w", mq, err)
	}
	return decodeOffset(resp, mq)
}

// commitOffset stores offset as the group's committed offset of mq (UPDATE_CONSUMER_OFFSET).
func (c *consumerCore) commitOffset(ctx context.Context, mq MessageQueue, offset int64) error {
	h := protocol.ConsumerOffsetHeader{ConsumerGroup: c.group, Topic: mq.Topic, QueueID: mq.QueueID, CommitOffset: offset}
	if _, err := c.invokeBroker(ctx, mq, remoting.NewRequest(remoting.UpdateConsumerOffset, h.EncodeUpdate(), nil)); err != nil {
		return fmt.Errorf("commit offset %d of %s: %w", offset, mq, err)
	}
	return nil
}

// queueOffset asks mq's broker for its min (GET_MIN_OFFSET) or max (GET_MAX_OFFSET) offset.
func (c *consumerCore) queueOffset(ctx context.Context, mq MessageQueue, code int16) (int64, error) {
	h := protocol.TopicQueueHeader{Topic: mq.Topic, QueueID: mq.QueueID}
	resp, err := c.invokeBroker(ctx, mq, remoting.NewRequest(code, h.Encode(), nil))
	if err != nil {
		return 0, fmt.Errorf("offset of %s: %w", mq, err)
	}
	return decodeOffset(resp, mq)
}

// offsetAt asks mq's broker for the offset of the message stored nearest to t
// (SEARCH_OFFSET_BY_TIMESTAMP).
func (c *consumerCore) offsetAt(ctx context.Context, mq MessageQueue, t time.Time) (int64, error) {
	h := protocol.SearchOffsetHeader{Topic: mq.Topic, QueueID: mq.QueueID, Timestamp: t.UnixMilli()}
	resp, err := c.invokeBroker(ctx, mq, remoting.NewRequest(remoting.SearchOffsetByTimestamp, h.Encode(), nil))
	if err != nil {
		return 0, fmt.Errorf("offset of %s at %v: %w", mq, t, err)
	}
	return decodeOffset(resp, mq)
}

func decodeOffset(resp *remoting.Command, mq MessageQueue) (int64, error) {
	var rh protocol.OffsetResponseHeader
	if err := rh.Decode(resp); err != nil {
		return 0, fmt.Errorf("offset of %s: %w", mq, err)
	}
	return rh.Offset, nil
}

// startOffset is where the group starts on mq without a committed offset (§6.5): retry queues
// at their first message, others as ConsumeFrom says.
func (c *consumerCore) startOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	from := c.cfg.consumeFrom
	switch {
	case protocol.IsRetryTopic(mq.Topic) || from == ConsumeFromFirstOffset:
		return c.queueOffset(ctx, mq, remoting.GetMinOffset)
	case from > 0:
		return c.offsetAt(ctx, mq, time.UnixMilli(int64(from)))
	}
	return c.queueOffset(ctx, mq, remoting.GetMaxOffset)
}

// initialOffset is where the group resumes on mq: its committed offset, else startOffset.
func (c *consumerCore) initialOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	off, err := c.committedOffset(ctx, mq)
	if errors.Is(err, ErrNoOffset) || err == nil && off < 0 {
		return c.startOffset(ctx, mq)
	}
	return off, err
}

// sendBack returns a message the handler failed on to its broker (CONSUMER_SEND_MSG_BACK): to
// the group's retry topic with a delay the broker derives from the reconsume count (delay
// level 0), or with delayLevel < 0 straight to the dead-letter topic.
func (c *consumerCore) sendBack(ctx context.Context, m *MessageExt, delayLevel, maxReconsume int32) error {
	h := protocol.ConsumerSendMsgBackHeader{
		Offset: m.CommitLogOffset, Group: c.group, DelayLevel: delayLevel,
		OriginMsgID: m.MsgID, OriginTopic: m.Topic, MaxReconsumeTimes: &maxReconsume,
	}
	mq := MessageQueue{Topic: m.Topic, BrokerName: m.BrokerName, QueueID: m.QueueID}
	if _, err := c.invokeBroker(ctx, mq, remoting.NewRequest(remoting.ConsumerSendMsgBack, h.Encode(), nil)); err != nil {
		return fmt.Errorf("send back %s: %w", m.MsgID, err)
	}
	return nil
}

// pullStatus is how a pull ended.
type pullStatus int

const (
	pullFound       pullStatus = iota // messages (some may be filtered out by tag)
	pullNoNew                         // nothing after the offset (PULL_NOT_FOUND)
	pullNoMatch                       // entries, none matching (PULL_RETRY_IMMEDIATELY)
	pullOffsetMoved                   // the offset is not in the queue (PULL_OFFSET_MOVED)
)

// pullResult is a pull's outcome.
type pullResult struct {
	status    pullStatus
	next      int64 // nextBeginOffset
	minOffset int64
	maxOffset int64
	suggest   int64 // suggestWhichBrokerId
	msgs      []*MessageExt
}

// subscription is a topic's selector, as a consumer subscribed it.
type subscription struct {
	topic   string
	sel     Selector
	version int64
	tags    *tag.Expr // TAG expressions; nil for other types
	handler ConsumeFunc
}

// newSubscription builds the subscription of a selector that passed validate.
func newSubscription(topic string, sel Selector, handler ConsumeFunc) *subscription {
	s := &subscription{topic: topic, sel: sel, version: time.Now().UnixMilli(), handler: handler}
	if sel.Type() == protocol.ExpressionTag {
		s.tags, _ = tag.Parse(sel.Expression())
	}
	return s
}

// data is the subscription as a heartbeat announces it.
func (s *subscription) data() protocol.SubscriptionData {
	d := protocol.NewSubscriptionData(s.topic, s.sel.Expression(), s.sel.Type())
	d.SubVersion = s.version
	return d
}

// matches is the client-side tag filter RocketMQ clients apply after a pull (a RocketMQ broker
// filters by tag hash code only, which may collide). A Tern multi-tag "A||B" matches by any of
// its tags.
func (s *subscription) matches(m *MessageExt) bool {
	return s.tags == nil || s.tags.MatchTags(m.Tag)
}

// pullRequest is one PULL_MESSAGE.
type pullRequest struct {
	mq       MessageQueue
	offset   int64
	sub      *subscription
	brokerID int64 // broker to pull from (suggestWhichBrokerId of the last pull)
}

// pull sends one long-polling PULL_MESSAGE and decodes its answer. Messages keep the order of
// the queue; retried messages (from %RETRY%<group>) get their original topic back, and
// messages failing the subscription's tag filter are left out.
func (c *consumerCore) pull(ctx context.Context, r pullRequest) (pullResult, error) {
	addr, err := c.brokerAddrOf(ctx, r.mq, r.brokerID)
	if err != nil {
		return pullResult{}, err
	}
	// No PullFlagCommitOffset: a pull the broker handles after a later UPDATE_CONSUMER_OFFSET
	// (requests on one connection are served concurrently) would move the committed offset
	// back. Offsets are committed by UPDATE_CONSUMER_OFFSET only.
	flags := protocol.PullFlagSuspend | protocol.PullFlagSubscription
	h := protocol.PullMessageHeader{
		ConsumerGroup: c.group, Topic: r.mq.Topic, QueueID: r.mq.QueueID, QueueOffset: r.offset,
		MaxMsgNums: int32(c.cfg.pullBatchSize), SysFlag: flags,
		SuspendTimeoutMillis: c.cfg.longPoll.Milliseconds(),
		Subscription:         r.sub.sel.Expression(), SubVersion: r.sub.version, ExpressionType: r.sub.sel.Type(),
	}
	req := remoting.NewRequest(remoting.PullMessage, nil, nil)
	req.Fields = &h
	resp, err := c.in.invokeFor(ctx, addr, req, c.cfg.longPoll+longPollSlack)
	if err != nil {
		return pullResult{}, err
	}
	var rh protocol.PullMessageResponseHeader
	code := remoting.Code(resp.Code)
	switch code {
	case remoting.Success, remoting.PullNotFound, remoting.PullRetryImmediately, remoting.PullOffsetMoved:
		if err := rh.Decode(resp); err != nil {
			return pullResult{}, fmt.Errorf("pull %s: %w", r.mq, err)
		}
	default:
		return pullResult{}, fmt.Errorf("pull %s at %d from %s: %w", r.mq, r.offset, addr, brokerError(resp))
	}
	res := pullResult{next: rh.NextBeginOffset, minOffset: rh.MinOffset, maxOffset: rh.MaxOffset, suggest: rh.SuggestWhichBrokerID}
	switch code {
	case remoting.PullNotFound:
		res.status = pullNoNew
		return res, nil
	case remoting.PullRetryImmediately:
		res.status = pullNoMatch
		return res, nil
	case remoting.PullOffsetMoved:
		res.status = pullOffsetMoved
		return res, nil
	}
	msgs, err := decodeMessages(resp.Body, r.mq.BrokerName)
	if err != nil {
		return pullResult{}, fmt.Errorf("pull %s: %w", r.mq, err)
	}
	retry := protocol.RetryTopic(c.group)
	kept := msgs[:0]
	for _, m := range msgs {
		m.QueueID = r.mq.QueueID // what was pulled, whatever the record says (§4.1)
		if m.QueueOffset < r.offset {
			continue // never before the requested offset
		}
		if m.Topic == retry {
			if t := m.Properties[message.PropertyRetryTopic]; t != "" {
				m.Topic = t
			}
		} else if !r.sub.matches(m) {
			continue
		}
		kept = append(kept, m)
	}
	res.msgs = kept
	return res, nil
}

// offsetMoveRecheck is how long a consumer waits before pulling again at an offset the broker
// said is not in the queue (PULL_OFFSET_MOVED), before believing it. A broker answers so for a
// queue whose new messages it has not indexed yet (they become pullable a few milliseconds
// after the send returns), and a consumer resuming at its committed offset right then would
// otherwise restart the queue from 0.
const offsetMoveRecheck = time.Second

// offsetMoveCheck believes an offset move when the broker confirms it for the same offset.
type offsetMoveCheck struct {
	offset int64
	seen   bool
}

// confirmed reports whether the move of offset was already seen once (and forgets it then).
func (c *offsetMoveCheck) confirmed(offset int64) bool {
	if c.seen && c.offset == offset {
		c.seen = false
		return true
	}
	c.offset, c.seen = offset, true
	return false
}

// longPollSlack is how much longer than the long-poll hold a pull may take before the client
// gives up on it.
const longPollSlack = 10 * time.Second

// backoff is a bounded, jittered exponential backoff.
type backoff struct {
	min, max time.Duration
	n        int
}

// next returns the next wait: a random duration in [d/2, d) where d doubles from min to max.
func (b *backoff) next() time.Duration {
	d := b.min << min(b.n, 16)
	if d > b.max || d <= 0 {
		d = b.max
	}
	b.n++
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (b *backoff) reset() { b.n = 0 }

// wait waits d or until ctx ends, reporting whether the full wait passed.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// waitGroup waits for wg, or returns ctx's error when ctx ends first.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tick runs f every d until ctx ends, on the calling goroutine.
func tick(ctx context.Context, d time.Duration, f func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}

// unregister tells every known broker that the consumer leaves its group (UNREGISTER_CLIENT),
// so that the group's other consumers rebalance at once. Failures are ignored: brokers also
// notice the connections closing.
func (c *consumerCore) unregister(ctx context.Context) {
	h := protocol.UnregisterClientHeader{ClientID: c.in.id, ConsumerGroup: c.group}
	for _, addr := range c.in.brokerAddrs() {
		if _, err := c.in.invokeOK(ctx, addr, remoting.NewRequest(remoting.UnregisterClient, h.Encode(), nil)); err != nil {
			c.in.log.Debug("unregister failed", "group", c.group, "broker", addr, "err", err)
		}
	}
}

// signal wakes one waiter on ch (a channel of capacity 1) without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
