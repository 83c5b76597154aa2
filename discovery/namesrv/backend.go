package namesrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// backendCallTimeout bounds each call the NameServer makes to its discovery backend while a
// request waits for it.
const backendCallTimeout = 5 * time.Second

// topicLister and clusterTopicLister are the optional listings a backend may offer for
// GET_ALL_TOPIC_LIST_FROM_NAMESERVER and GET_TOPICS_BY_CLUSTER (discovery/etcd has both).
type topicLister interface {
	Topics(ctx context.Context) ([]string, error)
}

type clusterTopicLister interface {
	TopicsByCluster(ctx context.Context, cluster string) ([]string, error)
}

// topicDeleter is a backend that keeps topics apart from the brokers' registrations.
type topicDeleter interface {
	DeleteTopic(ctx context.Context, topic, cluster string) error
}

// backendRegistry serves the NameServer protocol from a discovery backend: registrations are
// forwarded to it and every read is answered from it, so NameServers sharing a backend answer
// alike. The only state kept here is the liveness of the brokers that registered through this
// NameServer (forwarded), so that a broker whose connection closes or that stops registering
// is unregistered from the backend as the in-memory NameServer would drop it.
type backendRegistry struct {
	d   discovery.Discovery
	log *slog.Logger

	mu        sync.Mutex            // guards forwarded
	forwarded map[string]*forwarded // broker address → liveness
}

// forwarded is the liveness of a broker that registered through this NameServer.
type forwarded struct {
	key        discovery.BrokerKey
	lastUpdate time.Time
	timeout    time.Duration // heartbeatTimeoutMillis, or 0
	conn       any
}

var _ registry = (*backendRegistry)(nil)

func newBackendRegistry(d discovery.Discovery, log *slog.Logger) *backendRegistry {
	return &backendRegistry{d: d, log: log, forwarded: make(map[string]*forwarded)}
}

func (b *backendRegistry) register(ctx context.Context, r registerRequest) (RegisterResult, error) {
	if r.changed {
		return RegisterResult{}, fmt.Errorf("%w: the discovery backend takes whole tables", ErrWholeTableNeeded)
	}
	ctx, cancel := context.WithTimeout(ctx, backendCallTimeout)
	defer cancel()
	reg := registrationFromWire(r.header, r.body, r.timeout)
	res, err := b.d.Register(ctx, reg)
	if err != nil {
		return RegisterResult{}, fmt.Errorf("register at discovery backend: %w", err)
	}
	b.mu.Lock()
	prev := b.forwarded[reg.Broker.Address]
	b.forwarded[reg.Broker.Address] = &forwarded{key: reg.Broker, lastUpdate: r.now, timeout: r.timeout, conn: r.conn}
	b.mu.Unlock()
	return RegisterResult{MasterAddr: res.MasterAddress, HAServerAddr: res.HAAddress, First: prev == nil}, nil
}

func (b *backendRegistry) unregister(ctx context.Context, h *protocol.UnregisterBrokerHeader) error {
	b.mu.Lock()
	if f := b.forwarded[h.BrokerAddr]; f != nil && f.key.BrokerID == h.BrokerID && f.key.BrokerName == h.BrokerName {
		delete(b.forwarded, h.BrokerAddr)
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, backendCallTimeout)
	defer cancel()
	k := discovery.BrokerKey{Cluster: h.ClusterName, BrokerName: h.BrokerName, BrokerID: h.BrokerID, Address: h.BrokerAddr}
	if err := b.d.Unregister(ctx, k); err != nil {
		return fmt.Errorf("unregister at discovery backend: %w", err)
	}
	return nil
}

func (b *backendRegistry) route(ctx context.Context, topic string) (protocol.TopicRouteData, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, backendCallTimeout)
	defer cancel()
	r, err := b.d.Route(ctx, topic)
	if errors.Is(err, plugin.ErrNotFound) {
		return protocol.TopicRouteData{}, false, nil
	}
	if err != nil {
		return protocol.TopicRouteData{}, false, fmt.Errorf("route of %s from discovery backend: %w", topic, err)
	}
	rd := routeToWire(r)
	return rd, len(rd.QueueDatas) > 0 && len(rd.BrokerDatas) > 0, nil
}

func (b *backendRegistry) clusterInfo(ctx context.Context) (protocol.ClusterInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, backendCallTimeout)
	defer cancel()
	ci, err := b.d.Brokers(ctx)
	if err != nil {
		return protocol.ClusterInfo{}, fmt.Errorf("brokers from discovery backend: %w", err)
	}
	return clusterInfoToWire(ci), nil
}

func (b *backendRegistry) allTopics(ctx context.Context) ([]string, error) {
	l, ok := b.d.(topicLister)
	if !ok {
		return nil, fmt.Errorf("%w: the discovery backend cannot list topics", plugin.ErrUnsupported)
	}
	ctx, cancel := context.WithTimeout(ctx, backendCallTimeout)
	defer cancel()
	ts, err := l.Topics(ctx)
	if err != nil {
		return nil, fmt.Errorf("topics from discovery backend: %w", err)
	}
	return sortedTopics(ts), nil
}

func (b *backendRegistry) topicsByCluster(ctx context.Context, cluster string) ([]string, error) {
	l, ok := b.d.(clusterTopicLister)
	if !ok {
		return nil, fmt.Errorf("%w: the discovery backend cannot list a cluster's topics", plugin.ErrUnsupported)
	}
	ctx, cancel := context.WithTimeout(ctx, backendCallTimeout)
	defer cancel()
	ts, err := l.TopicsByCluster(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("topics of cluster %s from discovery backend: %w", cluster, err)
	}
	return sortedTopics(ts), nil
}

// sortedTopics sorts and de-duplicates a listing, never nil, as RouteInfo answers.
func sortedTopics(ts []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(ts)))
	if out == nil {
		out = []string{}
	}
	return out
}

// deleteTopic is a no-op unless the backend keeps topics of its own: routes come from the
// brokers' registered tables, and a broker re-registers its table when a topic is deleted
// there (DELETE_TOPIC_IN_BROKER comes first in every admin tool).
func (b *backendRegistry) deleteTopic(ctx context.Context, topic, cluster string) error {
	d, ok := b.d.(topicDeleter)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, backendCallTimeout)
	defer cancel()
	return d.DeleteTopic(ctx, topic, cluster)
}

func (b *backendRegistry) expire(ctx context.Context, now time.Time, timeout time.Duration) []Expired {
	return b.drop(ctx, func(f *forwarded) bool {
		d := timeout
		if f.timeout > 0 {
			d = f.timeout
		}
		return f.lastUpdate.Add(d).Before(now)
	})
}

func (b *backendRegistry) connClosed(ctx context.Context, conn any) []string {
	var addrs []string
	for _, e := range b.drop(ctx, func(f *forwarded) bool { return f.conn == conn }) {
		addrs = append(addrs, e.Addr)
	}
	return addrs
}

// drop forgets the forwarded brokers gone matches and unregisters them from the backend, in
// address order; a failed unregister is logged (the backend's own TTL then removes it).
func (b *backendRegistry) drop(ctx context.Context, gone func(*forwarded) bool) []Expired {
	var out []Expired
	var keys []discovery.BrokerKey
	b.mu.Lock()
	for _, addr := range slices.Sorted(maps.Keys(b.forwarded)) {
		if f := b.forwarded[addr]; gone(f) {
			out = append(out, Expired{Addr: addr, Conn: f.conn})
			keys = append(keys, f.key)
			delete(b.forwarded, addr)
		}
	}
	b.mu.Unlock()
	for _, k := range keys {
		uctx, cancel := context.WithTimeout(ctx, backendCallTimeout)
		if err := b.d.Unregister(uctx, k); err != nil {
			b.log.Warn("unregister silent broker at discovery backend failed", "broker", k.Address, "broker_name", k.BrokerName, "err", err)
		}
		cancel()
	}
	return out
}
