package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/ternmq/tern/core/atomicfile"
)

// offsetStore keeps a push consumer's consumed offsets: in memory, updated as messages are
// acknowledged, and persisted now and then (every commit interval, when a queue is dropped,
// at Close). Offsets are RocketMQ's: the next offset to consume.
type offsetStore interface {
	// read returns mq's persisted offset; ErrNoOffset when there is none.
	read(ctx context.Context, mq MessageQueue) (int64, error)
	// update records offset as mq's progress, in memory.
	update(mq MessageQueue, offset int64)
	// persist writes the in-memory offsets of mqs.
	persist(ctx context.Context, mqs []MessageQueue) error
	// forget drops what the store keeps in memory of a queue the consumer no longer holds, so
	// that a stale offset is never written for it if the queue comes back.
	forget(mq MessageQueue)
}

var (
	_ offsetStore = (*remoteOffsets)(nil)
	_ offsetStore = (*localOffsets)(nil)
)

// remoteOffsets keeps a clustering group's offsets on the brokers (QUERY_CONSUMER_OFFSET,
// UPDATE_CONSUMER_OFFSET).
type remoteOffsets struct {
	core *consumerCore

	persistMu sync.Mutex // one persist at a time, so that a later one sends the later offsets
	mu        sync.Mutex // guards the maps
	table     map[MessageQueue]int64
	persisted map[MessageQueue]int64 // what the broker was last told
}

func newRemoteOffsets(core *consumerCore) *remoteOffsets {
	return &remoteOffsets{core: core, table: map[MessageQueue]int64{}, persisted: map[MessageQueue]int64{}}
}

func (s *remoteOffsets) read(ctx context.Context, mq MessageQueue) (int64, error) {
	off, err := s.core.committedOffset(ctx, mq)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.persisted[mq] = off
	s.mu.Unlock()
	return off, nil
}

func (s *remoteOffsets) update(mq MessageQueue, offset int64) {
	s.mu.Lock()
	s.table[mq] = offset
	s.mu.Unlock()
}

func (s *remoteOffsets) forget(mq MessageQueue) {
	s.mu.Lock()
	delete(s.table, mq)
	delete(s.persisted, mq)
	s.mu.Unlock()
}

// persist commits the offsets of mqs that changed since the broker last heard of them.
func (s *remoteOffsets) persist(ctx context.Context, mqs []MessageQueue) error {
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	var errs []error
	for _, mq := range mqs {
		s.mu.Lock()
		off, ok := s.table[mq]
		last, told := s.persisted[mq]
		s.mu.Unlock()
		if !ok || off < 0 || told && last == off {
			continue
		}
		if err := s.core.commitOffset(ctx, mq, off); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		s.mu.Lock()
		s.persisted[mq] = off
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// localOffsets keeps a broadcasting consumer's offsets in a JSON file, replaced atomically
// (written to a temporary file, synced, renamed). Offsets of every queue ever consumed stay
// in the file.
type localOffsets struct {
	path string

	mu    sync.Mutex // guards table and dirty; fileMu orders writes
	table map[MessageQueue]int64
	dirty bool

	fileMu sync.Mutex
}

// offsetFile is the offset file's content.
type offsetFile struct {
	Group   string            `json:"group"`
	Offsets []offsetFileEntry `json:"offsets"`
}

type offsetFileEntry struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
	Offset     int64  `json:"offset"`
}

// loadLocalOffsets reads dir/<group>.json; a missing file is an empty store.
func loadLocalOffsets(dir, group string) (*localOffsets, error) {
	s := &localOffsets{path: filepath.Join(dir, fileSafe(group)+".json"), table: map[MessageQueue]int64{}}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load offsets: %w", err)
	}
	var f offsetFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("load offsets from %s: %w", s.path, err)
	}
	for _, e := range f.Offsets {
		s.table[MessageQueue{Topic: e.Topic, BrokerName: e.BrokerName, QueueID: e.QueueID}] = e.Offset
	}
	return s, nil
}

// fileSafe replaces the characters a group name may have that a file name should not.
func fileSafe(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r == 0 {
			return '_'
		}
		return r
	}, name)
}

func (s *localOffsets) read(_ context.Context, mq MessageQueue) (int64, error) {
	if off, ok := s.local(mq); ok {
		return off, nil
	}
	return 0, fmt.Errorf("%s: %w", mq, ErrNoOffset)
}

func (s *localOffsets) update(mq MessageQueue, offset int64) {
	s.mu.Lock()
	if old, ok := s.table[mq]; !ok || old != offset {
		s.table[mq], s.dirty = offset, true
	}
	s.mu.Unlock()
}

func (s *localOffsets) local(mq MessageQueue) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	off, ok := s.table[mq]
	return off, ok
}

// persist writes the whole table if it changed (mqs does not matter: the file has every queue).
// forget keeps the offset: a broadcasting consumer's offsets are its own, whoever else
// consumes the queue.
func (s *localOffsets) forget(MessageQueue) {}

func (s *localOffsets) persist(_ context.Context, _ []MessageQueue) error {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	f := offsetFile{Group: strings.TrimSuffix(filepath.Base(s.path), ".json"), Offsets: make([]offsetFileEntry, 0, len(s.table))}
	for mq, off := range s.table {
		f.Offsets = append(f.Offsets, offsetFileEntry{Topic: mq.Topic, BrokerName: mq.BrokerName, QueueID: mq.QueueID, Offset: off})
	}
	s.dirty = false
	s.mu.Unlock()
	slices.SortFunc(f.Offsets, func(a, b offsetFileEntry) int {
		return MessageQueue{a.Topic, a.BrokerName, a.QueueID}.compare(MessageQueue{b.Topic, b.BrokerName, b.QueueID})
	})
	b, err := json.MarshalIndent(f, "", "  ")
	if err == nil {
		err = atomicfile.Write(s.path, b)
	}
	if err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return fmt.Errorf("persist offsets: %w", err)
	}
	return nil
}
