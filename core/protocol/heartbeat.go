package protocol

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// HeartbeatData is the body of HEART_BEAT (34): a client's producer and consumer groups
// (§3.2). Encoded sets are arrays, never null (the Java broker iterates them unchecked).
type HeartbeatData struct {
	ClientID        string         `json:"clientID"`
	ConsumerDataSet []ConsumerData `json:"consumerDataSet"`
	ProducerDataSet []ProducerData `json:"producerDataSet"`
}

// MarshalJSON implements json.Marshaler.
func (h HeartbeatData) MarshalJSON() ([]byte, error) {
	type plain HeartbeatData
	p := plain(h)
	p.ConsumerDataSet = nonNil(p.ConsumerDataSet)
	p.ProducerDataSet = nonNil(p.ProducerDataSet)
	return json.Marshal(p)
}

// DecodeHeartbeat decodes a HEART_BEAT body from a Go or Java client.
func DecodeHeartbeat(body []byte) (*HeartbeatData, error) {
	var h HeartbeatData
	if err := Unmarshal(body, &h); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	return &h, nil
}

// ProducerData names a producer group of the client.
type ProducerData struct {
	GroupName string `json:"groupName"`
}

// ConsumerData is a consumer group of the client and its subscriptions.
type ConsumerData struct {
	ConsumeFromWhere    ConsumeFromWhere   `json:"consumeFromWhere"`
	ConsumeType         ConsumeType        `json:"consumeType"`
	GroupName           string             `json:"groupName"`
	MessageModel        MessageModel       `json:"messageModel"`
	SubscriptionDataSet []SubscriptionData `json:"subscriptionDataSet"`
	UnitMode            bool               `json:"unitMode"`
}

// MarshalJSON implements json.Marshaler.
func (c ConsumerData) MarshalJSON() ([]byte, error) {
	type plain ConsumerData
	p := plain(c)
	p.SubscriptionDataSet = nonNil(p.SubscriptionDataSet)
	return json.Marshal(p)
}

// SubscriptionData is one subscription of a consumer group.
//
// For TAG subscriptions TagsSet holds the trimmed tags and CodeSet their Java String.hashCode
// values; for "*" SubString is "*" and both sets are empty. Clients disagree on CodeSet (Go
// sends strings and hashes UTF-8 bytes, Java sends numbers and hashes UTF-16), so a broker
// should call Normalize and use the recomputed codes.
type SubscriptionData struct {
	ClassFilterMode bool     `json:"classFilterMode"`
	CodeSet         CodeSet  `json:"codeSet"`
	ExpressionType  string   `json:"expressionType"`
	SubString       string   `json:"subString"`
	SubVersion      int64    `json:"subVersion"` // Go: ns, Java: ms
	TagsSet         []string `json:"tagsSet"`
	Topic           string   `json:"topic"`
}

// MarshalJSON implements json.Marshaler.
func (s SubscriptionData) MarshalJSON() ([]byte, error) {
	type plain SubscriptionData
	p := plain(s)
	p.TagsSet = nonNil(p.TagsSet)
	return json.Marshal(p)
}

// CodeSet is a subscription's tag hash codes. It encodes as JSON numbers (as Java does) and
// decodes from numbers or strings of numbers (as Go v2.1.2 writes them).
type CodeSet []int32

// MarshalJSON implements json.Marshaler; nil encodes as [].
func (c CodeSet) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, 2+12*len(c))
	out = append(out, '[')
	for i, v := range c {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendInt(out, int64(v), 10)
	}
	return append(out, ']'), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *CodeSet) UnmarshalJSON(data []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("codeSet: %w", err)
	}
	if raw == nil {
		*c = nil
		return nil
	}
	out := make(CodeSet, 0, len(raw))
	for _, r := range raw {
		text := string(r)
		if len(r) > 0 && r[0] == '"' {
			if err := json.Unmarshal(r, &text); err != nil {
				return fmt.Errorf("codeSet: %w", err)
			}
		}
		v, err := strconv.ParseInt(text, 10, 32)
		if err != nil {
			return fmt.Errorf("%w: codeSet element %s is not an int32", ErrBadJSON, r)
		}
		out = append(out, int32(v))
	}
	*c = out
	return nil
}
