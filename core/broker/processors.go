package broker

import (
	"context"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// header is a request header that decodes itself from the request's extFields.
type header[H any] interface {
	*H
	Decode(fields protocol.FieldSource) error
}

// withHeader adapts a processor that takes its request's decoded header. A header that does
// not decode is answered here, with SYSTEM_ERROR and a remark naming the field.
func withHeader[H any, P header[H]](f func(context.Context, *remoting.Conn, *remoting.Command, P) *remoting.Command) remoting.HandlerFunc {
	return func(ctx context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
		var h H
		if err := P(&h).Decode(req); err != nil {
			return badHeader(req, err)
		}
		return f(ctx, conn, req, &h)
	}
}

// mux routes every request code the broker serves to its processor, behind the ACL and audit
// middleware (acl.go).
func (b *Broker) mux() remoting.Handler {
	m := remoting.NewMux()
	for _, c := range []int16{remoting.SendMessage, remoting.SendMessageV2, remoting.SendBatchMessage, remoting.SendReplyMessage, remoting.SendReplyMessageV2} {
		m.HandleFunc(c, b.handleSend)
	}
	m.Handle(remoting.PullMessage, withHeader(b.handlePull))
	m.HandleFunc(remoting.HeartBeat, b.handleHeartbeat)
	m.Handle(remoting.UnregisterClient, withHeader(b.handleUnregisterClient))
	m.Handle(remoting.GetConsumerListByGroup, withHeader(b.handleConsumerList))
	m.HandleFunc(remoting.QueryConsumerOffset, b.handleQueryConsumerOffset)
	m.HandleFunc(remoting.UpdateConsumerOffset, b.handleUpdateConsumerOffset)
	m.Handle(remoting.ConsumerSendMsgBack, withHeader(b.handleSendBack))
	m.Handle(remoting.EndTransaction, withHeader(b.handleEndTransaction))
	m.HandleFunc(remoting.LockBatchMQ, b.handleLockBatch)
	m.HandleFunc(remoting.UnlockBatchMQ, b.handleUnlockBatch)
	m.Handle(remoting.GetMaxOffset, withHeader(b.handleMaxOffset))
	m.Handle(remoting.GetMinOffset, withHeader(b.handleMinOffset))
	m.Handle(remoting.SearchOffsetByTimestamp, withHeader(b.handleSearchOffset))
	m.Handle(remoting.GetEarliestMsgStoretime, withHeader(b.handleEarliestTime))
	m.Handle(remoting.ViewMessageByID, withHeader(b.handleViewMessage))
	m.Handle(remoting.QueryMessage, withHeader(b.handleQueryMessage))
	m.Handle(remoting.UpdateAndCreateTopic, withHeader(b.handleCreateTopic))
	m.HandleFunc(remoting.DeleteTopicInBroker, b.handleDeleteTopic)
	m.HandleFunc(remoting.GetAllTopicConfig, b.handleAllTopicConfig)
	m.HandleFunc(remoting.GetBrokerRuntimeInfo, b.handleRuntimeInfo)
	m.Handle(remoting.GetConsumeStats, withHeader(b.handleConsumeStats))
	m.Handle(remoting.GetConsumerConnectionList, withHeader(b.handleConsumerConnections))
	m.HandleFunc(remoting.CheckClientConfig, b.handleCheckClientConfig)
	m.HandleFunc(remoting.GetAllSubscriptionGroupConfig, b.handleAllSubscriptionGroups)
	m.Handle(remoting.TraceMessage, withHeader(b.handleTraceMessage))
	m.HandleFunc(remoting.GetAllConsumerOffset, b.handleAllConsumerOffsets)
	m.HandleFunc(remoting.GetAllDelayOffset, b.handleAllDelayOffsets)
	m.HandleFunc(remoting.HAStatus, b.handleHAStatus)
	return b.guard.wrap(m)
}
