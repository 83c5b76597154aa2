package protocol

// TRACE_MESSAGE (remoting.TraceMessage, 10001) is Tern's own request, not RocketMQ's: the life
// of one message as the broker's records tell it. The request carries a TraceMessageHeader
// and no body; the answer is SUCCESS with a MessageTrace as its JSON body, or QUERY_NOT_FOUND
// when the broker holds no record of the message. `tern admin trace` sends it to every master
// broker of the cluster and merges the answers. The JSON below is Tern's format: keys may be
// added, never renamed.

// TraceMessageHeader is the request header of TRACE_MESSAGE. Exactly one of MsgID and Key is
// set.
type TraceMessageHeader struct {
	// MsgID is the client's message id (UNIQ_KEY) or the offset message id (store host and
	// CommitLog offset) the send response carried.
	MsgID string
	// Key is a KEYS value: every message of Topic carrying it is traced (at most MaxNum).
	Key string
	// Topic is required with Key; with MsgID it narrows the search to that topic (and the
	// system, retry and dead-letter topics where copies of the message live).
	Topic string
	// MaxNum bounds a Key search; 0 means DefaultTraceMaxNum.
	MaxNum int32
}

// DefaultTraceMaxNum is how many messages a Key search traces when MaxNum is 0.
const DefaultTraceMaxNum = 16

// Decode reads the header from extFields.
func (h *TraceMessageHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = TraceMessageHeader{MsgID: r.str("msgId", false), Key: r.str("key", false), Topic: r.str("topic", false), MaxNum: r.int32("maxNum", false)}
	switch {
	case r.err != nil:
	case h.MsgID == "" && h.Key == "":
		r.fail("msgId", "", "set (or key)", ErrMissingField)
	case h.MsgID != "" && h.Key != "":
		r.fail("key", h.Key, "absent when msgId is set", ErrInvalidField)
	case h.Key != "" && h.Topic == "":
		r.fail("topic", "", "set with key", ErrMissingField)
	case h.MaxNum < 0:
		r.fail("maxNum", i32s(h.MaxNum), "a non-negative int32", ErrInvalidField)
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *TraceMessageHeader) Encode() map[string]string {
	m := map[string]string{}
	putOpt(m, "msgId", h.MsgID)
	putOpt(m, "key", h.Key)
	putOpt(m, "topic", h.Topic)
	if h.MaxNum > 0 {
		m["maxNum"] = i32s(h.MaxNum)
	}
	return m
}

// MessageTrace is the body of TRACE_MESSAGE's answer: what one broker's records say about the
// messages asked for. Times are ms since the epoch, on the broker's clock.
type MessageTrace struct {
	BrokerName string `json:"brokerName"`
	BrokerAddr string `json:"brokerAddr"`
	Now        int64  `json:"now"`
	// PullsSince is when the broker started: the pull records (TracePull) reach back to it.
	PullsSince int64         `json:"pullsSince"`
	Messages   []MessageLife `json:"messages"`
	// Notes say what could not be looked up (the message index disabled, …).
	Notes []string `json:"notes,omitempty"`
}

// MessageLife is every record a broker holds of one message (one UNIQ_KEY).
type MessageLife struct {
	// MsgID is the UNIQ_KEY, or the offset message id of a record that has none.
	MsgID string `json:"msgId"`
	// Topic is the topic the message was sent to.
	Topic string `json:"topic"`
	// TraceID is the W3C trace id of its traceparent property: open it in the tracing backend.
	TraceID string `json:"traceId,omitempty"`
	// Records are its stored copies in CommitLog (store) order.
	Records     []TracedRecord    `json:"records"`
	Transaction *TraceTransaction `json:"transaction,omitempty"`
}

// Roles of a TracedRecord.
const (
	TraceRoleMessage    = "message"   // in the topic it was sent to, consumable
	TraceRoleHalf       = "half"      // a half message of a transaction (RMQ_SYS_TRANS_HALF_TOPIC)
	TraceRoleDelay      = "delay"     // waiting for a DELAY level in SCHEDULE_TOPIC_XXXX
	TraceRoleTimer      = "timer"     // waiting in the timing wheel's inbox (rmq_sys_wheel_timer)
	TraceRoleRetry      = "retry"     // a consumer retry in %RETRY%<group>
	TraceRoleDeadLetter = "dlq"       // dead-lettered in %DLQ%<group>
	TraceRoleDiscarded  = "discarded" // a half message never resolved (TRANS_CHECK_MAX_TIME_TOPIC)
)

// TracedRecord is one stored copy of a message.
type TracedRecord struct {
	Role            string `json:"role"`
	Topic           string `json:"topic"`
	QueueID         int32  `json:"queueId"`
	QueueOffset     int64  `json:"queueOffset"`
	CommitLogOffset int64  `json:"commitLogOffset"`
	OffsetMsgID     string `json:"offsetMsgId"`
	StoreHost       string `json:"storeHost"`
	StoreTime       int64  `json:"storeTime"`
	BornHost        string `json:"bornHost"`
	BornTime        int64  `json:"bornTime"`
	Size            int    `json:"size"`
	Tags            string `json:"tags,omitempty"`
	Keys            string `json:"keys,omitempty"`
	ReconsumeTimes  int32  `json:"reconsumeTimes"`
	// Group is the consumer group of a retry or dead-letter copy.
	Group string `json:"group,omitempty"`
	// TimerOut is the time a copy fired by the timing wheel was due (TIMER_OUT_MS).
	TimerOut int64 `json:"timerOut,omitempty"`
	// Wait describes a delay or timer copy: when it is due and whether it fired.
	Wait *TraceWait `json:"wait,omitempty"`
	// Groups are the consumer groups of a consumable copy: subscribers and groups with offsets.
	Groups []TraceGroup `json:"groups,omitempty"`
}

// States of a TraceWait.
const (
	TraceWaiting   = "waiting"
	TraceFired     = "fired"
	TraceCancelled = "cancelled"
)

// TraceWait is the timing of a waiting copy.
type TraceWait struct {
	// Destination is the topic the copy is delivered to (REAL_TOPIC).
	Destination string `json:"destination"`
	// Level is the DELAY level of a delay copy.
	Level int `json:"level,omitempty"`
	// Due is when it is delivered; 0 when a scheduler plugin decides and has not fired it yet.
	Due   int64  `json:"due,omitempty"`
	State string `json:"state"`
	// FiredAt is the store time of the delivered copy.
	FiredAt int64 `json:"firedAt,omitempty"`
}

// TraceGroup is a consumer group's progress on the queue of one copy.
type TraceGroup struct {
	Group string `json:"group"`
	// Subscription is the expression the group's live members subscribe with ("" when none of
	// them subscribes to the topic).
	Subscription   string `json:"subscription,omitempty"`
	ExpressionType string `json:"expressionType,omitempty"`
	MessageModel   string `json:"messageModel,omitempty"`
	// Online are the client ids of the group's live members.
	Online []string `json:"online,omitempty"`
	// CommittedOffset is the group's committed offset on the queue, -1 when it has none.
	CommittedOffset int64 `json:"committedOffset"`
	// Consumed: the committed offset has passed the copy.
	Consumed bool `json:"consumed"`
	// LockedBy is the client holding the queue's lock (orderly consumers).
	LockedBy string `json:"lockedBy,omitempty"`
	// Pulls are the last pull with messages of each client of the group on the queue since
	// the broker started (MessageTrace.PullsSince).
	Pulls []TracePull `json:"pulls,omitempty"`
}

// TracePull is a client's last pull response with messages on a queue.
type TracePull struct {
	ClientID   string `json:"clientId"`
	RemoteAddr string `json:"remoteAddr"`
	At         int64  `json:"at"`
	// From and Next bound the queue offsets the response covered: [From, Next). Messages in
	// the range that the group's filter did not match were skipped, not delivered.
	From int64 `json:"from"`
	Next int64 `json:"next"`
	// Delivered: the copy lies in [From, Next). PulledPast: Next is past the copy, so the
	// client (or an earlier holder of the queue) was sent it.
	Delivered  bool `json:"delivered"`
	PulledPast bool `json:"pulledPast"`
}

// States of a TraceTransaction.
const (
	TraceTxPending    = "pending"
	TraceTxCommitted  = "committed"
	TraceTxRolledBack = "rolled back"
	TraceTxDiscarded  = "discarded"
	TraceTxResolved   = "resolved" // resolved so long ago that the outcome is no longer kept
)

// TraceTransaction is the state of a transactional message.
type TraceTransaction struct {
	ProducerGroup string `json:"producerGroup"`
	// HalfOffset is the transaction's origin: the half-topic queue offset of its first copy.
	HalfOffset int64 `json:"halfOffset"`
	// Checks is how many times the broker asked the producer about it.
	Checks int    `json:"checks"`
	State  string `json:"state"`
}
