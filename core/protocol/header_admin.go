package protocol

// CreateTopicHeader is the request header of UPDATE_AND_CREATE_TOPIC (17).
type CreateTopicHeader struct {
	Topic           string          // req
	DefaultTopic    string          // req
	ReadQueueNums   int32           // req
	WriteQueueNums  int32           // req
	Perm            int32           // req
	TopicFilterType TopicFilterType // req: SINGLE_TAG or MULTI_TAG
	TopicSysFlag    int32
	Order           bool // req
}

// Decode reads the header from extFields. Like Java's checkFields it rejects an unknown
// topicFilterType.
func (h *CreateTopicHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = CreateTopicHeader{
		Topic:           r.str("topic", true),
		DefaultTopic:    r.str("defaultTopic", true),
		ReadQueueNums:   r.int32("readQueueNums", true),
		WriteQueueNums:  r.int32("writeQueueNums", true),
		Perm:            r.int32("perm", true),
		TopicFilterType: TopicFilterType(r.str("topicFilterType", true)),
		TopicSysFlag:    r.int32("topicSysFlag", false),
		Order:           r.bool("order", true),
	}
	if r.err == nil && h.TopicFilterType != SingleTag && h.TopicFilterType != MultiTag {
		r.fail("topicFilterType", string(h.TopicFilterType), "SINGLE_TAG or MULTI_TAG", ErrInvalidField)
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *CreateTopicHeader) Encode() map[string]string {
	return map[string]string{
		"topic":           h.Topic,
		"defaultTopic":    h.DefaultTopic,
		"readQueueNums":   i32s(h.ReadQueueNums),
		"writeQueueNums":  i32s(h.WriteQueueNums),
		"perm":            i32s(h.Perm),
		"topicFilterType": string(h.TopicFilterType),
		"topicSysFlag":    i32s(h.TopicSysFlag),
		"order":           bools(h.Order),
	}
}

// GetConsumeStatsHeader is the request header of GET_CONSUME_STATS (208).
type GetConsumeStatsHeader struct {
	ConsumerGroup string // req
	Topic         string // "" = every topic the group subscribes to
}

// Decode reads the header from extFields.
func (h *GetConsumeStatsHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = GetConsumeStatsHeader{ConsumerGroup: r.str("consumerGroup", true), Topic: r.str("topic", false)}
	return r.err
}

// Encode returns the header as extFields.
func (h *GetConsumeStatsHeader) Encode() map[string]string {
	m := map[string]string{"consumerGroup": h.ConsumerGroup}
	putOpt(m, "topic", h.Topic)
	return m
}

// GetConsumerRunningInfoHeader is the header of GET_CONSUMER_RUNNING_INFO (307): admin →
// broker, which forwards it to the client.
type GetConsumerRunningInfoHeader struct {
	ConsumerGroup string // req
	ClientID      string // req ("clientId")
	JstackEnable  bool
}

// Decode reads the header from extFields.
func (h *GetConsumerRunningInfoHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = GetConsumerRunningInfoHeader{
		ConsumerGroup: r.str("consumerGroup", true),
		ClientID:      r.str("clientId", true),
		JstackEnable:  r.bool("jstackEnable", false),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *GetConsumerRunningInfoHeader) Encode() map[string]string {
	return map[string]string{
		"consumerGroup": h.ConsumerGroup,
		"clientId":      h.ClientID,
		"jstackEnable":  bools(h.JstackEnable),
	}
}

// ConsumeMessageDirectlyHeader is the header of CONSUME_MESSAGE_DIRECTLY (309), broker →
// client. Body: one record.
type ConsumeMessageDirectlyHeader struct {
	ConsumerGroup string // req
	ClientID      string // req ("clientId")
	MsgID         string
	BrokerName    string
}

// Decode reads the header from extFields.
func (h *ConsumeMessageDirectlyHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = ConsumeMessageDirectlyHeader{
		ConsumerGroup: r.str("consumerGroup", true),
		ClientID:      r.str("clientId", true),
		MsgID:         r.str("msgId", false),
		BrokerName:    r.str("brokerName", false),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *ConsumeMessageDirectlyHeader) Encode() map[string]string {
	m := map[string]string{"consumerGroup": h.ConsumerGroup, "clientId": h.ClientID}
	putOpt(m, "msgId", h.MsgID)
	putOpt(m, "brokerName", h.BrokerName)
	return m
}

// ResetOffsetHeader is the header of RESET_CONSUMER_CLIENT_OFFSET (220), broker → client.
// Body: ResetOffsetBody.
type ResetOffsetHeader struct {
	Topic     string // req
	Group     string // req
	Timestamp int64  // req
	IsForce   bool   // req
}

// Decode reads the header from extFields.
func (h *ResetOffsetHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = ResetOffsetHeader{
		Topic:     r.str("topic", true),
		Group:     r.str("group", true),
		Timestamp: r.int64("timestamp", true),
		IsForce:   r.bool("isForce", true),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *ResetOffsetHeader) Encode() map[string]string {
	return map[string]string{
		"topic":     h.Topic,
		"group":     h.Group,
		"timestamp": i64s(h.Timestamp),
		"isForce":   bools(h.IsForce),
	}
}

// GetConsumerStatusHeader is the header of GET_CONSUMER_STATUS_FROM_CLIENT (221), broker →
// client.
type GetConsumerStatusHeader struct {
	Topic      string // req
	Group      string // req
	ClientAddr string
}

// Decode reads the header from extFields.
func (h *GetConsumerStatusHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = GetConsumerStatusHeader{
		Topic:      r.str("topic", true),
		Group:      r.str("group", true),
		ClientAddr: r.str("clientAddr", false),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *GetConsumerStatusHeader) Encode() map[string]string {
	m := map[string]string{"topic": h.Topic, "group": h.Group}
	putOpt(m, "clientAddr", h.ClientAddr)
	return m
}
