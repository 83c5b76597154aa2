package transaction

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
)

// Names (wire and stored format, never change).
const (
	// HalfTopic holds half messages, OpTopic the op records, CheckMaxTopic the half messages
	// discarded after transactionCheckMax checks.
	HalfTopic     = protocol.TransHalfTopic
	OpTopic       = protocol.TransOpHalfTopic
	CheckMaxTopic = protocol.TransCheckMaxTimeTopic
	// CheckGroup is the system consumer group whose offsets on HalfTopic and OpTopic are the
	// check loop's progress (RocketMQ's CID_RMQ_SYS_TRANS).
	CheckGroup = "CID_RMQ_SYS_TRANS"
	// OpTag is the TAGS value of op records (RocketMQ's REMOVETAG).
	OpTag = "d"
	// PropertyOutcome is the op-record property naming the outcome (COMMIT, ROLLBACK, DISCARD).
	PropertyOutcome = "TRAN_OUTCOME"
)

// Errors of End. A *ResolvedError reports a transaction resolved otherwise before.
var (
	// ErrNoHalf: no half message at the request's commitLogOffset.
	ErrNoHalf = errors.New("transaction: no half message at that commit log offset")
	// ErrMismatch: the half message's producer group or queue offset differ from the request's.
	ErrMismatch = errors.New("transaction: the request does not match the half message")
)

// ResolvedError is End's answer for a transaction that was already resolved in a way the
// request contradicts (or whose outcome is no longer known).
type ResolvedError struct {
	Origin  int64   // the transaction's origin (see the package doc)
	Outcome Outcome // Committed, RolledBack, Discarded or Resolved
}

func (e *ResolvedError) Error() string {
	how := map[Outcome]string{Committed: "committed", RolledBack: "rolled back", Discarded: "discarded after too many checks"}[e.Outcome]
	if how == "" {
		how = "resolved"
	}
	return fmt.Sprintf("transaction: the transaction of half message %d was already %s", e.Origin, how)
}

// IsHalf reports whether a send's properties ask for a half message (TRAN_MSG=true; Java
// parses the value as a boolean, ignoring case).
func IsHalf(props []byte) bool {
	v, ok := message.Property(props, message.PropertyTransactionPrepared)
	return ok && strings.EqualFold(string(v), "true")
}

// Prepare turns a record bound for its real topic and queue into a half message (see the
// package doc). producerGroup (the send header's) becomes PGROUP if the producer left it out.
func Prepare(r *message.Record, producerGroup string) error {
	var set []string
	if _, ok := message.Property([]byte(r.Properties), message.PropertyProducerGroup); !ok && producerGroup != "" {
		set = append(set, message.PropertyProducerGroup, producerGroup)
	}
	// The properties the broker owns on half messages go, whatever the producer wrote there.
	drop := []string{message.PropertyTranPreparedQueueOffset, message.PropertyTransactionCheckTimes}
	if err := message.Park(r, HalfTopic, 0, drop, set...); err != nil {
		return fmt.Errorf("transaction: %w", err)
	}
	r.SysFlag &^= message.TxMask
	return nil
}

// halfOf reads what the check loop needs from the copy at queue offset offset.
func halfOf(offset int64, v message.View) Half {
	h := Half{Offset: offset, Origin: offset, BornTimestamp: v.BornTimestamp()}
	for k, val := range message.Pairs(v.Properties()) {
		switch string(k) {
		case message.PropertyTranPreparedQueueOffset:
			if o, err := strconv.ParseInt(string(val), 10, 64); err == nil && o >= 0 && o <= offset {
				h.Origin = o
			}
		case message.PropertyTransactionCheckTimes:
			if n, err := strconv.Atoi(string(val)); err == nil && n >= 0 {
				h.CheckTimes = n
			}
		case message.PropertyCheckImmunityTimeInSeconds:
			if n, err := strconv.ParseInt(string(val), 10, 64); err == nil && n > 0 {
				h.Immunity = time.Duration(min(n, int64(100*365*24*3600))) * time.Second
			}
		}
	}
	return h
}

// renewRecord is the copy re-appended for a check (checkTimes one more than h's) or a deferral
// (checkTimes unchanged). Its body aliases v.
func renewRecord(v message.View, h Half, checkTimes int) (*message.Record, error) {
	set := []string{message.PropertyTranPreparedQueueOffset, strconv.FormatInt(h.Origin, 10)}
	if checkTimes > 0 {
		set = append(set, message.PropertyTransactionCheckTimes, strconv.Itoa(checkTimes))
	}
	p, err := message.EditProperties(v.Properties(), []string{message.PropertyTranPreparedQueueOffset, message.PropertyTransactionCheckTimes}, set...)
	if err != nil {
		return nil, fmt.Errorf("transaction: %w", err)
	}
	return sameMessage(v, HalfTopic, 0, string(p)), nil
}

// commitRecord is the real message a commit delivers. Its body aliases v.
func commitRecord(v message.View) (*message.Record, error) {
	r, err := message.Unpark(v, []string{message.PropertyRealTopic, message.PropertyRealQueueID, message.PropertyTransactionPrepared})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoHalf, err)
	}
	r.SysFlag = r.SysFlag&^message.TxMask | message.TxCommit
	r.PreparedTransactionOffset = v.PhysicalOffset()
	return r, nil
}

// discardRecord is the copy moved to CheckMaxTopic. Its body aliases v.
func discardRecord(v message.View) *message.Record {
	return sameMessage(v, CheckMaxTopic, 0, string(v.Properties()))
}

// sameMessage copies v's message fields into a new record for topic and queue, with
// transaction type 0. The store fills the rest.
func sameMessage(v message.View, topic string, qid int32, props string) *message.Record {
	return &message.Record{
		Topic: topic, QueueID: qid, Flag: v.Flag(), SysFlag: v.SysFlag() &^ message.TxMask,
		BornTimestamp: v.BornTimestamp(), BornHost: v.BornHost(), ReconsumeTimes: v.ReconsumeTimes(),
		Body: v.Body(), Properties: props,
	}
}

// opRecord is the op record resolving origin with outcome o.
func opRecord(origin int64, o Outcome, now time.Time, host netip.AddrPort) *message.Record {
	p, _ := message.AppendProperties(nil, map[string]string{message.PropertyTags: OpTag, PropertyOutcome: o.String()})
	return &message.Record{
		Topic: OpTopic, BornTimestamp: now.UnixMilli(), BornHost: host,
		Body: strconv.AppendInt(nil, origin, 10), Properties: string(p),
	}
}

// parseOp reads an op record: the origin it resolves and how. ok is false for a record that is
// not an op record.
func parseOp(v message.View) (origin int64, o Outcome, ok bool) {
	if tag, _ := message.Property(v.Properties(), message.PropertyTags); string(tag) != OpTag {
		return 0, 0, false
	}
	origin, err := strconv.ParseInt(string(v.Body()), 10, 64)
	if err != nil || origin < 0 {
		return 0, 0, false
	}
	how, _ := message.Property(v.Properties(), PropertyOutcome)
	return origin, parseOutcome(string(how)), true
}

// CheckRequest asks whoever decides a transaction's outcome about it. The producer answers
// later, with END_TRANSACTION naming QueueOffset and PhysicalOffset.
type CheckRequest struct {
	ProducerGroup  string
	QueueOffset    int64  // tranStateTableOffset: the queue offset of the copy just appended
	PhysicalOffset int64  // commitLogOffset: that copy's physical offset
	UniqKey        string // UNIQ_KEY, the producer's message id
	OffsetMsgID    string // that copy's offset message id
	// Record is that copy with its real topic and queue id, as CHECK_TRANSACTION_STATE's body
	// carries it. Its body aliases store memory that is valid only during the call.
	Record message.Record
}

// checkRequest describes the copy r (as the store filled it in) for the Checker. ok is false
// if r does not name its real topic and queue.
func checkRequest(r *message.Record) (req CheckRequest, ok bool) {
	props := []byte(r.Properties)
	pg, _ := message.Property(props, message.PropertyProducerGroup)
	uniq, _ := message.Property(props, message.PropertyUniqKey)
	topic, _ := message.Property(props, message.PropertyRealTopic)
	q, _ := message.Property(props, message.PropertyRealQueueID)
	qid, err := strconv.ParseInt(string(q), 10, 32)
	if len(topic) == 0 || err != nil || qid < 0 {
		return CheckRequest{}, false
	}
	rec := *r
	rec.Topic, rec.QueueID = string(topic), int32(qid)
	return CheckRequest{
		ProducerGroup: string(pg), QueueOffset: r.QueueOffset, PhysicalOffset: r.PhysicalOffset,
		UniqKey: string(uniq), OffsetMsgID: message.OffsetMsgID(r.StoreHost, r.PhysicalOffset), Record: rec,
	}, true
}
