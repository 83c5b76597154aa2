package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// The send path shared by every kind of send: a message (or batch) is validated and encoded
// once into an outgoing request; deliver then finds the topic's route and runs the attempts,
// each one a SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) or SEND_REPLY_MESSAGE_V2 (325)
// to the master of the chosen queue's broker.

// defaultTopicQueueNums is the queue count a send asks for when the broker auto-creates its
// topic from TBW102 (RocketMQ's defaultTopicQueueNums).
const defaultTopicQueueNums = 4

// minRouteRefetch is how old a cached route must be before a failed attempt fetches it again,
// so that a burst of failures does not flood the NameServers.
const minRouteRefetch = time.Second

// replyMessageType is the MSG_TYPE of a reply (RocketMQ's REPLY_MESSAGE_FLAG): such messages
// are sent with SEND_REPLY_MESSAGE_V2, which makes the broker push them to the requester.
const replyMessageType = "reply"

// errBadResponse marks a send response that could not be decoded: the message was probably
// stored, so the send is not retried.
var errBadResponse = errors.New("client: bad send response")

// outgoing is one encoded send request; every attempt sends it, to the queue it picks.
type outgoing struct {
	msg      *Message // what a selector sees (a batch's first message)
	topic    string
	code     int16
	sysFlag  int32
	flag     int32
	props    string
	body     []byte
	batch    bool
	msgIDs   string        // UNIQ_KEY, or the batch's joined by ","
	selector QueueSelector // ordered send: no retry on another queue
	oneway   bool
	half     bool        // a transaction's half message
	pooled   *pooledBody // body's buffer, if it comes from the remoting pool
}

// check validates a message before it is encoded.
func (p *Producer) check(m *Message) error {
	if m == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	if err := m.validate(p.cfg.maxMessageSize); err != nil {
		return err
	}
	if m.DelayLevel > 0 && !m.DeliverAt.IsZero() {
		return fmt.Errorf("%w: both a delay level and a delivery time", ErrInvalidMessage)
	}
	return nil
}

// encode builds the request of one message. owned are (key, value) properties the producer
// sets for this send (a request's CORRELATION_ID, a half message's TRAN_MSG, …); they replace
// user properties of the same keys.
func (p *Producer) encode(ctx context.Context, m *Message, sc sendConfig, sysFlag int32, owned ...string) (*outgoing, error) {
	props, uniq, err := p.properties(ctx, m, owned)
	if err != nil {
		return nil, err
	}
	o := &outgoing{
		msg: m, topic: m.Topic, code: remoting.SendMessageV2, sysFlag: sysFlag, flag: m.Flag,
		props: string(props), body: m.Body, msgIDs: uniq, selector: sc.selector,
	}
	if o.selector == nil && m.ShardingKey != "" {
		o.selector = QueueSelectorFunc(selectBySharding)
	}
	if m.Properties[message.PropertyMessageType] == replyMessageType {
		o.code = remoting.SendReplyMessageV2
	}
	if p.cfg.compressOver > 0 && len(m.Body) >= p.cfg.compressOver {
		if c, err := p.zlib.deflate(m.Body); err == nil && len(c) < len(m.Body) {
			o.body = c
			o.sysFlag |= message.SysFlagCompressed
		}
	}
	return o, nil
}

// properties encodes m's properties for one send: the user's (less the keys in owned), those
// derived from the message fields, owned, UNIQ_KEY unless the user set one, and the trace
// context of ctx. It returns the message's UNIQ_KEY.
func (p *Producer) properties(ctx context.Context, m *Message, owned []string) ([]byte, string, error) {
	mm := *m
	for i := 0; i+1 < len(owned); i += 2 {
		if _, ok := mm.Properties[owned[i]]; ok {
			mm.Properties = dropKeys(mm.Properties, owned)
			break
		}
	}
	extra := owned
	uniq := mm.Properties[message.PropertyUniqKey]
	if uniq == "" {
		uniq = p.in.nextUniqID()
		extra = append(extra[:len(extra):len(extra)], message.PropertyUniqKey, uniq)
	}
	if prop := p.in.cfg.propagator; len(prop.Fields()) > 0 {
		carrier := propagation.MapCarrier{}
		prop.Inject(ctx, carrier)
		keys := carrier.Keys()
		slices.Sort(keys)
		for _, k := range keys {
			if _, ok := mm.Properties[k]; !ok {
				extra = append(extra[:len(extra):len(extra)], k, carrier[k])
			}
		}
	}
	props, err := mm.appendProperties(make([]byte, 0, 128), extra...)
	if err != nil {
		return nil, "", err
	}
	if len(props) > message.MaxPropertiesLen {
		return nil, "", fmt.Errorf("%w: properties of %d bytes, at most %d", ErrInvalidMessage, len(props), message.MaxPropertiesLen)
	}
	return props, uniq, nil
}

// dropKeys returns a copy of props without the keys of the (key, value) pairs in kv.
func dropKeys(props map[string]string, kv []string) map[string]string {
	out := make(map[string]string, len(props))
	for k, v := range props {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		delete(out, kv[i])
	}
	return out
}

// deliver sends o within the send timeout: once to the selected queue for an ordered send,
// else up to 1+sendRetries times, each attempt on a queue picked round-robin away from the
// brokers that failed before and, with fault avoidance, from slow ones.
func (p *Producer) deliver(ctx context.Context, o *outgoing) (*SendResult, error) {
	// The send timeout is a deadline that each step checks, not a context of the send's own:
	// its allocations and timer were about 5 % of the client's CPU per send. Only a route
	// lookup, a dial and a oneway send, which wait outside InvokeUntil, get a context bounded
	// by it.
	deadline := time.Now().Add(p.cfg.sendTimeout)
	r, err := p.route(ctx, o.topic, deadline)
	if err != nil {
		return nil, fmt.Errorf("send to %s: %w", o.topic, err)
	}
	if o.selector != nil {
		return p.deliverOrdered(ctx, o, r, deadline)
	}
	var avoid []string
	var last error
	tried := 0
	for tried < 1+p.cfg.sendRetries {
		if tried > 0 {
			if ctx.Err() != nil || !time.Now().Before(deadline) {
				break
			}
			r = p.routeAfterFailure(ctx, o.topic, r, deadline)
		}
		q := pickQueue(r.publish, r.next.Add(1), avoid, p.faults)
		res, err := p.attempt(ctx, o, q, deadline)
		tried++
		if err == nil {
			return res, nil
		}
		last = err
		if !retryable(err) {
			return nil, err
		}
		p.log.Debug("send attempt failed", "topic", o.topic, "broker", q.BrokerName, "attempt", tried, "err", err)
		avoid = append(avoid, q.BrokerName)
	}
	if tried == 1 {
		return nil, last
	}
	return nil, fmt.Errorf("send to %s failed after %d attempts: %w", o.topic, tried, last)
}

// deliverOrdered sends o once, to the queue its selector picks, by deadline.
func (p *Producer) deliverOrdered(ctx context.Context, o *outgoing, r *topicRoute, deadline time.Time) (*SendResult, error) {
	q := o.selector.Select(o.msg, r.publish)
	if q.Topic == "" {
		q.Topic = o.topic
	}
	if q.Topic != o.topic || q.BrokerName == "" || q.QueueID < 0 {
		return nil, fmt.Errorf("send to %s: %w: the selector picked %v, not a queue of the topic", o.topic, ErrNoRoute, q)
	}
	res, err := p.attempt(ctx, o, q, deadline)
	if err != nil && retryable(err) && ctx.Err() == nil && time.Now().Before(deadline) {
		p.routeAfterFailure(ctx, o.topic, r, deadline) // for the next sends
	}
	return res, err
}

// attempt sends o to queue q once, within the call timeout and by deadline (the zero time:
// the call timeout only).
func (p *Producer) attempt(ctx context.Context, o *outgoing, q MessageQueue, deadline time.Time) (*SendResult, error) {
	addr, ok := p.in.masterAddr(q.BrokerName)
	if !ok {
		return nil, fmt.Errorf("send to %s: %w: broker %s has no master", o.topic, ErrNoRoute, q.BrokerName)
	}
	start := p.now()
	h := protocol.SendMessageHeader{
		ProducerGroup: p.group, Topic: o.topic, DefaultTopic: protocol.AutoCreateTopic,
		DefaultTopicQueueNums: defaultTopicQueueNums, QueueID: q.QueueID, SysFlag: o.sysFlag,
		BornTimestamp: start.UnixMilli(), Flag: o.flag, Properties: o.props, Batch: o.batch,
	}
	req := remoting.NewRequest(o.code, nil, o.body)
	req.Fields = h.Fields(true)
	if o.pooled != nil {
		o.pooled.hold()
		req.Release = o.pooled.done
	}
	if o.oneway { // invokeOneway bounds the call by the call timeout; the send's deadline too
		octx, cancel := withDeadline(ctx, deadline)
		err := p.in.invokeOneway(octx, addr, req)
		cancel()
		p.recordLatency(q.BrokerName, start, err)
		return nil, err
	}
	callEnd := time.Now().Add(p.in.cfg.callTimeout)
	if !deadline.IsZero() && deadline.Before(callEnd) {
		callEnd = deadline
	}
	resp, err := p.in.invokeUntil(ctx, addr, req, callEnd)
	var res *SendResult
	if err == nil {
		res, err = p.sendResult(resp, o, q, addr)
	}
	p.recordLatency(q.BrokerName, start, err)
	return res, err
}

// recordLatency feeds the fault table with one attempt's outcome. Refusals of the message
// itself and cancellations by the caller say nothing about the broker and are not recorded.
func (p *Producer) recordLatency(broker string, start time.Time, err error) {
	if p.faults == nil || err != nil && (!retryable(err) || errors.Is(err, context.Canceled)) {
		return
	}
	p.faults.update(broker, p.now().Sub(start), err != nil)
}

// sendResult reads a send response: the codes that mean "stored" give a result, the others
// an error matching the code's sentinel.
func (p *Producer) sendResult(resp *remoting.Command, o *outgoing, q MessageQueue, addr string) (*SendResult, error) {
	var st SendStatus
	switch remoting.Code(resp.Code) {
	case remoting.Success:
		st = SendOK
	case remoting.FlushDiskTimeout:
		st = SendFlushDiskTimeout
	case remoting.FlushSlaveTimeout:
		st = SendFlushSlaveTimeout
	case remoting.SlaveNotAvailable:
		st = SendSlaveNotAvailable
	default:
		return nil, fmt.Errorf("%s to %s (%s): %w", requestName(o.code), addr, o.topic, brokerError(resp))
	}
	var h protocol.SendMessageResponseHeader
	if err := h.Decode(resp); err != nil {
		return nil, fmt.Errorf("%s to %s: %w: %w", requestName(o.code), addr, errBadResponse, err)
	}
	res := &SendResult{
		Status: st, MsgID: o.msgIDs, OffsetMsgID: h.MsgID,
		Queue:       MessageQueue{Topic: o.topic, BrokerName: q.BrokerName, QueueID: h.QueueID},
		QueueOffset: h.QueueOffset, RegionID: h.MsgRegion, TraceOn: h.TraceOn,
	}
	if o.half {
		res.TransactionID = h.TransactionID
		if res.TransactionID == "" {
			res.TransactionID = o.msgIDs
		}
	}
	return res, nil
}

// retryable reports whether a failed attempt may succeed on another broker: transport
// failures, and the response codes RocketMQ producers retry (its retryResponseCodes, with
// SYSTEM_BUSY as in RocketMQ 5).
func retryable(err error) bool {
	if errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, errBadResponse) {
		return false
	}
	var re *remoting.ResponseError
	if errors.As(err, &re) {
		switch re.Code {
		case remoting.TopicNotExist, remoting.ServiceNotAvailable, remoting.SystemError, remoting.SystemBusy,
			remoting.NoPermission, remoting.NoBuyerID, remoting.NotInCurrentUnit:
			return true
		}
		return false
	}
	return true
}

// route returns the route a send to topic uses. A route known already is returned at once,
// without a context; a lookup (from the NameServers, or TBW102's for a derived route) also ends
// at deadline (the zero time: ctx alone bounds it).
func (p *Producer) route(ctx context.Context, topic string, deadline time.Time) (*topicRoute, error) {
	if p.cfg.autoCreateTopic {
		if r := p.derivedRoute(topic); r != nil {
			return r, nil
		}
	}
	r, err := p.in.route(ctx, topic, deadline)
	switch {
	case err == nil && len(r.publish) > 0:
		return r, nil
	case err == nil:
		return nil, fmt.Errorf("%w: topic %s has no writable queue on a broker with a master", ErrNoRoute, topic)
	case p.cfg.autoCreateTopic && errors.Is(err, ErrTopicNotExist):
		return p.deriveRoute(ctx, topic, deadline)
	}
	return nil, err
}

// routeAfterFailure returns the route for the next attempt after a failed one: fetched again
// from the NameServers (by deadline) unless the cached one is fresh, and old if that fails.
func (p *Producer) routeAfterFailure(ctx context.Context, topic string, old *topicRoute, deadline time.Time) *topicRoute {
	cur := p.in.cachedRoute(topic)
	if cur != nil && p.now().Sub(cur.fetched) < minRouteRefetch {
		if len(cur.publish) > 0 {
			return cur
		}
		return old
	}
	ctx, cancel := withDeadline(ctx, deadline)
	defer cancel()
	r, err := p.in.fetchRoute(ctx, topic)
	if err != nil || len(r.publish) == 0 {
		return old
	}
	return r
}

// derivedRoute returns topic's route derived from TBW102's if it is younger than the route
// refresh period; after that the NameServers are asked again, since the first send has
// probably created the topic.
func (p *Producer) derivedRoute(topic string) *topicRoute {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.derived[topic]
	if r != nil && p.now().Sub(r.fetched) >= p.cfg.common.routeRefresh {
		delete(p.derived, topic)
		r = nil
	}
	return r
}

// deriveRoute builds the route of a topic the NameServers don't know from the template topic
// TBW102's, with at most defaultTopicQueueNums queues per broker, as RocketMQ clients do. A
// lookup of TBW102's route also ends at deadline.
func (p *Producer) deriveRoute(ctx context.Context, topic string, deadline time.Time) (*topicRoute, error) {
	tbw, err := p.in.route(ctx, protocol.AutoCreateTopic, deadline)
	if err != nil {
		return nil, fmt.Errorf("route of %s through %s: %w", topic, protocol.AutoCreateTopic, err)
	}
	data := tbw.data
	data.QueueDatas = slices.Clone(data.QueueDatas)
	data.BrokerDatas = slices.Clone(data.BrokerDatas)
	for i := range data.QueueDatas {
		q := &data.QueueDatas[i]
		n := min(defaultTopicQueueNums, q.ReadQueueNums)
		q.ReadQueueNums, q.WriteQueueNums = n, n
	}
	r := newTopicRoute(topic, data)
	if len(r.publish) == 0 {
		return nil, fmt.Errorf("%w: %s has no writable queue to create %s through", ErrNoRoute, protocol.AutoCreateTopic, topic)
	}
	p.mu.Lock()
	p.derived[topic] = r
	p.mu.Unlock()
	return r, nil
}
