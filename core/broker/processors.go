package broker

import "github.com/ternmq/tern/core/remoting"

// mux routes every request code the broker serves to its processor.
func (b *Broker) mux() *remoting.Mux {
	m := remoting.NewMux()
	for _, c := range []int16{remoting.SendMessage, remoting.SendMessageV2, remoting.SendBatchMessage, remoting.SendReplyMessage, remoting.SendReplyMessageV2} {
		m.HandleFunc(c, b.handleSend)
	}
	m.HandleFunc(remoting.PullMessage, b.handlePull)
	m.HandleFunc(remoting.HeartBeat, b.handleHeartbeat)
	m.HandleFunc(remoting.UnregisterClient, b.handleUnregisterClient)
	m.HandleFunc(remoting.GetConsumerListByGroup, b.handleConsumerList)
	m.HandleFunc(remoting.QueryConsumerOffset, b.handleQueryConsumerOffset)
	m.HandleFunc(remoting.UpdateConsumerOffset, b.handleUpdateConsumerOffset)
	m.HandleFunc(remoting.ConsumerSendMsgBack, b.handleSendBack)
	m.HandleFunc(remoting.LockBatchMQ, b.handleLockBatch)
	m.HandleFunc(remoting.UnlockBatchMQ, b.handleUnlockBatch)
	m.HandleFunc(remoting.GetMaxOffset, b.handleMaxOffset)
	m.HandleFunc(remoting.GetMinOffset, b.handleMinOffset)
	m.HandleFunc(remoting.SearchOffsetByTimestamp, b.handleSearchOffset)
	m.HandleFunc(remoting.GetEarliestMsgStoretime, b.handleEarliestTime)
	m.HandleFunc(remoting.ViewMessageByID, b.handleViewMessage)
	m.HandleFunc(remoting.QueryMessage, b.handleQueryMessage)
	m.HandleFunc(remoting.UpdateAndCreateTopic, b.handleCreateTopic)
	m.HandleFunc(remoting.DeleteTopicInBroker, b.handleDeleteTopic)
	m.HandleFunc(remoting.GetAllTopicConfig, b.handleAllTopicConfig)
	m.HandleFunc(remoting.GetBrokerRuntimeInfo, b.handleRuntimeInfo)
	m.HandleFunc(remoting.GetConsumeStats, b.handleConsumeStats)
	m.HandleFunc(remoting.GetConsumerConnectionList, b.handleConsumerConnections)
	m.HandleFunc(remoting.CheckClientConfig, b.handleCheckClientConfig)
	m.HandleFunc(remoting.GetAllSubscriptionGroupConfig, b.handleAllSubscriptionGroups)
	return m
}
