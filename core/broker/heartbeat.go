package broker

import (
	"context"
	"fmt"

	"github.com/ternmq/tern/core/broker/clients"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// handleHeartbeat serves HEART_BEAT: group membership by connection, subscriptions, and the
// retry topic of every clustering consumer group.
func (b *Broker) handleHeartbeat(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	hb, err := protocol.DecodeHeartbeat(req.Body)
	if err != nil {
		return badHeader(req, fmt.Errorf("heartbeat body: %w", err))
	}
	client := clients.Client{ID: hb.ClientID, Conn: conn, Language: req.Language, Version: int(req.Version), LastHeartbeat: b.now()}
	var producers []string
	for _, p := range hb.ProducerDataSet {
		producers = append(producers, p.GroupName)
	}
	var consumers []clients.ConsumerInfo
	for _, c := range hb.ConsumerDataSet {
		info := clients.ConsumerInfo{
			Group: c.GroupName, ConsumeType: string(c.ConsumeType), MessageModel: string(c.MessageModel),
			ConsumeFromWhere: string(c.ConsumeFromWhere),
		}
		for _, s := range c.SubscriptionDataSet {
			typ := s.ExpressionType
			if typ == "" {
				typ = protocol.ExpressionTag
			}
			info.Subscriptions = append(info.Subscriptions, clients.Subscription{
				Topic: s.Topic, Expression: s.SubString, ExpressionType: typ, Tags: s.TagsSet, SubVersion: s.SubVersion,
			})
		}
		consumers = append(consumers, info)
		if c.MessageModel == protocol.Clustering {
			if _, created, err := b.topics.CreateIfAbsent(protocol.RetryTopic(c.GroupName), 1, protocol.PermRead|protocol.PermWrite); err != nil {
				b.log.Warn("create retry topic failed", "group", c.GroupName, "err", err)
			} else if created {
				b.registerSoon()
			}
		}
	}
	conn.SetValue(clientIDKey{}, hb.ClientID) // pulls carry no client id (pulllog.go)
	b.clients.Heartbeat(client, producers, consumers)
	return ok(req)
}
