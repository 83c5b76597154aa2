package txchecker

import (
	"fmt"

	"github.com/ternmq/tern/plugins/proto/pluginv1"
	"github.com/ternmq/tern/sdk/plugin"
)

// Converters between the Go structs and the protobuf messages; maps and bodies are shared,
// not copied.

func infoToProto(i Info) *pluginv1.TxCheckerInfo {
	return &pluginv1.TxCheckerInfo{Name: i.Name, Version: i.Version, NeedsBody: i.NeedsBody}
}

func infoFromProto(p *pluginv1.TxCheckerInfo) Info {
	return Info{Name: p.GetName(), Version: p.GetVersion(), NeedsBody: p.GetNeedsBody()}
}

func messageToProto(dst *pluginv1.HalfMessage, m *HalfMessage) {
	dst.Topic = m.Topic
	dst.ProducerGroup = m.ProducerGroup
	dst.TransactionId = m.TransactionID
	dst.MsgId = m.MsgID
	dst.Properties = m.Properties
	dst.Body = m.Body
	dst.CheckTimes = m.CheckTimes
	dst.BornTimestamp = m.BornTimestamp
	dst.StoreTimestamp = m.StoreTimestamp
}

func messageFromProto(p *pluginv1.HalfMessage) HalfMessage {
	return HalfMessage{
		Topic:          p.GetTopic(),
		ProducerGroup:  p.GetProducerGroup(),
		TransactionID:  p.GetTransactionId(),
		MsgID:          p.GetMsgId(),
		Properties:     p.GetProperties(),
		Body:           p.GetBody(),
		CheckTimes:     p.GetCheckTimes(),
		BornTimestamp:  p.GetBornTimestamp(),
		StoreTimestamp: p.GetStoreTimestamp(),
	}
}

// resolutionsToProto fails with plugin.ErrInternal on an invalid resolution: a plugin bug.
func resolutionsToProto(rs []Resolution) ([]pluginv1.Resolution, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	out := make([]pluginv1.Resolution, len(rs))
	for i, r := range rs {
		if !r.Valid() {
			return nil, fmt.Errorf("%w: txchecker check: result %d is %v", plugin.ErrInternal, i, r)
		}
		out[i] = pluginv1.Resolution(r)
	}
	return out, nil
}

// resolutionsFromProto fails with plugin.ErrInternal on RESOLUTION_UNSPECIFIED (a plugin
// bug). A resolution added after this SDK (from a newer plugin) becomes Unknown: the half
// message is kept and checked again, which is always safe.
func resolutionsFromProto(ps []pluginv1.Resolution) ([]Resolution, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	out := make([]Resolution, len(ps))
	for i, p := range ps {
		switch {
		case p == pluginv1.Resolution_RESOLUTION_UNSPECIFIED:
			return nil, fmt.Errorf("%w: txchecker check: result %d is %v", plugin.ErrInternal, i, p)
		case p < 0 || p > pluginv1.Resolution(AskProducer):
			out[i] = Unknown
		default:
			out[i] = Resolution(p)
		}
	}
	return out, nil
}
