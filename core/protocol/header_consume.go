package protocol

import "github.com/ternmq/tern/core/remoting"

// PullMessageHeader is the request header of PULL_MESSAGE (11).
type PullMessageHeader struct {
	ConsumerGroup        string // req
	Topic                string // req
	QueueID              int32  // req
	QueueOffset          int64  // req: logical offset to start at
	MaxMsgNums           int32  // req; treat <= 0 as 1
	SysFlag              int32  // req: PullFlag* bits
	CommitOffset         int64  // req: offset to store when PullFlagCommitOffset is set
	SuspendTimeoutMillis int64  // req: long-poll hold time
	Subscription         string // expression, used when PullFlagSubscription is set
	SubVersion           int64  // req
	ExpressionType       string // TAG (default) or SQL92
}

// Decode reads the header from extFields.
func (h *PullMessageHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = PullMessageHeader{
		ConsumerGroup:        r.str("consumerGroup", true),
		Topic:                r.str("topic", true),
		QueueID:              r.int32("queueId", true),
		QueueOffset:          r.int64("queueOffset", true),
		MaxMsgNums:           r.int32("maxMsgNums", true),
		SysFlag:              r.int32("sysFlag", true),
		CommitOffset:         r.int64("commitOffset", true),
		SuspendTimeoutMillis: r.int64("suspendTimeoutMillis", true),
		Subscription:         r.str("subscription", false),
		SubVersion:           r.int64("subVersion", true),
		ExpressionType:       r.str("expressionType", false),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *PullMessageHeader) Encode() map[string]string { return remoting.FieldsOf(h) }

// WriteFields writes the header's extFields without a map (Command.Fields): a consumer sends one
// per pull. Keys go in sorted order, which lets a receiver's Lookup stop at the first match.
func (h *PullMessageHeader) WriteFields(w *remoting.FieldAppender) {
	w.Int("commitOffset", h.CommitOffset)
	w.String("consumerGroup", h.ConsumerGroup)
	if h.ExpressionType != "" {
		w.String("expressionType", h.ExpressionType)
	}
	w.Int("maxMsgNums", int64(h.MaxMsgNums))
	w.Int("queueId", int64(h.QueueID))
	w.Int("queueOffset", h.QueueOffset)
	w.Int("subVersion", h.SubVersion)
	if h.Subscription != "" {
		w.String("subscription", h.Subscription)
	}
	w.Int("suspendTimeoutMillis", h.SuspendTimeoutMillis)
	w.Int("sysFlag", int64(h.SysFlag))
	w.String("topic", h.Topic)
}

// PullMessageResponseHeader is the response header of PULL_MESSAGE. Send all four fields with
// every code (0, 19, 20, 21): a missing nextBeginOffset resets a Go consumer to 0.
type PullMessageResponseHeader struct {
	SuggestWhichBrokerID int64 // req; 0 = master
	NextBeginOffset      int64 // req
	MinOffset            int64 // req
	MaxOffset            int64 // req
}

// Decode reads the header from extFields.
func (h *PullMessageResponseHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = PullMessageResponseHeader{
		SuggestWhichBrokerID: r.int64("suggestWhichBrokerId", true),
		NextBeginOffset:      r.int64("nextBeginOffset", true),
		MinOffset:            r.int64("minOffset", true),
		MaxOffset:            r.int64("maxOffset", true),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *PullMessageResponseHeader) Encode() map[string]string { return remoting.FieldsOf(h) }

// WriteFields writes the header's extFields without a map (Command.Fields), keys sorted.
func (h *PullMessageResponseHeader) WriteFields(w *remoting.FieldAppender) {
	w.Int("maxOffset", h.MaxOffset)
	w.Int("minOffset", h.MinOffset)
	w.Int("nextBeginOffset", h.NextBeginOffset)
	w.Int("suggestWhichBrokerId", h.SuggestWhichBrokerID)
}

// ConsumerOffsetHeader is the request header of QUERY_CONSUMER_OFFSET (14, CommitOffset unused)
// and UPDATE_CONSUMER_OFFSET (15).
type ConsumerOffsetHeader struct {
	ConsumerGroup string // req
	Topic         string // req
	QueueID       int32  // req
	CommitOffset  int64  // req for 15: the next offset to consume
}

// DecodeQuery reads a QUERY_CONSUMER_OFFSET header.
func (h *ConsumerOffsetHeader) DecodeQuery(fields FieldSource) error {
	return h.decode(fields, false)
}

// DecodeUpdate reads an UPDATE_CONSUMER_OFFSET header.
func (h *ConsumerOffsetHeader) DecodeUpdate(fields FieldSource) error {
	return h.decode(fields, true)
}

func (h *ConsumerOffsetHeader) decode(fields FieldSource, update bool) error {
	r := fieldReader{fields: fields}
	*h = ConsumerOffsetHeader{
		ConsumerGroup: r.str("consumerGroup", true),
		Topic:         r.str("topic", true),
		QueueID:       r.int32("queueId", true),
	}
	if update {
		h.CommitOffset = r.int64("commitOffset", true)
	}
	return r.err
}

// EncodeQuery returns a QUERY_CONSUMER_OFFSET header.
func (h *ConsumerOffsetHeader) EncodeQuery() map[string]string {
	return map[string]string{"consumerGroup": h.ConsumerGroup, "topic": h.Topic, "queueId": i32s(h.QueueID)}
}

// EncodeUpdate returns an UPDATE_CONSUMER_OFFSET header.
func (h *ConsumerOffsetHeader) EncodeUpdate() map[string]string {
	m := h.EncodeQuery()
	m["commitOffset"] = i64s(h.CommitOffset)
	return m
}

// TopicQueueHeader is the request header of GET_MAX_OFFSET (30), GET_MIN_OFFSET (31) and
// GET_EARLIEST_MSG_STORETIME (32).
type TopicQueueHeader struct {
	Topic   string // req
	QueueID int32  // req
}

// Decode reads the header from extFields.
func (h *TopicQueueHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = TopicQueueHeader{Topic: r.str("topic", true), QueueID: r.int32("queueId", true)}
	return r.err
}

// Encode returns the header as extFields.
func (h *TopicQueueHeader) Encode() map[string]string {
	return map[string]string{"topic": h.Topic, "queueId": i32s(h.QueueID)}
}

// SearchOffsetHeader is the request header of SEARCH_OFFSET_BY_TIMESTAMP (29).
type SearchOffsetHeader struct {
	Topic     string // req
	QueueID   int32  // req
	Timestamp int64  // req, ms
}

// Decode reads the header from extFields.
func (h *SearchOffsetHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = SearchOffsetHeader{
		Topic:     r.str("topic", true),
		QueueID:   r.int32("queueId", true),
		Timestamp: r.int64("timestamp", true),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *SearchOffsetHeader) Encode() map[string]string {
	return map[string]string{"topic": h.Topic, "queueId": i32s(h.QueueID), "timestamp": i64s(h.Timestamp)}
}

// OffsetResponseHeader is the response header of QUERY_CONSUMER_OFFSET (14),
// SEARCH_OFFSET_BY_TIMESTAMP (29), GET_MAX_OFFSET (30) and GET_MIN_OFFSET (31).
type OffsetResponseHeader struct {
	Offset int64 // req
}

// Decode reads the header from extFields.
func (h *OffsetResponseHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	h.Offset = r.int64("offset", true)
	return r.err
}

// Encode returns the header as extFields.
func (h *OffsetResponseHeader) Encode() map[string]string {
	return map[string]string{"offset": i64s(h.Offset)}
}

// EarliestMsgStoretimeResponseHeader is the response header of GET_EARLIEST_MSG_STORETIME (32).
type EarliestMsgStoretimeResponseHeader struct {
	Timestamp int64 // req, ms
}

// Decode reads the header from extFields.
func (h *EarliestMsgStoretimeResponseHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	h.Timestamp = r.int64("timestamp", true)
	return r.err
}

// Encode returns the header as extFields.
func (h *EarliestMsgStoretimeResponseHeader) Encode() map[string]string {
	return map[string]string{"timestamp": i64s(h.Timestamp)}
}

// ViewMessageHeader is the request header of VIEW_MESSAGE_BY_ID (33).
type ViewMessageHeader struct {
	Offset int64 // req: commit-log offset, decoded from an offset message id
}

// Decode reads the header from extFields.
func (h *ViewMessageHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	h.Offset = r.int64("offset", true)
	return r.err
}

// Encode returns the header as extFields.
func (h *ViewMessageHeader) Encode() map[string]string {
	return map[string]string{"offset": i64s(h.Offset)}
}

// FieldUniqueKeyQuery is the extra QUERY_MESSAGE key saying that key is a UNIQ_KEY.
const FieldUniqueKeyQuery = "_UNIQUE_KEY_QUERY"

// QueryMessageHeader is the request header of QUERY_MESSAGE (12).
type QueryMessageHeader struct {
	Topic          string // req
	Key            string // req
	MaxNum         int32  // req
	BeginTimestamp int64  // req
	EndTimestamp   int64  // req
	// UniqueKeyQuery (_UNIQUE_KEY_QUERY) means Key is a UNIQ_KEY rather than a KEYS entry.
	UniqueKeyQuery bool
}

// Decode reads the header from extFields.
func (h *QueryMessageHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = QueryMessageHeader{
		Topic:          r.str("topic", true),
		Key:            r.str("key", true),
		MaxNum:         r.int32("maxNum", true),
		BeginTimestamp: r.int64("beginTimestamp", true),
		EndTimestamp:   r.int64("endTimestamp", true),
		UniqueKeyQuery: r.bool(FieldUniqueKeyQuery, false),
	}
	return r.err
}

// Encode returns the header as extFields; _UNIQUE_KEY_QUERY only when set.
func (h *QueryMessageHeader) Encode() map[string]string {
	m := map[string]string{
		"topic":          h.Topic,
		"key":            h.Key,
		"maxNum":         i32s(h.MaxNum),
		"beginTimestamp": i64s(h.BeginTimestamp),
		"endTimestamp":   i64s(h.EndTimestamp),
	}
	if h.UniqueKeyQuery {
		m[FieldUniqueKeyQuery] = "true"
	}
	return m
}

// QueryMessageResponseHeader is the response header of QUERY_MESSAGE.
type QueryMessageResponseHeader struct {
	IndexLastUpdateTimestamp int64 // req
	IndexLastUpdatePhyoffset int64 // req
}

// Decode reads the header from extFields.
func (h *QueryMessageResponseHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = QueryMessageResponseHeader{
		IndexLastUpdateTimestamp: r.int64("indexLastUpdateTimestamp", true),
		IndexLastUpdatePhyoffset: r.int64("indexLastUpdatePhyoffset", true),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *QueryMessageResponseHeader) Encode() map[string]string {
	return map[string]string{
		"indexLastUpdateTimestamp": i64s(h.IndexLastUpdateTimestamp),
		"indexLastUpdatePhyoffset": i64s(h.IndexLastUpdatePhyoffset),
	}
}

// UnregisterClientHeader is the request header of UNREGISTER_CLIENT (35).
type UnregisterClientHeader struct {
	ClientID      string // req ("clientID")
	ProducerGroup string
	ConsumerGroup string
}

// Decode reads the header from extFields.
func (h *UnregisterClientHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = UnregisterClientHeader{
		ClientID:      r.str("clientID", true),
		ProducerGroup: r.str("producerGroup", false),
		ConsumerGroup: r.str("consumerGroup", false),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *UnregisterClientHeader) Encode() map[string]string {
	m := map[string]string{"clientID": h.ClientID}
	putOpt(m, "producerGroup", h.ProducerGroup)
	putOpt(m, "consumerGroup", h.ConsumerGroup)
	return m
}

// ConsumerSendMsgBackHeader is the request header of CONSUMER_SEND_MSG_BACK (36).
type ConsumerSendMsgBackHeader struct {
	Offset      int64  // req: commit-log offset of the original record
	Group       string // req
	DelayLevel  int32  // req: 0 = broker picks 3+reconsumeTimes, < 0 = straight to the DLQ
	OriginMsgID string
	OriginTopic string
	UnitMode    bool
	// MaxReconsumeTimes is nil when absent: the broker then uses the group's retryMaxTimes.
	MaxReconsumeTimes *int32
}

// Decode reads the header from extFields.
func (h *ConsumerSendMsgBackHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = ConsumerSendMsgBackHeader{
		Offset:            r.int64("offset", true),
		Group:             r.str("group", true),
		DelayLevel:        r.int32("delayLevel", true),
		OriginMsgID:       r.str("originMsgId", false),
		OriginTopic:       r.str("originTopic", false),
		UnitMode:          r.bool("unitMode", false),
		MaxReconsumeTimes: r.optInt32("maxReconsumeTimes"),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *ConsumerSendMsgBackHeader) Encode() map[string]string {
	m := map[string]string{
		"offset":     i64s(h.Offset),
		"group":      h.Group,
		"delayLevel": i32s(h.DelayLevel),
		"unitMode":   bools(h.UnitMode),
	}
	putOpt(m, "originMsgId", h.OriginMsgID)
	putOpt(m, "originTopic", h.OriginTopic)
	if h.MaxReconsumeTimes != nil {
		m["maxReconsumeTimes"] = i32s(*h.MaxReconsumeTimes)
	}
	return m
}

// ConsumerGroupHeader is the request header of GET_CONSUMER_LIST_BY_GROUP (38),
// NOTIFY_CONSUMER_IDS_CHANGED (40) and GET_CONSUMER_CONNECTION_LIST (203).
type ConsumerGroupHeader struct {
	ConsumerGroup string // req
}

// Decode reads the header from extFields.
func (h *ConsumerGroupHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	h.ConsumerGroup = r.str("consumerGroup", true)
	return r.err
}

// Encode returns the header as extFields.
func (h *ConsumerGroupHeader) Encode() map[string]string {
	return map[string]string{"consumerGroup": h.ConsumerGroup}
}
