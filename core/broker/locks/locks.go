// Package locks keeps the queue locks of orderly consumers (RocketMQ's RebalanceLockManager):
// a consumer group's queue is locked by one client at a time; a lock lapses when its holder
// has not renewed it for the expiry time (RocketMQ: 60 s), and the holder renews every lock it
// holds by asking again.
package locks

import (
	"sync"
	"time"
)

// Queue identifies a message queue.
type Queue struct {
	Topic      string
	BrokerName string
	QueueID    int32
}

type lock struct {
	client  string
	renewed time.Time
}

type key struct {
	group string
	queue Queue
}

// Manager holds the locks. It is safe for concurrent use.
type Manager struct {
	expiry time.Duration
	now    func() time.Time

	mu    sync.Mutex
	locks map[key]lock
}

// New returns a Manager whose locks lapse after expiry; now is the clock (nil: time.Now).
func New(expiry time.Duration, now func() time.Time) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{expiry: expiry, now: now, locks: make(map[key]lock)}
}

// TryLock locks (or renews) every queue it can for client and returns the queues client now
// holds: the free or lapsed ones and those it already held.
func (m *Manager) TryLock(group, client string, queues []Queue) []Queue {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var held []Queue
	for _, q := range queues {
		k := key{group, q}
		l, ok := m.locks[k]
		if !ok || l.client == client || now.Sub(l.renewed) > m.expiry {
			m.locks[k] = lock{client: client, renewed: now}
			held = append(held, q)
		}
	}
	return held
}

// Unlock releases the queues client holds among queues.
func (m *Manager) Unlock(group, client string, queues []Queue) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, q := range queues {
		k := key{group, q}
		if l, ok := m.locks[k]; ok && l.client == client {
			delete(m.locks, k)
		}
	}
}

// Holder returns the live holder of a queue's lock, or "".
func (m *Manager) Holder(group string, q Queue) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.locks[key{group, q}]; ok && m.now().Sub(l.renewed) <= m.expiry {
		return l.client
	}
	return ""
}
