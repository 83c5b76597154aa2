package protocol

import "github.com/ternmq/tern/core/remoting"

// Keys of the send header: v1 long keys (SEND_MESSAGE 10, SEND_REPLY_MESSAGE 324) and the
// one-letter v2 keys (SEND_MESSAGE_V2 310, SEND_BATCH_MESSAGE 320, SEND_REPLY_MESSAGE_V2 325).
// Wire format, never change.
var sendKeys = [...]struct{ v1, v2 string }{
	{"producerGroup", "a"},
	{"topic", "b"},
	{"defaultTopic", "c"},
	{"defaultTopicQueueNums", "d"},
	{"queueId", "e"},
	{"sysFlag", "f"},
	{"bornTimestamp", "g"},
	{"flag", "h"},
	{"properties", "i"},
	{"reconsumeTimes", "j"},
	{"unitMode", "k"},
	{"maxReconsumeTimes", "l"},
	{"batch", "m"},
	{"bname", "n"},
}

const (
	skProducerGroup = iota
	skTopic
	skDefaultTopic
	skDefaultTopicQueueNums
	skQueueID
	skSysFlag
	skBornTimestamp
	skFlag
	skProperties
	skReconsumeTimes
	skUnitMode
	skMaxReconsumeTimes
	skBatch
	skBrokerName
)

// v2Names maps each one-letter key to its long name, for error messages.
var v2Names = func() map[string]string {
	m := make(map[string]string, len(sendKeys))
	for _, k := range sendKeys {
		m[k.v2] = k.v1
	}
	return m
}()

// SendMessageHeader is the request header of SEND_MESSAGE (10) and SEND_REPLY_MESSAGE (324)
// with long keys, and of SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and
// SEND_REPLY_MESSAGE_V2 (325) with the one-letter keys 'a'..'n'.
type SendMessageHeader struct {
	ProducerGroup         string // req
	Topic                 string // req
	DefaultTopic          string // req; clients send "TBW102"
	DefaultTopicQueueNums int32  // req
	QueueID               int32  // req; < 0 lets the broker choose
	SysFlag               int32  // req; see core/message SysFlag bits
	BornTimestamp         int64  // req, ms
	Flag                  int32  // req, user flag
	Properties            string // §4.3 properties string
	ReconsumeTimes        int32
	UnitMode              bool
	// MaxReconsumeTimes is nil when absent: the broker then uses the group's retryMaxTimes.
	MaxReconsumeTimes *int32
	Batch             bool
	BrokerName        string // 4.9.8+ ("bname" / "n"), optional
}

// DecodeSendMessage decodes a send header with long keys, or with the one-letter keys if v2.
func DecodeSendMessage(fields FieldSource, v2 bool) (SendMessageHeader, error) {
	key := func(i int) string { return sendKeys[i].v1 }
	r := fieldReader{fields: fields}
	if v2 {
		key = func(i int) string { return sendKeys[i].v2 }
		r.names = v2Names
	}
	h := SendMessageHeader{
		ProducerGroup:         r.str(key(skProducerGroup), true),
		Topic:                 r.str(key(skTopic), true),
		DefaultTopic:          r.str(key(skDefaultTopic), true),
		DefaultTopicQueueNums: r.int32(key(skDefaultTopicQueueNums), true),
		QueueID:               r.int32(key(skQueueID), true),
		SysFlag:               r.int32(key(skSysFlag), true),
		BornTimestamp:         r.int64(key(skBornTimestamp), true),
		Flag:                  r.int32(key(skFlag), true),
		Properties:            r.str(key(skProperties), false),
		ReconsumeTimes:        r.int32(key(skReconsumeTimes), false),
		UnitMode:              r.bool(key(skUnitMode), false),
		MaxReconsumeTimes:     r.optInt32(key(skMaxReconsumeTimes)),
		Batch:                 r.bool(key(skBatch), false),
		BrokerName:            r.str(key(skBrokerName), false),
	}
	return h, r.err
}

// Encode returns the header's fields with long keys, or with the one-letter keys if v2. Like
// the Go client it always writes reconsumeTimes, unitMode and batch; properties,
// maxReconsumeTimes and brokerName only when set.
func (h *SendMessageHeader) Encode(v2 bool) map[string]string {
	return remoting.FieldsOf(h.Fields(v2))
}

// Fields returns the header as a remoting.FieldWriter (Command.Fields): the fields of Encode,
// written straight into the frame.
func (h *SendMessageHeader) Fields(v2 bool) remoting.FieldWriter {
	if v2 {
		return (*sendFieldsV2)(h)
	}
	return (*sendFieldsV1)(h)
}

type (
	sendFieldsV1 SendMessageHeader
	sendFieldsV2 SendMessageHeader
)

func (f *sendFieldsV1) WriteFields(w *remoting.FieldAppender) {
	(*SendMessageHeader)(f).writeFields(w, false)
}

func (f *sendFieldsV2) WriteFields(w *remoting.FieldAppender) {
	(*SendMessageHeader)(f).writeFields(w, true)
}

func (h *SendMessageHeader) writeFields(w *remoting.FieldAppender, v2 bool) {
	k := func(i int) string {
		if v2 {
			return sendKeys[i].v2
		}
		return sendKeys[i].v1
	}
	w.String(k(skProducerGroup), h.ProducerGroup)
	w.String(k(skTopic), h.Topic)
	w.String(k(skDefaultTopic), h.DefaultTopic)
	w.Int(k(skDefaultTopicQueueNums), int64(h.DefaultTopicQueueNums))
	w.Int(k(skQueueID), int64(h.QueueID))
	w.Int(k(skSysFlag), int64(h.SysFlag))
	w.Int(k(skBornTimestamp), h.BornTimestamp)
	w.Int(k(skFlag), int64(h.Flag))
	if h.Properties != "" {
		w.String(k(skProperties), h.Properties)
	}
	w.Int(k(skReconsumeTimes), int64(h.ReconsumeTimes))
	w.Bool(k(skUnitMode), h.UnitMode)
	if h.MaxReconsumeTimes != nil {
		w.Int(k(skMaxReconsumeTimes), int64(*h.MaxReconsumeTimes))
	}
	w.Bool(k(skBatch), h.Batch)
	if h.BrokerName != "" {
		w.String(k(skBrokerName), h.BrokerName)
	}
}

// SendMessageResponseHeader is the response header of every send code (and of codes 10, 11
// and 12, which still mean "stored").
type SendMessageResponseHeader struct {
	MsgID         string // req: the offset message id(s), comma-separated for a batch
	QueueID       int32  // req
	QueueOffset   int64  // req: the first record's consume-queue offset
	TransactionID string
	// MsgRegion (MSG_REGION) and TraceOn (TRACE_ON) are the extra keys the Java broker adds.
	MsgRegion string
	TraceOn   bool
}

// Decode reads the header from extFields.
func (h *SendMessageResponseHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = SendMessageResponseHeader{
		MsgID:         r.str("msgId", true),
		QueueID:       r.int32("queueId", true),
		QueueOffset:   r.int64("queueOffset", true),
		TransactionID: r.str("transactionId", false),
		MsgRegion:     r.str(FieldMsgRegion, false),
		TraceOn:       r.bool(FieldTraceOn, false),
	}
	return r.err
}

// Encode returns the header as extFields. TRACE_ON is always written, as Java does.
func (h *SendMessageResponseHeader) Encode() map[string]string {
	return remoting.FieldsOf(h)
}

// WriteFields writes the header's fields, those of Encode (it is a remoting.FieldWriter).
func (h *SendMessageResponseHeader) WriteFields(w *remoting.FieldAppender) {
	// Keys in sorted order (upper case first), which lets a receiver's Lookup stop at the
	// first match.
	if h.MsgRegion != "" {
		w.String(FieldMsgRegion, h.MsgRegion)
	}
	w.Bool(FieldTraceOn, h.TraceOn)
	w.String("msgId", h.MsgID)
	w.Int("queueId", int64(h.QueueID))
	w.Int("queueOffset", h.QueueOffset)
	if h.TransactionID != "" {
		w.String("transactionId", h.TransactionID)
	}
}

// ReplyMessageHeader is the header of PUSH_REPLY_MESSAGE_TO_CLIENT (326), broker → client:
// the stored reply, pushed to the requester named in REPLY_TO_CLIENT. Body: the reply body.
type ReplyMessageHeader struct {
	ProducerGroup         string // req
	Topic                 string // req
	DefaultTopic          string // req
	DefaultTopicQueueNums int32  // req
	QueueID               int32  // req
	SysFlag               int32  // req
	BornTimestamp         int64  // req
	Flag                  int32  // req
	Properties            string
	ReconsumeTimes        int32
	UnitMode              bool
	BornHost              string // req, "ip:port"
	StoreHost             string // req, "ip:port"
	StoreTimestamp        int64  // req
}

// Decode reads the header from extFields.
func (h *ReplyMessageHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = ReplyMessageHeader{
		ProducerGroup:         r.str("producerGroup", true),
		Topic:                 r.str("topic", true),
		DefaultTopic:          r.str("defaultTopic", true),
		DefaultTopicQueueNums: r.int32("defaultTopicQueueNums", true),
		QueueID:               r.int32("queueId", true),
		SysFlag:               r.int32("sysFlag", true),
		BornTimestamp:         r.int64("bornTimestamp", true),
		Flag:                  r.int32("flag", true),
		Properties:            r.str("properties", false),
		ReconsumeTimes:        r.int32("reconsumeTimes", false),
		UnitMode:              r.bool("unitMode", false),
		BornHost:              r.str("bornHost", true),
		StoreHost:             r.str("storeHost", true),
		StoreTimestamp:        r.int64("storeTimestamp", true),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *ReplyMessageHeader) Encode() map[string]string {
	m := map[string]string{
		"producerGroup":         h.ProducerGroup,
		"topic":                 h.Topic,
		"defaultTopic":          h.DefaultTopic,
		"defaultTopicQueueNums": i32s(h.DefaultTopicQueueNums),
		"queueId":               i32s(h.QueueID),
		"sysFlag":               i32s(h.SysFlag),
		"bornTimestamp":         i64s(h.BornTimestamp),
		"flag":                  i32s(h.Flag),
		"reconsumeTimes":        i32s(h.ReconsumeTimes),
		"unitMode":              bools(h.UnitMode),
		"bornHost":              h.BornHost,
		"storeHost":             h.StoreHost,
		"storeTimestamp":        i64s(h.StoreTimestamp),
	}
	putOpt(m, "properties", h.Properties)
	return m
}
