package broker

import (
	"context"
	"time"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/store"
)

// pushReply pushes a stored reply to the requesting client named in REPLY_TO_CLIENT
// (PUSH_REPLY_MESSAGE_TO_CLIENT over that client's own connection).
func (b *Broker) pushReply(ctx context.Context, h *protocol.SendMessageHeader, r *message.Record, res store.PutResult) {
	to, _ := message.Property([]byte(r.Properties), message.PropertyReplyToClient)
	var conn *remoting.Conn
	if v, ok := b.requesters.Load(string(to)); ok {
		conn = v.(*remoting.Conn)
	} else if c, ok := b.clients.ClientByID(string(to)); ok {
		conn, _ = c.(*remoting.Conn)
	}
	if conn == nil {
		b.log.Warn("reply for a client that is not connected", "client", string(to), "topic", r.Topic)
		return
	}
	rh := protocol.ReplyMessageHeader{
		ProducerGroup: h.ProducerGroup, Topic: r.Topic, DefaultTopic: h.DefaultTopic, DefaultTopicQueueNums: h.DefaultTopicQueueNums,
		QueueID: r.QueueID, SysFlag: r.SysFlag, BornTimestamp: r.BornTimestamp, Flag: r.Flag, Properties: r.Properties,
		ReconsumeTimes: r.ReconsumeTimes, BornHost: r.BornHost.String(), StoreHost: b.cfg.BrokerAddr, StoreTimestamp: res.StoreTimestamp,
	}
	req := remoting.NewRequest(remoting.PushReplyMessageToClient, rh.Encode(), r.Body)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := conn.Invoke(pctx, req); err != nil {
		b.log.Warn("push reply failed", "client", string(to), "err", err)
	}
}
