package topics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/protocol"
)

func open(t *testing.T, dir string) *Manager {
	t.Helper()
	m, err := Open(Options{Dir: dir, Cluster: "DefaultCluster", BrokerName: "broker-a", AutoCreate: true, DefaultQueueNums: 8, ScheduleLevels: 18,
		Now: func() time.Time { return time.UnixMilli(1000) }})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSystemTopics(t *testing.T) {
	m := open(t, t.TempDir())
	for name, want := range map[string]Config{
		"TBW102":                     {TopicName: "TBW102", ReadQueueNums: 8, WriteQueueNums: 8, Perm: 7, TopicFilterType: "SINGLE_TAG"},
		"SCHEDULE_TOPIC_XXXX":        {TopicName: "SCHEDULE_TOPIC_XXXX", ReadQueueNums: 18, WriteQueueNums: 18, Perm: 6, TopicFilterType: "SINGLE_TAG"},
		"DefaultCluster_REPLY_TOPIC": {TopicName: "DefaultCluster_REPLY_TOPIC", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6, TopicFilterType: "SINGLE_TAG"},
	} {
		if got, ok := m.Get(name); !ok || got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	if err := m.Delete("TBW102"); !errors.Is(err, ErrSystemTopic) {
		t.Fatalf("deleting TBW102: %v", err)
	}
}

func TestUpdatePersistDelete(t *testing.T) {
	dir := t.TempDir()
	m := open(t, dir)
	v0 := m.DataVersion()
	c := Config{TopicName: "Orders", ReadQueueNums: 4, WriteQueueNums: 4, Perm: protocol.PermRead | protocol.PermWrite}
	if changed, err := m.Update(c); !changed || err != nil {
		t.Fatalf("update: %v %v", changed, err)
	}
	if changed, _ := m.Update(Config{TopicName: "Orders", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, TopicFilterType: "SINGLE_TAG"}); changed {
		t.Fatal("an identical update changed the table")
	}
	if v := m.DataVersion(); v.Counter != v0.Counter+1 {
		t.Fatalf("data version %+v after one change from %+v", v, v0)
	}
	m2 := open(t, dir)
	if got, ok := m2.Get("Orders"); !ok || got.WriteQueueNums != 4 || !protocol.IsWriteable(got.Perm) || !protocol.IsReadable(got.Perm) {
		t.Fatalf("after reopen: %+v %v", got, ok)
	}
	if err := m2.Delete("Orders"); err != nil {
		t.Fatal(err)
	}
	if err := m2.Delete("Orders"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, ok := open(t, dir).Get("Orders"); ok {
		t.Fatal("deleted topic came back")
	}
}

func TestCreateIfAbsent(t *testing.T) {
	m := open(t, t.TempDir())
	c, created, err := m.CreateIfAbsent("%RETRY%g", 1, 6)
	if err != nil || !created || c.ReadQueueNums != 1 {
		t.Fatalf("%+v %v %v", c, created, err)
	}
	if _, created, _ := m.CreateIfAbsent("%RETRY%g", 3, 6); created {
		t.Fatal("created twice")
	}
}

func TestValidate(t *testing.T) {
	m := open(t, t.TempDir())
	for name, topic := range map[string]string{
		"empty":        "",
		"too long":     strings.Repeat("a", 128),
		"slash":        "a/b",
		"space":        "a b",
		"dot":          "a.b",
		"cluster name": "DefaultCluster",
		"broker name":  "broker-a",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := m.Update(Config{TopicName: topic, ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6})
			if !errors.Is(err, ErrInvalidTopic) {
				t.Fatalf("%q: %v", topic, err)
			}
		})
	}
	if _, err := m.Update(Config{TopicName: "ok", ReadQueueNums: 0, WriteQueueNums: 1, Perm: 6}); err == nil {
		t.Fatal("zero queues accepted")
	}
	if err := Validate("%RETRY%group_1-x|y"); err != nil {
		t.Fatal(err)
	}
}

// TestReplace: a slave's table becomes its master's, data version included, persisted; invalid
// names are skipped.
func TestReplace(t *testing.T) {
	dir := t.TempDir()
	m := open(t, dir)
	table := map[string]Config{
		"Orders":   {ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6},
		"bad name": {ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6},
	}
	ver := DataVersion{Timestamp: 12345, Counter: 42}
	if err := m.Replace(table, ver); err != nil {
		t.Fatal(err)
	}
	if got := m.DataVersion(); got != ver {
		t.Errorf("data version %+v, want %+v", got, ver)
	}
	again := open(t, dir) // adds back the system topics the table lacks
	all, _ := again.All()
	if c, ok := all["Orders"]; !ok || c.TopicName != "Orders" || c.WriteQueueNums != 4 {
		t.Errorf("Orders: %+v %v", c, ok)
	}
	if _, ok := all["bad name"]; ok {
		t.Error("an invalid name was kept")
	}
}
