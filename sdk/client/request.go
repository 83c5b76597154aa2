package client

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// Request/reply (RocketMQ 4.6+): Request sends a message that carries CORRELATION_ID,
// REPLY_TO_CLIENT (this producer's client id) and TTL. A consumer of the request builds the
// reply with NewReply and sends it with any producer; the reply travels as
// SEND_REPLY_MESSAGE_V2 to the topic <cluster>_REPLY_TOPIC, and the broker pushes it to the
// requester over the connection the request came on (PUSH_REPLY_MESSAGE_TO_CLIENT, 326). The
// requester matches it to the waiting Request by CORRELATION_ID.

// replyWaiters holds the Requests waiting for their reply, by correlation id.
type replyWaiters struct {
	mu sync.Mutex // guards m
	m  map[string]chan *MessageExt
}

func (w *replyWaiters) init() { w.m = make(map[string]chan *MessageExt) }

// add registers a waiter; its channel receives the reply.
func (w *replyWaiters) add(id string) chan *MessageExt {
	ch := make(chan *MessageExt, 1)
	w.mu.Lock()
	w.m[id] = ch
	w.mu.Unlock()
	return ch
}

// remove forgets a waiter (its Request returned).
func (w *replyWaiters) remove(id string) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

// deliver hands a reply to its waiter and forgets it; false if nobody waits for id.
func (w *replyWaiters) deliver(id string, m *MessageExt) bool {
	w.mu.Lock()
	ch, ok := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ok {
		ch <- m // buffered for this one reply
	}
	return ok
}

// Request sends msg as a request and waits for its reply: the message a responder sent with
// NewReply(request, …). It fails when the send fails, or when ctx ends (or, if ctx has no
// deadline, WithRequestTimeout passes) before the reply arrives; the time left travels with
// the request as its TTL (ms). A reply that arrives after Request returned is dropped.
func (p *Producer) Request(ctx context.Context, msg *Message, opts ...SendOption) (*MessageExt, error) {
	if p.isClosed() {
		return nil, ErrClosed
	}
	if err := p.check(msg); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.requestTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	ttl := max(time.Until(deadline).Milliseconds(), 1)
	corr := p.in.nextUniqID()
	o, err := p.encode(ctx, msg, p.sendConfig(opts), 0,
		message.PropertyCorrelationID, corr,
		message.PropertyReplyToClient, p.in.id,
		message.PropertyMessageTTL, strconv.FormatInt(ttl, 10))
	if err != nil {
		return nil, err
	}
	// Wait before sending: the reply may arrive before the send's own response.
	ch := p.replies.add(corr)
	defer p.replies.remove(corr)
	if _, err := p.deliver(ctx, o); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	select {
	case m := <-ch:
		return m, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("request to %s: waiting for the reply (correlation id %s): %w", msg.Topic, corr, context.Cause(ctx))
	case <-p.done:
		return nil, ErrClosed
	}
}

// handleReply serves PUSH_REPLY_MESSAGE_TO_CLIENT: a reply for one of this producer's
// Requests.
func (p *Producer) handleReply(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.ReplyMessageHeader
	if err := h.Decode(req); err != nil {
		p.log.Warn("bad reply header", "err", err)
		return remoting.ErrorResponse(req, fmt.Errorf("%w: reply header: %w", remoting.ErrSystemError, err))
	}
	m, err := replyFromPush(&h, req.Body, p.now())
	if err != nil {
		p.log.Warn("bad reply", "topic", h.Topic, "err", err)
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
	}
	corr := m.Properties[message.PropertyCorrelationID]
	if !p.replies.deliver(corr, m) {
		p.log.Debug("reply matches no waiting request", "correlation_id", corr)
	}
	return remoting.NewResponse(req, int16(remoting.Success), "")
}

// replyFromPush builds the reply message of a PUSH_REPLY_MESSAGE_TO_CLIENT, inflating a
// compressed body, and stamps its arrival time (ARRIVE_TIME) as RocketMQ clients do.
func replyFromPush(h *protocol.ReplyMessageHeader, body []byte, now time.Time) (*MessageExt, error) {
	m := &MessageExt{
		QueueID:        h.QueueID,
		SysFlag:        h.SysFlag,
		BornTimestamp:  time.UnixMilli(h.BornTimestamp),
		StoreTimestamp: time.UnixMilli(h.StoreTimestamp),
		BornHost:       parseHost(h.BornHost),
		StoreHost:      parseHost(h.StoreHost),
		ReconsumeTimes: h.ReconsumeTimes,
	}
	m.Topic, m.Flag = h.Topic, h.Flag
	m.Properties = message.ParseProperties([]byte(h.Properties))
	m.Tag = m.Properties[message.PropertyTags]
	if k := m.Properties[message.PropertyKeys]; k != "" {
		m.Keys = strings.Fields(k)
	}
	m.ShardingKey = m.Properties[message.PropertyShardingKey]
	m.MsgID = m.Properties[message.PropertyUniqKey]
	m.Properties[message.PropertyReplyMessageArriveTime] = strconv.FormatInt(now.UnixMilli(), 10)
	if h.SysFlag&message.SysFlagCompressed != 0 {
		b, err := message.Inflate(body, maxDecompressed)
		if err != nil {
			return nil, fmt.Errorf("decompress reply %s: %w", m.MsgID, err)
		}
		m.Body = b
	} else {
		m.Body = body // the pushed frame's own buffer: no copy
	}
	return m, nil
}

// parseHost parses an "ip:port" host as Java writes it (possibly with a leading "/"); an
// unparsable one is the zero AddrPort.
func parseHost(s string) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(strings.TrimPrefix(s, "/"))
	return ap
}

// NewReply builds the reply to request, a message a consumer received from Request: it goes
// to the reply topic of the request's cluster (<cluster>_REPLY_TOPIC) and carries the
// request's CORRELATION_ID, REPLY_TO_CLIENT and TTL with MSG_TYPE=reply, as RocketMQ's
// MessageUtil.createReplyMessage. Send it with any Producer's Send; the broker pushes it to the
// requester. The result may be given a Tag, Keys or more properties. It fails with
// ErrInvalidMessage if request is not a request (no CLUSTER, CORRELATION_ID or
// REPLY_TO_CLIENT property).
func NewReply(request *MessageExt, body []byte) (*Message, error) {
	if request == nil {
		return nil, fmt.Errorf("%w: nil request", ErrInvalidMessage)
	}
	cluster := request.Properties[message.PropertyCluster]
	corr := request.Properties[message.PropertyCorrelationID]
	to := request.Properties[message.PropertyReplyToClient]
	switch {
	case cluster == "":
		return nil, fmt.Errorf("%w: the request has no %s property", ErrInvalidMessage, message.PropertyCluster)
	case corr == "" || to == "":
		return nil, fmt.Errorf("%w: message %s is not a request (no %s or %s)", ErrInvalidMessage, request.MsgID, message.PropertyCorrelationID, message.PropertyReplyToClient)
	}
	props := map[string]string{
		message.PropertyMessageType:   replyMessageType,
		message.PropertyCorrelationID: corr,
		message.PropertyReplyToClient: to,
	}
	if ttl := request.Properties[message.PropertyMessageTTL]; ttl != "" {
		props[message.PropertyMessageTTL] = ttl
	}
	return &Message{Topic: protocol.ReplyTopic(cluster), Body: body, Properties: props}, nil
}
