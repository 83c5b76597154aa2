package scheduler

import (
	"math"
	"time"

	"github.com/ternmq/tern/plugins/proto/pluginv1"
)

// Converters between the Go structs and the protobuf messages; maps are shared, not copied.

func infoToProto(i Info) *pluginv1.SchedulerInfo {
	return &pluginv1.SchedulerInfo{Name: i.Name, Version: i.Version}
}

func infoFromProto(p *pluginv1.SchedulerInfo) Info {
	return Info{Name: p.GetName(), Version: p.GetVersion()}
}

func messageToProto(dst *pluginv1.ScheduledMessage, m *Message) {
	dst.Topic = m.Topic
	dst.Properties = m.Properties
	dst.BornTimestamp = m.BornTimestamp
	dst.StoreTimestamp = m.StoreTimestamp
	dst.DelayLevel = m.DelayLevel
	dst.DeliverTime = m.DeliverTime
}

func messageFromProto(p *pluginv1.ScheduledMessage) Message {
	return Message{
		Topic:          p.GetTopic(),
		Properties:     p.GetProperties(),
		BornTimestamp:  p.GetBornTimestamp(),
		StoreTimestamp: p.GetStoreTimestamp(),
		DelayLevel:     p.GetDelayLevel(),
		DeliverTime:    p.GetDeliverTime(),
	}
}

func retryToProto(dst *pluginv1.Retry, r *Retry) {
	dst.Group = r.Group
	dst.Topic = r.Topic
	dst.ReconsumeTimes = r.ReconsumeTimes
	dst.MaxReconsumeTimes = r.MaxReconsumeTimes
	dst.DelayLevel = r.DelayLevel
}

func retryFromProto(p *pluginv1.Retry) Retry {
	return Retry{
		Group:             p.GetGroup(),
		Topic:             p.GetTopic(),
		ReconsumeTimes:    p.GetReconsumeTimes(),
		MaxReconsumeTimes: p.GetMaxReconsumeTimes(),
		DelayLevel:        p.GetDelayLevel(),
	}
}

// durationsToMillis truncates delays to whole milliseconds; negative delays become 0.
func durationsToMillis(ds []time.Duration) []int64 {
	if len(ds) == 0 {
		return nil
	}
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = max(d.Milliseconds(), 0)
	}
	return out
}

// maxMillis is the longest delay a time.Duration holds, in ms (about 292 years).
const maxMillis = math.MaxInt64 / int64(time.Millisecond)

// millisToDurations converts delays from the wire; negative ones become 0 and ones beyond
// maxMillis become maxMillis.
func millisToDurations(ms []int64) []time.Duration {
	if len(ms) == 0 {
		return nil
	}
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(min(max(m, 0), maxMillis)) * time.Millisecond
	}
	return out
}
