package filter

import "github.com/ternmq/tern/plugins/proto/pluginv1"

// Converters between the Go structs and the protobuf messages. The protobuf side shares
// slices, maps and bodies with the Go side; neither copies.

func infoToProto(i Info) *pluginv1.FilterInfo {
	return &pluginv1.FilterInfo{
		Name: i.Name, Version: i.Version, ExpressionTypes: i.ExpressionTypes, NeedsBody: i.NeedsBody, OmitProperties: i.OmitProperties,
	}
}

func infoFromProto(p *pluginv1.FilterInfo) Info {
	return Info{
		Name: p.GetName(), Version: p.GetVersion(), ExpressionTypes: p.GetExpressionTypes(), NeedsBody: p.GetNeedsBody(), OmitProperties: p.GetOmitProperties(),
	}
}

func subToProto(s Subscription) *pluginv1.Subscription {
	return &pluginv1.Subscription{
		Group: s.Group, Topic: s.Topic, ExpressionType: s.ExpressionType, Expression: s.Expression,
	}
}

func subFromProto(p *pluginv1.Subscription) Subscription {
	return Subscription{
		Group: p.GetGroup(), Topic: p.GetTopic(), ExpressionType: p.GetExpressionType(), Expression: p.GetExpression(),
	}
}

func messageToProto(dst *pluginv1.Message, m *Message) {
	dst.Topic = m.Topic
	dst.QueueId = m.QueueID
	dst.QueueOffset = m.QueueOffset
	dst.Tags = m.Tags
	dst.Keys = m.Keys
	dst.Properties = m.Properties
	dst.BornTimestamp = m.BornTimestamp
	dst.StoreTimestamp = m.StoreTimestamp
	dst.ReconsumeTimes = m.ReconsumeTimes
	dst.Body = m.Body
}

func messageFromProto(p *pluginv1.Message) Message {
	return Message{
		Topic:          p.GetTopic(),
		QueueID:        p.GetQueueId(),
		QueueOffset:    p.GetQueueOffset(),
		Tags:           p.GetTags(),
		Keys:           p.GetKeys(),
		Properties:     p.GetProperties(),
		BornTimestamp:  p.GetBornTimestamp(),
		StoreTimestamp: p.GetStoreTimestamp(),
		ReconsumeTimes: p.GetReconsumeTimes(),
		Body:           p.GetBody(),
	}
}
