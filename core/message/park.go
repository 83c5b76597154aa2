package message

import (
	"fmt"
	"slices"
	"strconv"
)

// EditProperties returns the encoded properties props without the keys in drop, followed by
// the key/value pairs in set. The pairs kept are copied byte for byte, in their order, so a
// value a producer wrote is never refused here (AppendProperties would refuse one with a
// separator inside, as a reader splits at the first one).
func EditProperties(props []byte, drop []string, set ...string) ([]byte, error) {
	out := make([]byte, 0, len(props)+64)
	for k, v := range Pairs(props) {
		if slices.Contains(drop, string(k)) {
			continue
		}
		if len(out) > 0 {
			out = append(out, PropertySeparator)
		}
		out = append(append(append(out, k...), NameValueSeparator), v...)
	}
	for i := 0; i+1 < len(set); i += 2 {
		var err error
		if out, err = AppendProperty(out, set[i], set[i+1]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Park moves r to topic and queue qid, keeping its destination in REAL_TOPIC and REAL_QID: the
// way the broker holds a message it delivers later (delay levels, the timer, transactions).
// Its properties lose the keys in drop (and any REAL_TOPIC and REAL_QID it had) and get the
// pairs in set.
func Park(r *Record, topic string, qid int32, drop []string, set ...string) error {
	drop = append(drop[:len(drop):len(drop)], PropertyRealTopic, PropertyRealQueueID)
	set = append([]string{PropertyRealTopic, r.Topic, PropertyRealQueueID, strconv.Itoa(int(r.QueueID))}, set...)
	p, err := EditProperties([]byte(r.Properties), drop, set...)
	if err != nil {
		return err
	}
	r.Topic, r.QueueID, r.Properties = topic, qid, string(p)
	return nil
}

// Unpark returns the record that delivers the parked message v to its real topic and queue:
// v's message fields (the body aliases v) and its properties without the keys in drop, with
// the pairs in set. Whether REAL_TOPIC and REAL_QID stay is the caller's choice (RocketMQ's
// delay levels keep them). The store fills the rest.
func Unpark(v View, drop []string, set ...string) (*Record, error) {
	props := v.Properties()
	topic, _ := Property(props, PropertyRealTopic)
	q, _ := Property(props, PropertyRealQueueID)
	qid, err := strconv.ParseInt(string(q), 10, 32)
	if len(topic) == 0 || err != nil || qid < 0 {
		return nil, fmt.Errorf("message: parked record without a destination: REAL_TOPIC %q, REAL_QID %q", topic, q)
	}
	p, err := EditProperties(props, drop, set...)
	if err != nil {
		return nil, err
	}
	return &Record{
		Topic: string(topic), QueueID: int32(qid), Flag: v.Flag(), SysFlag: v.SysFlag(),
		BornTimestamp: v.BornTimestamp(), BornHost: v.BornHost(), ReconsumeTimes: v.ReconsumeTimes(),
		Body: v.Body(), Properties: string(p),
	}, nil
}
