// Package lru is the bounded cache of compiled filter expressions: a map with least recently
// used eviction, safe for concurrent use.
//
// One mutex guards the map and the recency list; Get takes it too, as it moves the entry to
// the front. Filters look an expression up once per batch, not per message, so the lock is
// cheap next to the work it saves. When the cache is full, Add evicts the least recently used
// entry.
package lru

import "sync"

// Cache maps keys to values, holding at most its capacity of entries.
type Cache[K comparable, V any] struct {
	mu       sync.Mutex
	capacity int
	entries  map[K]*entry[K, V]
	// root is the sentinel of a circular list, most recently used first.
	root entry[K, V]
}

type entry[K comparable, V any] struct {
	key        K
	value      V
	prev, next *entry[K, V]
}

// New returns a cache for at most capacity entries (at least 1).
func New[K comparable, V any](capacity int) *Cache[K, V] {
	c := &Cache[K, V]{capacity: max(capacity, 1), entries: make(map[K]*entry[K, V])}
	c.root.prev, c.root.next = &c.root, &c.root
	return c
}

// Get returns the value of key and marks it most recently used.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.unlink(e)
	c.pushFront(e)
	return e.value, true
}

// Add sets the value of key, marks it most recently used and evicts the least recently used
// entry if the cache is over capacity.
func (c *Cache[K, V]) Add(key K, value V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		e.value = value
		c.unlink(e)
		c.pushFront(e)
		return
	}
	e := &entry[K, V]{key: key, value: value}
	c.entries[key] = e
	c.pushFront(e)
	if len(c.entries) > c.capacity {
		last := c.root.prev
		c.unlink(last)
		delete(c.entries, last.key)
	}
}

// Len returns the number of entries.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *Cache[K, V]) unlink(e *entry[K, V]) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *Cache[K, V]) pushFront(e *entry[K, V]) {
	e.prev, e.next = &c.root, c.root.next
	c.root.next.prev = e
	c.root.next = e
}
