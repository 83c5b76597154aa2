// Package clients tracks the producers and consumers connected to the broker (RocketMQ's
// ProducerManager and ConsumerManager): group membership keyed by connection, consumer
// subscriptions from heartbeats, and expiry of connections that stop sending heartbeats.
//
// Clients are known by the connection their heartbeat came on: the Go client never sends
// UNREGISTER_CLIENT, so a closed connection (Disconnected) or 120 s without a heartbeat
// (Expire) is an unregistration. Every change of a consumer group's membership or
// subscriptions is reported through the OnChange callback, which the broker turns into
// NOTIFY_CONSUMER_IDS_CHANGED to the group's remaining members.
package clients

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// Conn is a client's connection as the manager needs it.
type Conn interface {
	RemoteAddr() string
}

// Client is one connected client instance.
type Client struct {
	ID            string // clientID from the heartbeat
	Conn          Conn
	Language      string
	Version       int
	LastHeartbeat time.Time
}

// Subscription is one topic subscription of a consumer group.
type Subscription struct {
	Topic          string
	Expression     string // subString
	ExpressionType string // TAG, SQL92, CEL or a filter plugin's name
	Tags           []string
	SubVersion     int64
}

// ConsumerInfo describes a consumer group as its members' heartbeats describe it.
type ConsumerInfo struct {
	Group            string
	ConsumeType      string
	MessageModel     string
	ConsumeFromWhere string
	Subscriptions    []Subscription
}

type consumerGroup struct {
	info    ConsumerInfo
	subs    map[string]Subscription
	members map[Conn]*Client
}

// Manager holds the registry. It is safe for concurrent use.
type Manager struct {
	onChange func(group string, members []*Client)

	mu        sync.RWMutex
	consumers map[string]*consumerGroup
	producers map[string]map[Conn]*Client
}

// New returns a Manager. onChange (may be nil) is called, without locks held, after a consumer
// group's membership or subscriptions changed, with the members it has now.
func New(onChange func(group string, members []*Client)) *Manager {
	return &Manager{onChange: onChange, consumers: map[string]*consumerGroup{}, producers: map[string]map[Conn]*Client{}}
}

// Heartbeat records a heartbeat from client for the given producer groups and consumers. It
// returns the consumer groups that changed (new member or new subscriptions).
func (m *Manager) Heartbeat(client Client, producerGroups []string, consumers []ConsumerInfo) []string {
	var changed []string
	m.mu.Lock()
	for _, g := range producerGroups {
		members := m.producers[g]
		if members == nil {
			members = map[Conn]*Client{}
			m.producers[g] = members
		}
		c := client
		members[client.Conn] = &c
	}
	for _, ci := range consumers {
		cg := m.consumers[ci.Group]
		if cg == nil {
			cg = &consumerGroup{members: map[Conn]*Client{}, subs: map[string]Subscription{}}
			m.consumers[ci.Group] = cg
		}
		_, known := cg.members[client.Conn]
		c := client
		cg.members[client.Conn] = &c
		subsChanged := false
		for _, s := range ci.Subscriptions {
			if old, ok := cg.subs[s.Topic]; !ok || old.Expression != s.Expression || old.ExpressionType != s.ExpressionType {
				cg.subs[s.Topic] = s
				subsChanged = true
			} else if s.SubVersion > old.SubVersion {
				cg.subs[s.Topic] = s
			}
		}
		cg.info = ci
		cg.info.Subscriptions = nil
		if !known || subsChanged {
			changed = append(changed, ci.Group)
		}
	}
	notify := m.snapshot(changed)
	m.mu.Unlock()
	m.notify(notify)
	return changed
}

// Disconnected removes every registration made on conn (its connection closed).
func (m *Manager) Disconnected(conn Conn) {
	m.mu.Lock()
	var changed []string
	for g, members := range m.producers {
		delete(members, conn)
		if len(members) == 0 {
			delete(m.producers, g)
		}
	}
	for g, cg := range m.consumers {
		if _, ok := cg.members[conn]; ok {
			delete(cg.members, conn)
			changed = append(changed, g)
		}
		if len(cg.members) == 0 {
			delete(m.consumers, g)
		}
	}
	notify := m.snapshot(changed)
	m.mu.Unlock()
	m.notify(notify)
}

// Unregister removes client id's registrations in the given groups (UNREGISTER_CLIENT).
func (m *Manager) Unregister(id, producerGroup, consumerGroup string) {
	m.mu.Lock()
	var changed []string
	if members := m.producers[producerGroup]; members != nil {
		for c, cl := range members {
			if cl.ID == id {
				delete(members, c)
			}
		}
	}
	if cg := m.consumers[consumerGroup]; cg != nil {
		for c, cl := range cg.members {
			if cl.ID == id {
				delete(cg.members, c)
				changed = append(changed, consumerGroup)
			}
		}
		if len(cg.members) == 0 {
			delete(m.consumers, consumerGroup)
		}
	}
	notify := m.snapshot(changed)
	m.mu.Unlock()
	m.notify(notify)
}

// Expire removes clients whose last heartbeat is older than timeout and returns their
// connections (the broker closes them).
func (m *Manager) Expire(now time.Time, timeout time.Duration) []Conn {
	m.mu.Lock()
	var gone []Conn
	seen := map[Conn]bool{}
	var changed []string
	for g, members := range m.producers {
		for c, cl := range members {
			if now.Sub(cl.LastHeartbeat) > timeout {
				delete(members, c)
				if !seen[c] {
					seen[c] = true
					gone = append(gone, c)
				}
			}
		}
		if len(members) == 0 {
			delete(m.producers, g)
		}
	}
	for g, cg := range m.consumers {
		for c, cl := range cg.members {
			if now.Sub(cl.LastHeartbeat) > timeout {
				delete(cg.members, c)
				changed = append(changed, g)
				if !seen[c] {
					seen[c] = true
					gone = append(gone, c)
				}
			}
		}
		if len(cg.members) == 0 {
			delete(m.consumers, g)
		}
	}
	notify := m.snapshot(slices.Compact(slices.Sorted(slices.Values(changed))))
	m.mu.Unlock()
	m.notify(notify)
	return gone
}

type change struct {
	group   string
	members []*Client
}

// snapshot copies the members of the changed groups; m.mu is held.
func (m *Manager) snapshot(groups []string) []change {
	var out []change
	for _, g := range groups {
		out = append(out, change{g, m.membersLocked(g)})
	}
	return out
}

func (m *Manager) notify(changes []change) {
	if m.onChange == nil {
		return
	}
	for _, c := range changes {
		if len(c.members) > 0 {
			m.onChange(c.group, c.members)
		}
	}
}

func (m *Manager) membersLocked(group string) []*Client {
	cg := m.consumers[group]
	if cg == nil {
		return nil
	}
	out := make([]*Client, 0, len(cg.members))
	for _, c := range cg.members {
		cp := *c
		out = append(out, &cp)
	}
	slices.SortFunc(out, func(a, b *Client) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// Consumers returns the live members of a consumer group, sorted by client id.
func (m *Manager) Consumers(group string) []*Client {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.membersLocked(group)
}

// ConsumerIDs returns the distinct client ids of a group, sorted.
func (m *Manager) ConsumerIDs(group string) []string {
	var ids []string
	for _, c := range m.Consumers(group) {
		ids = append(ids, c.ID)
	}
	return slices.Compact(ids)
}

// Consumer returns a group's description and subscriptions.
func (m *Manager) Consumer(group string) (ConsumerInfo, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	cg := m.consumers[group]
	if cg == nil {
		return ConsumerInfo{}, false
	}
	info := cg.info
	for _, t := range slices.Sorted(maps.Keys(cg.subs)) {
		info.Subscriptions = append(info.Subscriptions, cg.subs[t])
	}
	return info, true
}

// Subscription returns a group's subscription to topic.
func (m *Manager) Subscription(group, topic string) (Subscription, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	cg := m.consumers[group]
	if cg == nil {
		return Subscription{}, false
	}
	s, ok := cg.subs[topic]
	return s, ok
}

// ConsumerGroups returns the names of the groups with live members, sorted.
func (m *Manager) ConsumerGroups() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Sorted(maps.Keys(m.consumers))
}

// Producers returns the live members of a producer group.
func (m *Manager) Producers(group string) []*Client {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*Client
	for _, c := range m.producers[group] {
		cp := *c
		out = append(out, &cp)
	}
	return out
}

// ClientByID finds a live client's connection by client id (request/reply pushes the reply to
// the client named in REPLY_TO_CLIENT).
func (m *Manager) ClientByID(id string) (Conn, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, members := range m.producers {
		for c, cl := range members {
			if cl.ID == id {
				return c, true
			}
		}
	}
	for _, cg := range m.consumers {
		for c, cl := range cg.members {
			if cl.ID == id {
				return c, true
			}
		}
	}
	return nil, false
}
