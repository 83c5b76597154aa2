// Package offsets keeps consumer offsets (RocketMQ's ConsumerOffsetManager): for each consumer
// group, topic and queue, the next offset the group will consume. The table is persisted as
// JSON in <dir>/consumerOffset.json, keyed "topic@group" as RocketMQ does, by Flush (the broker
// calls it every flushConsumerOffsetInterval and at shutdown); the write is atomic.
package offsets

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ternmq/tern/core/atomicfile"
)

type key struct{ topic, group string }

// Manager holds the offset table. It is safe for concurrent use.
type Manager struct {
	path string

	mu    sync.RWMutex
	table map[key]map[int32]int64
	dirty bool
}

type file struct {
	OffsetTable map[string]map[string]int64 `json:"offsetTable"`
}

// Open loads <dir>/consumerOffset.json if it exists.
func Open(dir string) (*Manager, error) {
	m := &Manager{path: filepath.Join(dir, "consumerOffset.json"), table: map[key]map[int32]int64{}}
	b, err := os.ReadFile(m.path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("offsets: %w", err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("offsets: %s: %w", m.path, err)
	}
	for k, qs := range f.OffsetTable {
		topic, group, ok := strings.Cut(k, "@")
		if !ok {
			continue
		}
		t := map[int32]int64{}
		for q, off := range qs {
			qid, err := strconv.ParseInt(q, 10, 32)
			if err != nil || qid < 0 || off < 0 {
				continue
			}
			t[int32(qid)] = off
		}
		m.table[key{topic, group}] = t
	}
	return m, nil
}

// Commit records offset as the next offset group consumes from (topic, queueID).
func (m *Manager) Commit(group, topic string, queueID int32, offset int64) {
	if offset < 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := key{topic, group}
	t := m.table[k]
	if t == nil {
		t = map[int32]int64{}
		m.table[k] = t
	}
	if old, ok := t[queueID]; !ok || old != offset {
		t[queueID] = offset
		m.dirty = true
	}
}

// Query returns the committed offset of (group, topic, queueID), or ok=false.
func (m *Manager) Query(group, topic string, queueID int32) (offset int64, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	offset, ok = m.table[key{topic, group}][queueID]
	return offset, ok
}

// Offsets returns the committed offsets of group on topic by queue.
func (m *Manager) Offsets(group, topic string) map[int32]int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return maps.Clone(m.table[key{topic, group}])
}

// Entry is one committed offset.
type Entry struct {
	Group, Topic string
	QueueID      int32
	Offset       int64
}

// All returns every committed offset, sorted by group, topic and queue.
func (m *Manager) All() []Entry {
	m.mu.RLock()
	out := make([]Entry, 0, len(m.table))
	for k, t := range m.table {
		for q, off := range t {
			out = append(out, Entry{Group: k.group, Topic: k.topic, QueueID: q, Offset: off})
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.Topic, b.Topic), cmp.Compare(a.QueueID, b.QueueID))
	})
	return out
}

// Groups returns the groups with offsets on topic, sorted.
func (m *Manager) Groups(topic string) []string {
	return m.collect(func(k key) (string, bool) { return k.group, k.topic == topic })
}

// Topics returns the topics group has offsets on, sorted.
func (m *Manager) Topics(group string) []string {
	return m.collect(func(k key) (string, bool) { return k.topic, k.group == group })
}

// collect returns, sorted, what pick yields for the keys it selects.
func (m *Manager) collect(pick func(key) (string, bool)) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for k := range m.table {
		if v, ok := pick(k); ok {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// DeleteTopic forgets every group's offsets on topic.
func (m *Manager) DeleteTopic(topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.table {
		if k.topic == topic {
			delete(m.table, k)
			m.dirty = true
		}
	}
}

// Flush persists the table if it changed since the last Flush.
func (m *Manager) Flush() error {
	m.mu.Lock()
	if !m.dirty {
		m.mu.Unlock()
		return nil
	}
	f := m.fileLocked()
	m.dirty = false
	m.mu.Unlock()
	b, err := json.MarshalIndent(f, "", "  ")
	if err == nil {
		err = atomicfile.Write(m.path, b)
	}
	if err != nil {
		m.mu.Lock()
		m.dirty = true
		m.mu.Unlock()
		return fmt.Errorf("offsets: %w", err)
	}
	return nil
}

// Encode returns the table as RocketMQ's ConsumerOffsetSerializeWrapper JSON (the body of
// GET_ALL_CONSUMER_OFFSET, and the file's format).
func (m *Manager) Encode() ([]byte, error) {
	m.mu.RLock()
	f := m.fileLocked()
	m.mu.RUnlock()
	return json.Marshal(f)
}

// fileLocked returns the table in the file's form. m.mu is held.
func (m *Manager) fileLocked() file {
	f := file{OffsetTable: make(map[string]map[string]int64, len(m.table))}
	for k, t := range m.table {
		qs := make(map[string]int64, len(t))
		for q, off := range t {
			qs[strconv.Itoa(int(q))] = off
		}
		f.OffsetTable[k.topic+"@"+k.group] = qs
	}
	return f
}

// Merge commits every offset of an encoded table (a master's, on its slave).
func (m *Manager) Merge(body []byte) error {
	var f file
	if err := json.Unmarshal(body, &f); err != nil {
		return fmt.Errorf("offsets: %w", err)
	}
	for k, qs := range f.OffsetTable {
		topic, group, ok := strings.Cut(k, "@")
		if !ok {
			continue
		}
		for q, off := range qs {
			if qid, err := strconv.ParseInt(q, 10, 32); err == nil && qid >= 0 {
				m.Commit(group, topic, int32(qid), off)
			}
		}
	}
	return nil
}
