package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// topicRoute is a topic's route as the NameServers answered it, with the queue lists derived
// from it.
type topicRoute struct {
	data    protocol.TopicRouteData
	fetched time.Time
	// publish lists the writable queues of brokers that have a master, in broker-name order.
	publish []MessageQueue
	// subscribe lists the readable queues, in broker-name order.
	subscribe []MessageQueue
	// next is the producers' round-robin position over publish: from a random start, and
	// carried over when the route is fetched again. It lives here, not in a table of its own:
	// with thousands of topics every lookup by topic is a cache miss.
	next atomic.Uint32
}

// newTopicRoute derives the queue lists of topic from data.
func newTopicRoute(topic string, data protocol.TopicRouteData) *topicRoute {
	data.Sort()
	r := &topicRoute{data: data, fetched: time.Now()}
	r.next.Store(rand.Uint32())
	masters := make(map[string]bool)
	for _, b := range data.BrokerDatas {
		if b.MasterAddr() != "" {
			masters[b.BrokerName] = true
		}
	}
	for _, q := range data.QueueDatas {
		if protocol.IsWriteable(q.Perm) && masters[q.BrokerName] {
			for i := range q.WriteQueueNums {
				r.publish = append(r.publish, MessageQueue{Topic: topic, BrokerName: q.BrokerName, QueueID: i})
			}
		}
		if protocol.IsReadable(q.Perm) {
			for i := range q.ReadQueueNums {
				r.subscribe = append(r.subscribe, MessageQueue{Topic: topic, BrokerName: q.BrokerName, QueueID: i})
			}
		}
	}
	return r
}

// route returns topic's route from the cache, fetching it on a miss. The fetch also ends at
// deadline (the zero time: ctx alone bounds it); a cached route costs no context.
func (in *instance) route(ctx context.Context, topic string, deadline time.Time) (*topicRoute, error) {
	if r := in.cachedRoute(topic); r != nil {
		return r, nil
	}
	ctx, cancel := withDeadline(ctx, deadline)
	defer cancel()
	return in.fetchRoute(ctx, topic)
}

// cachedRoute returns topic's cached route, or nil.
func (in *instance) cachedRoute(topic string) *topicRoute {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return in.routes[topic]
}

// fetchRoute asks the NameServers for topic's route and caches it. A topic the NameServers
// don't know gives an error matching ErrTopicNotExist (and ErrNoRoute).
func (in *instance) fetchRoute(ctx context.Context, topic string) (*topicRoute, error) {
	h := protocol.GetRouteInfoHeader{Topic: topic, AcceptStandardJSONOnly: true}
	resp, err := in.invokeNameServer(ctx, func() *remoting.Command {
		return remoting.NewRequest(remoting.GetRouteInfoByTopic, h.Encode(), nil)
	})
	if err != nil {
		return nil, fmt.Errorf("route of %s: %w", topic, err)
	}
	if err := brokerError(resp); err != nil {
		if errors.Is(err, ErrTopicNotExist) {
			return nil, fmt.Errorf("route of %s: %w: %w", topic, ErrNoRoute, err)
		}
		return nil, fmt.Errorf("route of %s: %w", topic, err)
	}
	var data protocol.TopicRouteData
	if err := data.UnmarshalJSON(resp.Body); err != nil {
		return nil, fmt.Errorf("route of %s: %w", topic, err)
	}
	r := newTopicRoute(topic, data)
	in.mu.Lock()
	if old := in.routes[topic]; old != nil {
		r.next.Store(old.next.Load()) // a refresh every 30 s must not move the sends' turn
	}
	in.routes[topic] = r
	for _, b := range data.BrokerDatas {
		ids := in.brokers[b.BrokerName]
		if ids == nil {
			ids = make(map[int64]string)
			in.brokers[b.BrokerName] = ids
		}
		clear(ids)
		for id, addr := range b.BrokerAddrs {
			ids[id] = addr
		}
	}
	in.mu.Unlock()
	return r, nil
}

// refreshRoutes re-fetches every cached route. A route that fails to refresh keeps its last
// value (a NameServer outage must not stop a running client).
func (in *instance) refreshRoutes(ctx context.Context) {
	in.mu.RLock()
	topics := make([]string, 0, len(in.routes))
	for t := range in.routes {
		topics = append(topics, t)
	}
	in.mu.RUnlock()
	slices.Sort(topics)
	for _, t := range topics {
		if _, err := in.fetchRoute(ctx, t); err != nil && ctx.Err() == nil {
			in.log.Warn("route refresh failed", "topic", t, "err", err)
		}
	}
}

// forgetRoute drops topic's cached route (after a failure that suggests it is stale) so that
// the next call fetches it again.
func (in *instance) forgetRoute(topic string) {
	in.mu.Lock()
	delete(in.routes, topic)
	in.mu.Unlock()
}
