package client

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// SendBatch sends msgs as one SEND_BATCH_MESSAGE request (§3.6): the broker stores them in one
// queue, in order, as separate messages, and all or none of them. The messages must share one
// topic, and none may be delayed (DelayLevel, DeliverAt) or be a reply, as in RocketMQ. Each
// message gets its own UNIQ_KEY; bodies are not compressed. The encoded batch must fit in
// WithMaxMessageSize (4 MiB), else SendBatch fails with ErrMessageTooLarge before any network
// call. The batch is load-balanced and retried like Send, or ordered by a selector or by the
// first message's ShardingKey.
//
// The result's MsgID and OffsetMsgID list the messages' ids joined by ","; QueueOffset is the
// first message's.
func (p *Producer) SendBatch(ctx context.Context, msgs []*Message, opts ...SendOption) (*SendResult, error) {
	if p.isClosed() {
		return nil, ErrClosed
	}
	var first *Message
	if len(msgs) > 0 {
		first = msgs[0]
	}
	ctx, span := p.startSend(ctx, first, len(msgs))
	o, err := p.encodeBatch(ctx, msgs, p.sendConfig(opts))
	if err != nil {
		endSend(span, nil, nil, err)
		return nil, err
	}
	res, err := p.deliver(ctx, o)
	endSend(span, o, res, err)
	o.pooled.done()
	return res, err
}

// pooledBody is a batch's body in a buffer of the remoting pool. It goes back when the batch is
// done and each request that carried it has been written or dropped (its Release ran): a request
// that timed out may still be queued on a connection while a retry succeeds elsewhere. A request
// that is never released keeps the buffer from the pool, which the collector then takes.
type pooledBody struct {
	buf  *[]byte
	refs atomic.Int32
}

// hold adds a user of the buffer; nil holds nothing.
func (b *pooledBody) hold() {
	if b != nil {
		b.refs.Add(1)
	}
}

// done drops a user of the buffer and gives it back after the last; nil does nothing.
func (b *pooledBody) done() {
	if b != nil && b.refs.Add(-1) == 0 {
		putBuffer(b.buf)
	}
}

// putBuffer gives a pooled body back (a test watches it).
var putBuffer = remoting.PutBuffer

// encodeBatch validates msgs and encodes them into one batch request.
func (p *Producer) encodeBatch(ctx context.Context, msgs []*Message, sc sendConfig) (*outgoing, error) {
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrInvalidMessage)
	}
	if msgs[0] == nil {
		return nil, fmt.Errorf("%w: batch message 0 is nil", ErrInvalidMessage)
	}
	topic := msgs[0].Topic
	if protocol.IsRetryTopic(topic) {
		return nil, fmt.Errorf("%w: batches cannot be sent to the retry topic %s", ErrInvalidMessage, topic)
	}
	// Validate and build the properties first, so that the body is allocated once at its size:
	// growing it message by message copied a batch of 4 KiB bodies several times over.
	props := make([][]byte, len(msgs))
	var ids strings.Builder
	size := 0
	for i, m := range msgs {
		if err := p.check(m); err != nil {
			return nil, fmt.Errorf("batch message %d: %w", i, err)
		}
		switch {
		case m.Topic != topic:
			return nil, fmt.Errorf("%w: batch message %d has topic %s, the batch %s", ErrInvalidMessage, i, m.Topic, topic)
		case m.DelayLevel > 0 || !m.DeliverAt.IsZero():
			return nil, fmt.Errorf("%w: batch message %d is delayed; batches cannot be", ErrInvalidMessage, i)
		case m.Properties[message.PropertyMessageType] == replyMessageType:
			return nil, fmt.Errorf("%w: batch message %d is a reply; replies cannot be batched", ErrInvalidMessage, i)
		}
		pr, uniq, err := p.properties(ctx, m, nil)
		if err != nil {
			return nil, fmt.Errorf("batch message %d: %w", i, err)
		}
		props[i] = pr
		size += message.BatchElementOverhead + len(m.Body) + len(pr)
		if size > p.cfg.maxMessageSize {
			return nil, fmt.Errorf("%w: batch exceeds %d bytes at message %d", ErrMessageTooLarge, p.cfg.maxMessageSize, i)
		}
		if i > 0 {
			ids.WriteByte(',')
		}
		ids.WriteString(uniq)
	}
	var pooled *pooledBody
	var body []byte
	if buf := remoting.GetBuffer(size); buf != nil {
		pooled = &pooledBody{buf: buf}
		pooled.refs.Store(1)
		body = (*buf)[:0]
	} else {
		body = make([]byte, 0, size)
	}
	for i, m := range msgs {
		body = message.AppendBatchElement(body, m.Flag, m.Body, props[i])
	}
	o := &outgoing{
		msg: msgs[0], topic: topic, code: remoting.SendBatchMessage, body: body, batch: true,
		msgIDs: ids.String(), selector: sc.selector, pooled: pooled,
	}
	if o.selector == nil && msgs[0].ShardingKey != "" {
		o.selector = QueueSelectorFunc(selectBySharding)
	}
	return o, nil
}
