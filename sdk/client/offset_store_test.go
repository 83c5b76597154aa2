package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestLocalOffsets: offsets survive a reload, the file is replaced whole, and a corrupt file
// is an error rather than a silent restart.
func TestLocalOffsets(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := loadLocalOffsets(dir, "g/1")
	if err != nil {
		t.Fatal(err)
	}
	a := MessageQueue{Topic: "T", BrokerName: "b", QueueID: 0}
	b := MessageQueue{Topic: "T", BrokerName: "b", QueueID: 1}
	if _, err := s.read(ctx, a); !errors.Is(err, ErrNoOffset) {
		t.Fatalf("read of an unknown queue: %v", err)
	}
	s.update(a, 5)
	s.update(b, 7)
	if err := s.persist(ctx, nil); err != nil {
		t.Fatal(err)
	}
	s.update(a, 6)
	if err := s.persist(ctx, nil); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "g_1.json" {
		t.Fatalf("directory holds %v, want only g_1.json", entries)
	}
	s2, err := loadLocalOffsets(dir, "g/1")
	if err != nil {
		t.Fatal(err)
	}
	for mq, want := range map[MessageQueue]int64{a: 6, b: 7} {
		if got, err := s2.read(ctx, mq); err != nil || got != want {
			t.Errorf("%v: %d %v, want %d", mq, got, err, want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "g_1.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadLocalOffsets(dir, "g/1"); err == nil {
		t.Fatal("corrupt offset file loaded")
	}
}

// TestRemoteOffsetsForget: once a queue is forgotten (taken away by a rebalance), its last
// offset is never committed again, even if the queue comes back before its new runner has
// read the broker's offset. (A nil core would panic if persist tried to commit.)
func TestRemoteOffsetsForget(t *testing.T) {
	s := newRemoteOffsets(nil)
	mq := MessageQueue{Topic: "T", BrokerName: "b", QueueID: 1}
	s.update(mq, 5)
	s.forget(mq)
	if err := s.persist(context.Background(), []MessageQueue{mq}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.table[mq]; ok {
		t.Fatal("the forgotten queue's offset is still kept")
	}
}
