package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/ternmq/tern/core/broker/timer"
	"github.com/ternmq/tern/core/broker/topics"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/store"
)

// handleSend serves SEND_MESSAGE (v1 keys), SEND_MESSAGE_V2, SEND_BATCH_MESSAGE and the
// request/reply codes 324 and 325.
func (b *Broker) handleSend(ctx context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	var start time.Time // read only when measured: the send path pays nothing without metrics
	if b.cfg.Metrics != nil {
		start = time.Now()
	}
	if req.Code != remoting.SendReplyMessage && req.Code != remoting.SendReplyMessageV2 {
		// Every record is copied into the CommitLog, or refused, before this returns, and the
		// response points into nothing of the request: its frame can be reused. A reply is
		// also pushed to its requester with the body as it is, and that push may still be
		// queued when it times out.
		defer req.Recycle()
	}
	if !b.rep.writable.Load() {
		return remoting.ErrorResponse(req, b.notWritable()) // before a topic is auto-created
	}
	v2 := req.Code == remoting.SendMessageV2 || req.Code == remoting.SendBatchMessage || req.Code == remoting.SendReplyMessageV2
	h, err := protocol.DecodeSendMessage(req, v2)
	if err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrMessageIllegal, err))
	}
	tc, err := b.topicForSend(ctx, &h)
	if err != nil {
		return remoting.ErrorResponse(req, err)
	}
	qid := h.QueueID
	if qid < 0 {
		qid = rand.Int32N(tc.WriteQueueNums)
	}
	if qid >= max(tc.WriteQueueNums, tc.ReadQueueNums) {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: queueId %d is illegal: topic %s has %d write queues", remoting.ErrMessageIllegal, qid, h.Topic, tc.WriteQueueNums))
	}
	// One copy of the properties: looked into here, extended with CLUSTER, then stored.
	props := []byte(h.Properties)
	half, err := sendsHalf(req, &h, props)
	if err != nil {
		return remoting.ErrorResponse(req, err)
	}
	if key, ok := message.Property(props, timer.PropertyDelUniqKey); ok && !half {
		return b.cancelTimer(ctx, req, tc.TopicName, key)
	}
	born := bornHost(conn)
	if to, ok := message.Property(props, message.PropertyReplyToClient); ok && req.Code != remoting.SendReplyMessage && req.Code != remoting.SendReplyMessageV2 {
		// A request (request/reply): its reply goes back over the connection it came on, even
		// before the requester's first heartbeat.
		b.requesters.Store(string(to), conn)
	}
	props, err = message.AppendProperty(props, message.PropertyCluster, b.cfg.BrokerClusterName)
	if err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrMessageIllegal, err))
	}
	var recs []*message.Record
	if h.Batch || req.Code == remoting.SendBatchMessage {
		var joined []byte // reused: each record keeps a string copy of its properties
		err = message.ParseBatch(req.Body, 0, func(_ int, e message.BatchElement) error {
			p := e.Properties
			if len(props) > 0 {
				var err error
				if joined, err = appendProps(joined[:0], p, props); err != nil {
					return err
				}
				p = joined
			}
			recs = append(recs, b.newRecord(&h, tc.TopicName, qid, born, e.Flag, e.Body, string(p)))
			return nil
		})
		if err == nil && len(recs) == 0 {
			err = errors.New("empty batch")
		}
		if err != nil {
			return remoting.ErrorResponse(req, fmt.Errorf("%w: batch body: %w", remoting.ErrMessageIllegal, err))
		}
	} else {
		recs = []*message.Record{b.newRecord(&h, tc.TopicName, qid, born, h.Flag, req.Body, string(props))}
	}
	ctx, span := b.traceReceive(ctx, &h, tc.TopicName, recs)
	later := false // answered by the store's flusher, which ends the span
	if span != nil {
		defer func() {
			if !later {
				span.End(err)
			}
		}()
	}
	for _, r := range recs {
		if len(r.Body) > b.cfg.Store.MaxMessageSize {
			return remoting.ErrorResponse(req, fmt.Errorf("%w: the message body is %d bytes, maxMessageSize is %d", remoting.ErrMessageIllegal, len(r.Body), b.cfg.Store.MaxMessageSize))
		}
		if half {
			if err := prepareHalf(&h, r); err != nil {
				return remoting.ErrorResponse(req, err)
			}
			continue // parked until END_TRANSACTION: no retry or delay handling now
		}
		if len(recs) == 1 {
			if err := b.toDLQIfExhausted(ctx, &h, r); err != nil {
				return remoting.ErrorResponse(req, err)
			}
		}
		if _, err := b.park(r); err != nil {
			return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrMessageIllegal, err))
		}
	}
	_, stored := traceStart(ctx, b.cfg.Tracer, SpanStart{Op: SpanStore, Topic: tc.TopicName, Count: len(recs), QueueID: qid})
	sent := sendOutcome{topic: tc.TopicName, qid: qid, half: half, start: start}
	reply := req.Code == remoting.SendReplyMessage || req.Code == remoting.SendReplyMessageV2
	if reply || !b.w.answersLater() {
		res, err := b.w.PutMessages(ctx, recs)
		traceEnd(stored, err)
		resp := b.sendResponse(ctx, req, recs, sent, res, err)
		if _, kept := storedCode(err); reply && (err == nil || kept) { // the reply is stored
			b.pushReply(ctx, &h, recs[0], res)
		}
		return resp
	}
	// Answered by the store's flusher once the flush that covers the records ends: it answers
	// all the sends of a flush one after the other, and no goroutine waits parked for each
	// (RocketMQ's asynchronous put).
	later = true
	answer := conn.Detach(req)
	b.w.PutMessagesThen(ctx, recs, func(res store.PutResult, err error) {
		traceEnd(stored, err)
		resp := b.sendResponse(ctx, req, recs, sent, res, err)
		if span != nil {
			span.End(err)
		}
		answer(resp)
	})
	return nil
}

// sendOutcome is what a send's response needs besides the request and the store's result.
type sendOutcome struct {
	topic string
	qid   int32
	half  bool
	start time.Time
}

// sendResponse is the response to a send whose records the store took with the result res
// and the error err.
func (b *Broker) sendResponse(ctx context.Context, req *remoting.Command, recs []*message.Record, o sendOutcome, res store.PutResult, err error) *remoting.Command {
	resp := remoting.NewResponse(req, int16(remoting.Success), "")
	if err != nil {
		code, ok := storedCode(err)
		if !ok {
			return remoting.ErrorResponse(req, storeError(err))
		}
		resp.Code, resp.Remark = int16(code), err.Error()
	}
	var ids []byte
	phy := res.PhysicalOffset
	for i, r := range recs {
		if i > 0 {
			ids = append(ids, ',')
		}
		ids = message.AppendOffsetMsgID(ids, b.cfg.Store.StoreHost, phy)
		phy += int64(r.Size())
	}
	if m := b.cfg.Metrics; m != nil {
		m.Sent(ctx, o.topic, len(recs), int(phy-res.PhysicalOffset), time.Since(o.start))
	}
	rh := protocol.SendMessageResponseHeader{MsgID: string(ids), QueueID: o.qid, QueueOffset: res.QueueOffset, MsgRegion: protocol.DefaultRegion, TraceOn: true}
	if o.half {
		rh.TransactionID = halfTransactionID(recs[0], string(ids))
	}
	resp.Fields = &rh
	return resp
}

// newRecord builds a store record from a send header and one message.
func (b *Broker) newRecord(h *protocol.SendMessageHeader, topic string, qid int32, born netip.AddrPort, flag int32, body []byte, props string) *message.Record {
	return &message.Record{
		Topic: topic, QueueID: qid, Flag: flag, SysFlag: h.SysFlag, BornTimestamp: h.BornTimestamp, BornHost: born,
		ReconsumeTimes: h.ReconsumeTimes, Body: body, Properties: props,
	}
}

// topicForSend finds the topic a send goes to, creating it when allowed: retry topics always,
// others from the default topic (TBW102) when autoCreateTopicEnable is set.
func (b *Broker) topicForSend(ctx context.Context, h *protocol.SendMessageHeader) (topics.Config, error) {
	if err := topics.Validate(h.Topic); err != nil {
		return topics.Config{}, fmt.Errorf("%w: %w", remoting.ErrMessageIllegal, err)
	}
	if protocol.IsNotAllowedSendTopic(h.Topic) {
		return topics.Config{}, fmt.Errorf("%w: sending to the system topic %s is not allowed", remoting.ErrNoPermission, h.Topic)
	}
	tc, ok := b.topics.Get(h.Topic)
	if !ok {
		var created bool
		var err error
		switch {
		case protocol.IsRetryTopic(h.Topic):
			tc, created, err = b.topics.CreateIfAbsent(h.Topic, 1, protocol.PermRead|protocol.PermWrite)
		default:
			def, dok := b.topics.Get(h.DefaultTopic)
			if !b.cfg.AutoCreateTopicEnable || !dok || def.Perm&protocol.PermInherit == 0 {
				return topics.Config{}, fmt.Errorf("%w: topic[%s] not exist, apply first please!", remoting.ErrTopicNotExist, h.Topic)
			}
			n := min(max(h.DefaultTopicQueueNums, 1), def.WriteQueueNums)
			tc, created, err = b.topics.CreateIfAbsent(h.Topic, n, def.Perm&^protocol.PermInherit)
		}
		if err != nil {
			return topics.Config{}, fmt.Errorf("%w: %w", remoting.ErrMessageIllegal, err)
		}
		if created {
			b.log.Info("topic created by a send", "topic", h.Topic, "queues", tc.WriteQueueNums)
			b.registerSoon()
		}
	}
	if !protocol.IsWriteable(tc.Perm) {
		return topics.Config{}, fmt.Errorf("%w: the topic %s is not writable", remoting.ErrNoPermission, h.Topic)
	}
	return tc, nil
}

// toDLQIfExhausted sends a message resent to a retry topic (the Java client's own fallback)
// that has been consumed maxReconsumeTimes times to the group's dead-letter topic.
func (b *Broker) toDLQIfExhausted(ctx context.Context, h *protocol.SendMessageHeader, r *message.Record) error {
	if !protocol.IsRetryTopic(r.Topic) {
		return nil
	}
	maxTimes := int32(b.cfg.MaxReconsumeTimes)
	if h.MaxReconsumeTimes != nil && *h.MaxReconsumeTimes >= 0 {
		maxTimes = *h.MaxReconsumeTimes
	}
	if r.ReconsumeTimes < maxTimes {
		return nil
	}
	dlq, created, err := b.topics.CreateIfAbsent(protocol.DLQTopic(protocol.GroupOfRetryTopic(r.Topic)), 1, protocol.PermWrite|protocol.PermRead)
	if err != nil {
		return fmt.Errorf("%w: %w", remoting.ErrSystemError, err)
	}
	if created {
		b.registerSoon()
	}
	r.Topic, r.QueueID = dlq.TopicName, 0
	return nil
}

// storeError maps a store failure to a response code.
func storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrMessageTooLarge), errors.Is(err, store.ErrMessageIllegal), errors.Is(err, store.ErrBadTopic):
		return fmt.Errorf("%w: %w", remoting.ErrMessageIllegal, err)
	case errors.Is(err, store.ErrDiskFull), errors.Is(err, store.ErrClosed):
		return fmt.Errorf("%w: %w", remoting.ErrServiceNotAvailable, err)
	}
	return fmt.Errorf("%w: %w", remoting.ErrSystemError, err)
}

// bornHost is the client's address as an IPv4 ip:port (0.0.0.0:0 if it is not one).
func bornHost(conn *remoting.Conn) netip.AddrPort {
	ap, err := netip.ParseAddrPort(conn.RemoteAddr())
	if err != nil {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// appendProps appends two encoded properties strings to dst, own then more, with a separator
// between them if own lacks one; the result may be at most MaxPropertiesLen bytes.
func appendProps(dst, own, more []byte) ([]byte, error) {
	out := append(dst, own...)
	if len(out) > 0 && out[len(out)-1] != message.PropertySeparator {
		out = append(out, message.PropertySeparator)
	}
	out = append(out, more...)
	if len(out) > message.MaxPropertiesLen {
		return nil, fmt.Errorf("properties of %d bytes, at most %d", len(out), message.MaxPropertiesLen)
	}
	return out, nil
}
