package namesrv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ternmq/tern/core/protocol"
)

// registry is what the handlers serve from: the in-memory RouteInfo (memRegistry) or a
// discovery backend (backendRegistry, backend.go). Both answer in the wire types, so the
// handlers encode the same shapes whichever one is behind them.
type registry interface {
	register(ctx context.Context, r registerRequest) (RegisterResult, error)
	unregister(ctx context.Context, h *protocol.UnregisterBrokerHeader) error
	// route's ok is false for a topic without a route.
	route(ctx context.Context, topic string) (rd protocol.TopicRouteData, ok bool, err error)
	clusterInfo(ctx context.Context) (protocol.ClusterInfo, error)
	allTopics(ctx context.Context) ([]string, error)
	topicsByCluster(ctx context.Context, cluster string) ([]string, error)
	deleteTopic(ctx context.Context, topic, cluster string) error
	// expire removes the brokers silent for longer than their timeout (timeout when they
	// registered none) and returns them.
	expire(ctx context.Context, now time.Time, timeout time.Duration) []Expired
	// connClosed removes the brokers that last registered on conn and returns their addresses.
	connClosed(ctx context.Context, conn any) []string
}

// registerRequest is one decoded REGISTER_BROKER.
type registerRequest struct {
	header  *protocol.RegisterBrokerHeader
	body    *protocol.RegisterBrokerBody
	conn    any           // the connection it came on; nil in handler tests
	timeout time.Duration // heartbeatTimeoutMillis; 0 when absent
	epoch   int64         // haEpoch; 0 when absent
	changed bool          // the body lists only the topics that changed (ChangedField)
	now     time.Time
}

// ErrStaleEpoch refuses the registration of a deposed master: the broker name's registered
// master has a higher epoch.
var ErrStaleEpoch = errors.New("namesrv: stale master epoch")

// ErrWholeTableNeeded refuses a registration of changed topics (ChangedField) that the
// NameServer cannot merge: the broker is not registered here yet (a NameServer that restarted
// lacks its other topics), or the NameServer forwards registrations to a discovery backend,
// which takes whole tables.
var ErrWholeTableNeeded = errors.New("namesrv: register the whole topic table")

// memRegistry is the in-memory registry: RocketMQ's NameServer.
type memRegistry struct{ r *RouteInfo }

var _ registry = memRegistry{}

func (m memRegistry) register(_ context.Context, r registerRequest) (RegisterResult, error) {
	h := r.header
	res := m.r.RegisterBroker(Registration{
		Cluster: h.ClusterName, BrokerName: h.BrokerName, BrokerAddr: h.BrokerAddr, BrokerID: h.BrokerID,
		HAServerAddr: h.HAServerAddr, Topics: r.body.TopicConfigSerializeWrapper,
		FilterServers: r.body.FilterServerList, Conn: r.conn, Timeout: r.timeout, Epoch: r.epoch,
		Changed: r.changed,
	}, r.now)
	if res.WholeTableNeeded {
		return res, fmt.Errorf("%w: %s is not registered here as %s id %d at epoch %d", ErrWholeTableNeeded, h.BrokerAddr, h.BrokerName, h.BrokerID, r.epoch)
	}
	if res.Stale {
		return res, fmt.Errorf("%w: %s registers as the master of %s at epoch %d, below the registered master's", ErrStaleEpoch, h.BrokerAddr, h.BrokerName, r.epoch)
	}
	return res, nil
}

func (m memRegistry) unregister(_ context.Context, h *protocol.UnregisterBrokerHeader) error {
	m.r.UnregisterBroker(h.BrokerName, h.BrokerAddr, h.BrokerID)
	return nil
}

func (m memRegistry) route(_ context.Context, topic string) (protocol.TopicRouteData, bool, error) {
	rd, ok := m.r.Route(topic)
	return rd, ok, nil
}

func (m memRegistry) clusterInfo(context.Context) (protocol.ClusterInfo, error) {
	return m.r.ClusterInfo(), nil
}

func (m memRegistry) allTopics(context.Context) ([]string, error) { return m.r.AllTopics(), nil }

func (m memRegistry) topicsByCluster(_ context.Context, cluster string) ([]string, error) {
	return m.r.TopicsByCluster(cluster), nil
}

func (m memRegistry) deleteTopic(_ context.Context, topic, cluster string) error {
	m.r.DeleteTopic(topic, cluster)
	return nil
}

func (m memRegistry) expire(_ context.Context, now time.Time, timeout time.Duration) []Expired {
	return m.r.Expire(now, timeout)
}

func (m memRegistry) connClosed(_ context.Context, conn any) []string { return m.r.ConnClosed(conn) }
