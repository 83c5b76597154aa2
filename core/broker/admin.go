package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/ternmq/tern/core/broker/topics"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/store"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

func offsetResponse(req *remoting.Command, off int64) *remoting.Command {
	resp := ok(req)
	rh := protocol.OffsetResponseHeader{Offset: off}
	resp.ExtFields = rh.Encode()
	return resp
}

// handleMaxOffset serves GET_MAX_OFFSET. It first lets the dispatcher reach what is written now
// (awaitDispatch, as a pull does): a send acknowledged before the request is counted.
func (b *Broker) handleMaxOffset(ctx context.Context, _ *remoting.Conn, req *remoting.Command, h *protocol.TopicQueueHeader) *remoting.Command {
	_ = b.awaitDispatch(ctx) // ctx ended: the connection is gone, the answer goes nowhere
	return offsetResponse(req, b.store.MaxOffset(h.Topic, h.QueueID))
}

// handleMinOffset serves GET_MIN_OFFSET.
func (b *Broker) handleMinOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command, h *protocol.TopicQueueHeader) *remoting.Command {
	return offsetResponse(req, b.store.MinOffset(h.Topic, h.QueueID))
}

// handleSearchOffset serves SEARCH_OFFSET_BY_TIMESTAMP.
func (b *Broker) handleSearchOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command, h *protocol.SearchOffsetHeader) *remoting.Command {
	off, err := b.store.OffsetByTime(h.Topic, h.QueueID, h.Timestamp)
	if err != nil {
		return remoting.ErrorResponse(req, storeError(err))
	}
	return offsetResponse(req, off)
}

// handleEarliestTime serves GET_EARLIEST_MSG_STORETIME.
func (b *Broker) handleEarliestTime(_ context.Context, _ *remoting.Conn, req *remoting.Command, h *protocol.TopicQueueHeader) *remoting.Command {
	ts, err := b.store.EarliestMessageTime(h.Topic, h.QueueID)
	if err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
	}
	resp := ok(req)
	rh := protocol.EarliestMsgStoretimeResponseHeader{Timestamp: ts}
	resp.ExtFields = rh.Encode()
	return resp
}

// handleViewMessage serves VIEW_MESSAGE_BY_ID: the record at a physical offset.
func (b *Broker) handleViewMessage(_ context.Context, _ *remoting.Conn, req *remoting.Command, h *protocol.ViewMessageHeader) *remoting.Command {
	m, err := b.store.GetMessage(h.Offset)
	if err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: no message at offset %d: %w", remoting.ErrSystemError, h.Offset, err))
	}
	resp := ok(req)
	resp.BodyParts = [][]byte{m.View}
	resp.Release = m.Release
	return resp
}

// handleQueryMessage serves QUERY_MESSAGE: records by key (or unique key), written straight
// from the CommitLog.
func (b *Broker) handleQueryMessage(_ context.Context, _ *remoting.Conn, req *remoting.Command, h *protocol.QueryMessageHeader) *remoting.Command {
	var qr store.QueryResult
	var err error
	if h.UniqueKeyQuery {
		qr, err = b.store.MessageByUniqKey(h.Topic, h.Key)
	} else {
		qr, err = b.store.QueryMessage(h.Topic, h.Key, int(max(h.MaxNum, 1)), h.BeginTimestamp, h.EndTimestamp)
	}
	if err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
	}
	if len(qr.Messages) == 0 {
		qr.Release()
		return remoting.NewResponse(req, int16(remoting.QueryNotFound), "can not find message, maybe time range not correct")
	}
	resp := ok(req)
	rh := protocol.QueryMessageResponseHeader{IndexLastUpdateTimestamp: qr.IndexLastUpdateTimestamp, IndexLastUpdatePhyoffset: qr.IndexLastUpdatePhyOffset}
	resp.ExtFields = rh.Encode()
	for _, v := range qr.Messages {
		resp.BodyParts = append(resp.BodyParts, v)
	}
	resp.Release = qr.Release
	return resp
}

// handleCreateTopic serves UPDATE_AND_CREATE_TOPIC. Like RocketMQ's broker it registers the
// change at the NameServers before it answers, so the route exists when the caller goes on.
func (b *Broker) handleCreateTopic(ctx context.Context, _ *remoting.Conn, req *remoting.Command, h *protocol.CreateTopicHeader) *remoting.Command {
	changed, err := b.topics.Update(topics.Config{
		TopicName: h.Topic, ReadQueueNums: h.ReadQueueNums, WriteQueueNums: h.WriteQueueNums, Perm: h.Perm,
		TopicFilterType: h.TopicFilterType, TopicSysFlag: h.TopicSysFlag, Order: h.Order,
	})
	if err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
	}
	if changed {
		b.log.Info("topic updated", "topic", h.Topic, "read_queues", h.ReadQueueNums, "write_queues", h.WriteQueueNums, "perm", h.Perm)
		b.registerTopic(ctx, h.Topic)
	}
	return ok(req)
}

// handleDeleteTopic serves DELETE_TOPIC_IN_BROKER: the topic's configuration, queues and
// consumer offsets go; its records stay until retention removes them.
func (b *Broker) handleDeleteTopic(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic := req.Field("topic")
	if err := b.topics.Delete(topic); err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
	}
	if err := b.store.DeleteTopic(topic); err != nil {
		b.log.Error("delete topic queues failed", "topic", topic, "err", err)
	}
	b.offsets.DeleteTopic(topic)
	b.log.Info("topic deleted", "topic", topic)
	b.registerSoon()
	return ok(req)
}

// handleAllTopicConfig serves GET_ALL_TOPIC_CONFIG.
func (b *Broker) handleAllTopicConfig(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	all, ver := b.topics.All()
	resp := ok(req)
	resp.Body, _ = json.Marshal(protocol.TopicConfigSerializeWrapper{TopicConfigTable: all, DataVersion: ver})
	return resp
}

// handleRuntimeInfo serves GET_BROKER_RUNTIME_INFO: a string table, as RocketMQ's KVTable.
func (b *Broker) handleRuntimeInfo(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	st := b.store
	table := map[string]string{
		"brokerVersionDesc":   "tern",
		"brokerName":          b.cfg.BrokerName,
		"brokerClusterName":   b.cfg.BrokerClusterName,
		"commitLogMinOffset":  strconv.FormatInt(st.CommitLogMinOffset(), 10),
		"commitLogMaxOffset":  strconv.FormatInt(st.CommitLogMaxOffset(), 10),
		"dispatchBehindBytes": strconv.FormatInt(st.CommitLogMaxOffset()-st.DispatchedOffset(), 10),
		"flushDiskType":       string(b.cfg.Store.FlushDiskType),
		"topics":              strconv.Itoa(len(b.topics.Names())),
		"consumerGroups":      strconv.Itoa(len(b.clients.ConsumerGroups())),
		"pullsHeld":           strconv.Itoa(b.hold.Held()),
		"diskFull":            strconv.FormatBool(st.DiskFull()),
	}
	resp := ok(req)
	resp.Body, _ = json.Marshal(protocol.KVTable{Table: table})
	return resp
}

// handleConsumeStats serves GET_CONSUME_STATS: per queue of the group's topics (one topic, or
// every topic it has offsets on or subscribes to) the broker's max offset and the group's
// committed offset, in RocketMQ's ConsumeStats body.
func (b *Broker) handleConsumeStats(_ context.Context, _ *remoting.Conn, req *remoting.Command, h *protocol.GetConsumeStatsHeader) *remoting.Command {
	tps := []string{h.Topic}
	if h.Topic == "" {
		tps = b.offsets.Topics(h.ConsumerGroup)
		if info, ok := b.clients.Consumer(h.ConsumerGroup); ok {
			for _, s := range info.Subscriptions {
				tps = append(tps, s.Topic)
			}
		}
		slices.Sort(tps)
		tps = slices.Compact(tps)
	}
	stats := protocol.ConsumeStats{OffsetTable: map[protocol.MessageQueue]protocol.OffsetWrapper{}}
	for _, t := range tps {
		tc, ok := b.topics.Get(t)
		if !ok {
			continue
		}
		offs := b.offsets.Offsets(h.ConsumerGroup, t)
		for q := int32(0); q < tc.ReadQueueNums; q++ {
			mq := protocol.MessageQueue{Topic: t, BrokerName: b.cfg.BrokerName, QueueID: q}
			stats.OffsetTable[mq] = protocol.OffsetWrapper{BrokerOffset: b.store.MaxOffset(t, q), ConsumerOffset: offs[q]}
		}
	}
	resp := ok(req)
	resp.Body = stats.Encode()
	return resp
}

// handleConsumerConnections serves GET_CONSUMER_CONNECTION_LIST.
func (b *Broker) handleConsumerConnections(_ context.Context, _ *remoting.Conn, req *remoting.Command, h *protocol.ConsumerGroupHeader) *remoting.Command {
	info, found := b.clients.Consumer(h.ConsumerGroup)
	if !found {
		return remoting.NewResponse(req, int16(remoting.ConsumerNotOnline), "the consumer group["+h.ConsumerGroup+"] not online")
	}
	cc := protocol.ConsumerConnection{
		ConsumeType: protocol.ConsumeType(info.ConsumeType), MessageModel: protocol.MessageModel(info.MessageModel),
		ConsumeFromWhere: protocol.ConsumeFromWhere(info.ConsumeFromWhere), SubscriptionTable: map[string]protocol.SubscriptionData{},
	}
	for _, c := range b.clients.Consumers(h.ConsumerGroup) {
		cc.ConnectionSet = append(cc.ConnectionSet, protocol.Connection{ClientID: c.ID, ClientAddr: c.Conn.RemoteAddr(), Language: c.Language, Version: int32(c.Version)})
	}
	for _, s := range info.Subscriptions {
		sd := protocol.NewSubscriptionData(s.Topic, s.Expression, s.ExpressionType)
		sd.SubVersion = s.SubVersion
		cc.SubscriptionTable[s.Topic] = sd
	}
	resp := ok(req)
	resp.Body, _ = json.Marshal(cc)
	return resp
}

// handleCheckClientConfig serves CHECK_CLIENT_CONFIG, which clients send before subscribing
// with an expression type other than TAG: the broker compiles the expression, and a bad one is
// refused with the filter's message.
func (b *Broker) handleCheckClientConfig(ctx context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var body struct {
		Group            string `json:"group"`
		SubscriptionData struct {
			Topic          string `json:"topic"`
			SubString      string `json:"subString"`
			ExpressionType string `json:"expressionType"`
		} `json:"subscriptionData"`
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return badHeader(req, err)
	}
	sd := body.SubscriptionData
	sub := filter.Subscription{Group: body.Group, Topic: sd.Topic, ExpressionType: sd.ExpressionType, Expression: sd.SubString}
	if _, err := b.newSelector(ctx, sub); err != nil {
		return remoting.ErrorResponse(req, err)
	}
	return ok(req)
}

// handleAllSubscriptionGroups serves GET_ALL_SUBSCRIPTIONGROUP_CONFIG: the groups known from
// heartbeats and offsets, with RocketMQ's default group settings.
func (b *Broker) handleAllSubscriptionGroups(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	w := protocol.SubscriptionGroupWrapper{SubscriptionGroupTable: map[string]protocol.SubscriptionGroupConfig{}, DataVersion: b.topics.DataVersion()}
	for _, g := range b.clients.ConsumerGroups() {
		c := protocol.NewSubscriptionGroupConfig(g)
		c.RetryMaxTimes = int32(b.cfg.MaxReconsumeTimes)
		w.SubscriptionGroupTable[g] = c
	}
	resp := ok(req)
	resp.Body, _ = json.Marshal(w)
	return resp
}

// CreateTopic creates or updates a topic with read and write permission and registers the
// change at the NameServers before it returns.
func (b *Broker) CreateTopic(ctx context.Context, topic string, readQueues, writeQueues int) error {
	if _, err := b.topics.Update(topics.Config{TopicName: topic, ReadQueueNums: int32(readQueues), WriteQueueNums: int32(writeQueues), Perm: protocol.PermRead | protocol.PermWrite}); err != nil {
		return err
	}
	b.registerTopic(ctx, topic)
	return nil
}
