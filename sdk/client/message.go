package client

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ternmq/tern/core/message"
)

// Message is a message to send.
type Message struct {
	Topic string
	Body  []byte
	// Tag is the message's tag (the TAGS property), the unit of broker-side TAG filtering.
	// Tern also accepts several tags joined by "||"; RocketMQ brokers see that as one tag.
	Tag string
	// Keys index the message for look-ups by key (the KEYS property).
	Keys []string
	// Properties are user properties. Keys and values must not contain the property
	// separators U+0001 and U+0002.
	Properties map[string]string
	// DelayLevel, 1-18 by default, delays delivery by the broker's messageDelayLevel table.
	DelayLevel int
	// DeliverAt delivers the message at this time (the RocketMQ 5 timer property
	// TIMER_DELIVER_MS). Brokers without a timer deliver it at once.
	DeliverAt time.Time
	// ShardingKey, when set, makes a send ordered: every message with the same key goes to the
	// same queue (ShardingKeySelector), unless a QueueSelector is given (WithQueueSelector).
	ShardingKey string
	// Flag is RocketMQ's opaque message flag.
	Flag int32
}

// Property returns a user property.
func (m *Message) Property(key string) string { return m.Properties[key] }

// SetProperty sets a user property.
func (m *Message) SetProperty(key, value string) {
	if m.Properties == nil {
		m.Properties = make(map[string]string)
	}
	m.Properties[key] = value
}

// validate checks what a broker would refuse, before the message travels.
func (m *Message) validate(maxBody int) error {
	if err := message.ValidateTopic(m.Topic); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	if len(m.Body) == 0 {
		return fmt.Errorf("%w: empty body", ErrInvalidMessage)
	}
	if maxBody > 0 && len(m.Body) > maxBody {
		return fmt.Errorf("%w: body of %d bytes exceeds %d", ErrMessageTooLarge, len(m.Body), maxBody)
	}
	if m.DelayLevel < 0 {
		return fmt.Errorf("%w: negative delay level %d", ErrInvalidMessage, m.DelayLevel)
	}
	return nil
}

// appendProperties appends the message's properties string (§4.3): user properties, then the
// ones the client derives from the fields, then extra (key, value) pairs.
func (m *Message) appendProperties(dst []byte, extra ...string) ([]byte, error) {
	var err error
	if dst, err = message.AppendProperties(dst, m.Properties); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	add := func(k, v string) {
		if err == nil && v != "" {
			dst, err = message.AppendProperty(dst, k, v)
		}
	}
	add(message.PropertyTags, m.Tag)
	add(message.PropertyKeys, strings.Join(m.Keys, " "))
	if m.DelayLevel > 0 {
		add(message.PropertyDelayLevel, strconv.Itoa(m.DelayLevel))
	}
	if !m.DeliverAt.IsZero() {
		add(message.PropertyTimerDeliverMS, strconv.FormatInt(m.DeliverAt.UnixMilli(), 10))
	}
	add(message.PropertyShardingKey, m.ShardingKey)
	for i := 0; i+1 < len(extra); i += 2 {
		add(extra[i], extra[i+1])
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	return dst, nil
}

// MessageExt is a message as stored by a broker: what consumers receive.
type MessageExt struct {
	Message
	// MsgID is the client-assigned unique id (UNIQ_KEY), or OffsetMsgID when there is none.
	MsgID string
	// OffsetMsgID encodes the store host and the CommitLog offset.
	OffsetMsgID string
	BrokerName  string
	QueueID     int32
	QueueOffset int64
	// CommitLogOffset is the record's physical offset in the broker's CommitLog.
	CommitLogOffset int64
	BornHost        netip.AddrPort
	StoreHost       netip.AddrPort
	BornTimestamp   time.Time
	StoreTimestamp  time.Time
	// ReconsumeTimes counts the deliveries that failed before this one.
	ReconsumeTimes            int32
	SysFlag                   int32
	BodyCRC                   uint32
	PreparedTransactionOffset int64
}

// Queue returns the queue the message was read from.
func (m *MessageExt) Queue() MessageQueue {
	return MessageQueue{Topic: m.Topic, BrokerName: m.BrokerName, QueueID: m.QueueID}
}

// maxDecompressed bounds a compressed body's inflated size (a broker accepts 4 MiB bodies; a
// zlib bomb must not take the client's memory).
const maxDecompressed = 64 << 20

// decodeMessages decodes the records of a pull response body. Bodies alias body (a response's
// own buffer, which nothing else uses: no copy on the consume path); compressed bodies are
// inflated; properties become strings.
func decodeMessages(body []byte, brokerName string) ([]*MessageExt, error) {
	var out []*MessageExt
	for len(body) > 0 {
		v, err := message.Parse(body)
		if err != nil {
			return out, fmt.Errorf("decode message %d: %w", len(out), err)
		}
		body = body[v.Size():]
		m, err := messageFromView(v, brokerName)
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
	return out, nil
}

// messageFromView builds a MessageExt from one stored record. Its body aliases v unless it was
// stored compressed: v must be a buffer the message may keep (a received frame's).
func messageFromView(v message.View, brokerName string) (*MessageExt, error) {
	m := &MessageExt{
		BrokerName:                brokerName,
		QueueID:                   v.QueueID(),
		QueueOffset:               v.QueueOffset(),
		CommitLogOffset:           v.PhysicalOffset(),
		BornHost:                  v.BornHost(),
		StoreHost:                 v.StoreHost(),
		BornTimestamp:             time.UnixMilli(v.BornTimestamp()),
		StoreTimestamp:            time.UnixMilli(v.StoreTimestamp()),
		ReconsumeTimes:            v.ReconsumeTimes(),
		SysFlag:                   v.SysFlag(),
		BodyCRC:                   v.BodyCRC(),
		PreparedTransactionOffset: v.PreparedTransactionOffset(),
	}
	m.Topic = string(v.Topic())
	m.Flag = v.Flag()
	m.Properties = message.ParseProperties(v.Properties())
	m.Tag = m.Properties[message.PropertyTags]
	if k := m.Properties[message.PropertyKeys]; k != "" {
		m.Keys = strings.Fields(k)
	}
	m.ShardingKey = m.Properties[message.PropertyShardingKey]
	m.OffsetMsgID = message.OffsetMsgID(m.StoreHost, m.CommitLogOffset)
	m.MsgID = m.Properties[message.PropertyUniqKey]
	if m.MsgID == "" {
		m.MsgID = m.OffsetMsgID
	}
	if m.SysFlag&message.SysFlagCompressed != 0 {
		b, err := message.Inflate(v.Body(), maxDecompressed)
		if err != nil {
			return nil, fmt.Errorf("decompress message %s: %w", m.MsgID, err)
		}
		m.Body = b
	} else {
		m.Body = v.Body() // capacity-limited: an append by the handler never writes past it
	}
	return m, nil
}

// deflater compresses bodies with zlib at one level (as RocketMQ clients do for bodies over the
// compression threshold). It reuses its writers: setting one up costs hundreds of KiB.
type deflater struct {
	level int
	pool  sync.Pool // *zlib.Writer
}

// deflate returns body compressed.
func (d *deflater) deflate(body []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(body) / 2)
	w, _ := d.pool.Get().(*zlib.Writer)
	if w == nil {
		var err error
		if w, err = zlib.NewWriterLevel(&buf, d.level); err != nil {
			return nil, err
		}
	} else {
		w.Reset(&buf)
	}
	if _, err := w.Write(body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	d.pool.Put(w)
	return buf.Bytes(), nil
}

// MessageQueue identifies one queue of a topic on one broker.
type MessageQueue struct {
	Topic      string
	BrokerName string
	QueueID    int32
}

func (q MessageQueue) String() string {
	return fmt.Sprintf("%s@%s#%d", q.Topic, q.BrokerName, q.QueueID)
}
