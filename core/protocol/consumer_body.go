package protocol

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
)

// MessageQueue identifies one queue of a topic on a broker set. Its JSON keys are in
// fastjson's (alphabetical) order.
type MessageQueue struct {
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
	Topic      string `json:"topic"`
}

// Compare orders queues by topic, broker name and queue id, as clients sort them before
// allocating.
func (q MessageQueue) Compare(o MessageQueue) int {
	if c := cmp.Compare(q.Topic, o.Topic); c != 0 {
		return c
	}
	if c := cmp.Compare(q.BrokerName, o.BrokerName); c != 0 {
		return c
	}
	return cmp.Compare(q.QueueID, o.QueueID)
}

// appendJSON appends the queue as compact JSON in fastjson's key order.
func (q MessageQueue) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"brokerName":`...)
	dst = appendJSONString(dst, q.BrokerName)
	dst = append(dst, `,"queueId":`...)
	dst = strconv.AppendInt(dst, int64(q.QueueID), 10)
	dst = append(dst, `,"topic":`...)
	dst = appendJSONString(dst, q.Topic)
	return append(dst, '}')
}

// ConsumerListBody is the body of a GET_CONSUMER_LIST_BY_GROUP (38) response.
type ConsumerListBody struct {
	ConsumerIDList []string `json:"consumerIdList"`
}

// MarshalJSON implements json.Marshaler: consumerIdList is an array, never null.
func (c ConsumerListBody) MarshalJSON() ([]byte, error) {
	type plain ConsumerListBody
	return json.Marshal(plain{ConsumerIDList: nonNil(c.ConsumerIDList)})
}

// LockBatchRequestBody is the body of LOCK_BATCH_MQ (41).
type LockBatchRequestBody struct {
	ClientID      string         `json:"clientId"`
	ConsumerGroup string         `json:"consumerGroup"`
	MQSet         []MessageQueue `json:"mqSet"`
}

// MarshalJSON implements json.Marshaler: mqSet is an array, never null.
func (b LockBatchRequestBody) MarshalJSON() ([]byte, error) {
	type plain LockBatchRequestBody
	p := plain(b)
	p.MQSet = nonNil(p.MQSet)
	return json.Marshal(p)
}

// UnlockBatchRequestBody is the body of UNLOCK_BATCH_MQ (42); same shape as the lock request.
type UnlockBatchRequestBody LockBatchRequestBody

// MarshalJSON implements json.Marshaler: mqSet is an array, never null.
func (b UnlockBatchRequestBody) MarshalJSON() ([]byte, error) {
	return LockBatchRequestBody(b).MarshalJSON()
}

// LockBatchResponseBody is the body of a LOCK_BATCH_MQ response: the queues the client now
// holds, newly locked or renewed.
type LockBatchResponseBody struct {
	LockOKMQSet []MessageQueue `json:"lockOKMQSet"`
}

// MarshalJSON implements json.Marshaler: lockOKMQSet is an array, never null.
func (b LockBatchResponseBody) MarshalJSON() ([]byte, error) {
	type plain LockBatchResponseBody
	return json.Marshal(plain{LockOKMQSet: nonNil(b.LockOKMQSet)})
}

// Connection is one client connection of a consumer group.
type Connection struct {
	ClientAddr string `json:"clientAddr"`
	ClientID   string `json:"clientId"`
	Language   string `json:"language"` // LanguageCode name: "JAVA", "GO", ...
	Version    int32  `json:"version"`
}

// ConsumerConnection is the body of a GET_CONSUMER_CONNECTION_LIST (203) response.
type ConsumerConnection struct {
	ConnectionSet     []Connection                `json:"connectionSet"`
	ConsumeFromWhere  ConsumeFromWhere            `json:"consumeFromWhere"`
	ConsumeType       ConsumeType                 `json:"consumeType"`
	MessageModel      MessageModel                `json:"messageModel"`
	SubscriptionTable map[string]SubscriptionData `json:"subscriptionTable"` // topic → subscription
}

// MarshalJSON implements json.Marshaler: the set and table are never null.
func (c ConsumerConnection) MarshalJSON() ([]byte, error) {
	type plain ConsumerConnection
	p := plain(c)
	p.ConnectionSet = nonNil(p.ConnectionSet)
	p.SubscriptionTable = nonNilMap(p.SubscriptionTable)
	return json.Marshal(p)
}

// OffsetWrapper is one queue's progress in ConsumeStats.
type OffsetWrapper struct {
	BrokerOffset   int64 `json:"brokerOffset"`   // queue max offset
	ConsumerOffset int64 `json:"consumerOffset"` // group's committed offset
	LastTimestamp  int64 `json:"lastTimestamp"`  // store time of the last consumed message, ms
}

// ConsumeStats is the body of a GET_CONSUME_STATS (208) response.
//
// Java keys offsetTable by MessageQueue objects, which fastjson writes as object keys:
//
//	{"consumeTps":0.0,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{...},...}}
//
// That is not valid JSON, but it is what the Java admin tools (fastjson) parse, so Encode
// writes exactly this form, queues sorted. Decode accepts it, and standard JSON whose keys
// are strings holding the queue's JSON. Use Encode and Decode, not encoding/json.
type ConsumeStats struct {
	ConsumeTPS  float64
	OffsetTable map[MessageQueue]OffsetWrapper
}

// Encode returns the body in fastjson's form (see ConsumeStats).
func (s *ConsumeStats) Encode() []byte {
	out := append([]byte(nil), `{"consumeTps":`...)
	out = appendFloat(out, s.ConsumeTPS)
	out = append(out, `,"offsetTable":`...)
	out = appendMQMap(out, s.OffsetTable, func(dst []byte, v OffsetWrapper) []byte {
		b, _ := json.Marshal(v) // plain int64 fields: cannot fail
		return append(dst, b...)
	})
	return append(out, '}')
}

// Decode parses a body written by Encode or by Java.
func (s *ConsumeStats) Decode(data []byte) error {
	var w struct {
		ConsumeTPS  float64                  `json:"consumeTps"`
		OffsetTable map[string]OffsetWrapper `json:"offsetTable"`
	}
	if err := Unmarshal(data, &w); err != nil {
		return fmt.Errorf("consume stats: %w", err)
	}
	table, err := parseMQKeys(w.OffsetTable)
	if err != nil {
		return fmt.Errorf("consume stats: %w", err)
	}
	*s = ConsumeStats{ConsumeTPS: w.ConsumeTPS, OffsetTable: table}
	return nil
}

// ResetOffsetBody is the body of RESET_CONSUMER_CLIENT_OFFSET (220): the offset each queue is
// reset to. Like ConsumeStats it is written in fastjson's object-key form, which is the form
// the Go v2.1.2 client's own parser expects when the body is not valid JSON.
type ResetOffsetBody struct {
	OffsetTable map[MessageQueue]int64
}

// Encode returns the body in fastjson's form.
func (b *ResetOffsetBody) Encode() []byte {
	out := append([]byte(nil), `{"offsetTable":`...)
	out = appendMQMap(out, b.OffsetTable, func(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) })
	return append(out, '}')
}

// Decode parses a body written by Encode or by Java.
func (b *ResetOffsetBody) Decode(data []byte) error {
	var w struct {
		OffsetTable map[string]int64 `json:"offsetTable"`
	}
	if err := Unmarshal(data, &w); err != nil {
		return fmt.Errorf("reset offset body: %w", err)
	}
	table, err := parseMQKeys(w.OffsetTable)
	if err != nil {
		return fmt.Errorf("reset offset body: %w", err)
	}
	b.OffsetTable = table
	return nil
}

// appendMQMap appends m as a fastjson object with MessageQueue object keys, sorted.
func appendMQMap[V any](dst []byte, m map[MessageQueue]V, appendValue func([]byte, V) []byte) []byte {
	keys := slices.SortedFunc(maps.Keys(m), MessageQueue.Compare)
	dst = append(dst, '{')
	for i, q := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = q.appendJSON(dst)
		dst = append(dst, ':')
		dst = appendValue(dst, m[q])
	}
	return append(dst, '}')
}

// parseMQKeys turns the string keys NormalizeFastJSON made of MessageQueue objects back into
// queues.
func parseMQKeys[V any](m map[string]V) (map[MessageQueue]V, error) {
	out := make(map[MessageQueue]V, len(m))
	for k, v := range m {
		var q MessageQueue
		if err := json.Unmarshal([]byte(k), &q); err != nil {
			return nil, fmt.Errorf("%w: map key %q is not a message queue", ErrBadJSON, k)
		}
		out[q] = v
	}
	return out, nil
}

// appendFloat appends f as Java writes a double: always with a fraction ("0.0", "1.5"). NaN
// and infinities, which JSON cannot carry, are written as 0.0.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		f = 0
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

// SubscriptionGroupConfig is a broker's configuration of one consumer group.
type SubscriptionGroupConfig struct {
	BrokerID                       int64  `json:"brokerId"`
	ConsumeBroadcastEnable         bool   `json:"consumeBroadcastEnable"`
	ConsumeEnable                  bool   `json:"consumeEnable"`
	ConsumeFromMinEnable           bool   `json:"consumeFromMinEnable"`
	GroupName                      string `json:"groupName"`
	NotifyConsumerIdsChangedEnable bool   `json:"notifyConsumerIdsChangedEnable"`
	RetryMaxTimes                  int32  `json:"retryMaxTimes"`
	RetryQueueNums                 int32  `json:"retryQueueNums"`
	WhichBrokerWhenConsumeSlowly   int64  `json:"whichBrokerWhenConsumeSlowly"`
}

// NewSubscriptionGroupConfig returns Java's defaults for an auto-created group: enabled,
// 16 retries over 1 retry queue, notify on membership changes.
func NewSubscriptionGroupConfig(group string) SubscriptionGroupConfig {
	return SubscriptionGroupConfig{
		GroupName: group, ConsumeEnable: true, ConsumeFromMinEnable: true, ConsumeBroadcastEnable: true,
		RetryQueueNums: 1, RetryMaxTimes: 16, BrokerID: MasterID, WhichBrokerWhenConsumeSlowly: 1,
		NotifyConsumerIdsChangedEnable: true,
	}
}

// SubscriptionGroupWrapper is the body of a GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) response.
type SubscriptionGroupWrapper struct {
	DataVersion            DataVersion                        `json:"dataVersion"`
	SubscriptionGroupTable map[string]SubscriptionGroupConfig `json:"subscriptionGroupTable"`
}

// MarshalJSON implements json.Marshaler: the table is {} when empty, never null.
func (w SubscriptionGroupWrapper) MarshalJSON() ([]byte, error) {
	type plain SubscriptionGroupWrapper
	p := plain(w)
	p.SubscriptionGroupTable = nonNilMap(p.SubscriptionGroupTable)
	return json.Marshal(p)
}

// KVTable is a string table body (the namesrv's KV config, broker runtime info).
type KVTable struct {
	Table map[string]string `json:"table"`
}

// MarshalJSON implements json.Marshaler: the table is {} when empty, never null.
func (t KVTable) MarshalJSON() ([]byte, error) {
	type plain KVTable
	return json.Marshal(plain{Table: nonNilMap(t.Table)})
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
