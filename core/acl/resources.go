package acl

import (
	"fmt"
	"strings"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// retryPrefix turns a group into its resource name, as RocketMQ does.
const retryPrefix = protocol.RetryTopicPrefix

// UpdateBrokerConfig is RocketMQ's UPDATE_BROKER_CONFIG request code (admin only).
const UpdateBrokerConfig int16 = 25

// AdminCodes are the request codes only admin accounts may send (RocketMQ's
// Permission.ADMIN_CODE).
var adminCodes = map[int16]bool{
	remoting.UpdateAndCreateTopic:        true,
	UpdateBrokerConfig:                   true,
	remoting.DeleteTopicInBroker:         true,
	remoting.UpdateAndCreateSubscription: true,
	remoting.DeleteSubscriptionGroup:     true,
}

// IsAdminCode reports whether only admin accounts may send code.
func IsAdminCode(code int16) bool { return adminCodes[code] }

// need is one resource a request touches and the permission it needs there.
type need struct {
	resource string // a topic, or %RETRY%group for a group
	perm     Perm
}

// describe names a resource for a remark: "topic T" or "group G".
func describe(resource string) string {
	if g, ok := strings.CutPrefix(resource, retryPrefix); ok {
		return "group " + g
	}
	return "topic " + resource
}

// resources lists what a request touches, after RocketMQ's PlainAccessValidator.parse, with
// the sends it leaves out (batch and reply sends) and QUERY_CONSUMER_OFFSET added. Codes not
// listed touch nothing: a valid signature is enough (and admin rights for AdminCodes).
func resources(code int16, f map[string]string, body []byte) ([]need, error) {
	var out []need
	add := func(resource string, p Perm) {
		if resource != "" && resource != retryPrefix {
			out = append(out, need{resource, p})
		}
	}
	group := func(g string) string {
		if g == "" {
			return ""
		}
		return retryPrefix + g
	}
	send := func(topic string) {
		if protocol.IsRetryTopic(topic) { // a consumer's retry: the group's SUB
			add(topic, Sub)
		} else {
			add(topic, Pub)
		}
	}
	switch code {
	case remoting.SendMessage, remoting.SendReplyMessage:
		send(f["topic"])
	case remoting.SendMessageV2, remoting.SendBatchMessage, remoting.SendReplyMessageV2:
		send(f["b"])
	case remoting.ConsumerSendMsgBack:
		add(group(f["group"]), Sub)
	case remoting.PullMessage, remoting.UpdateConsumerOffset, remoting.QueryConsumerOffset:
		add(f["topic"], Sub)
		add(group(f["consumerGroup"]), Sub)
	case remoting.QueryMessage:
		add(f["topic"], Sub)
	case remoting.UnregisterClient, remoting.GetConsumerListByGroup:
		add(group(f["consumerGroup"]), Sub)
	case remoting.HeartBeat:
		hb, err := protocol.DecodeHeartbeat(body)
		if err != nil {
			return nil, fmt.Errorf("heartbeat body: %w", err)
		}
		for _, c := range hb.ConsumerDataSet {
			add(group(c.GroupName), Sub)
			for _, s := range c.SubscriptionDataSet {
				add(s.Topic, Sub)
			}
		}
	}
	return out, nil
}
