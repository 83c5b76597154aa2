package topics

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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

// TestSaveFile: topics.json is valid JSON holding the table and version, one topic a line
// sorted by name, and what it holds follows every change: a topic updated after an earlier
// save (its line is kept between saves), one deleted, and the data version.
func TestSaveFile(t *testing.T) {
	dir := t.TempDir()
	m := open(t, dir)
	for _, c := range []Config{
		{TopicName: "B", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6},
		{TopicName: "A", ReadQueueNums: 2, WriteQueueNums: 2, Perm: 6},
		{TopicName: "B", ReadQueueNums: 8, WriteQueueNums: 8, Perm: 6},
		{TopicName: "C", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6},
	} {
		if _, err := m.Update(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Delete("C"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "topics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f file
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("topics.json is not JSON: %v\n%s", err, raw)
	}
	all, ver := m.All()
	if !reflect.DeepEqual(f.TopicConfigTable, all) || f.DataVersion != ver {
		t.Fatalf("topics.json holds %+v at %+v, want %+v at %+v", f.TopicConfigTable, f.DataVersion, all, ver)
	}
	if f.TopicConfigTable["B"].WriteQueueNums != 8 {
		t.Fatalf("B saved with %d queues, want 8 (its update after an earlier save)", f.TopicConfigTable["B"].WriteQueueNums)
	}
	var names []string
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, `    "`) { // the topics' lines, inside topicConfigTable
			continue
		}
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ": {"); ok {
			names = append(names, strings.Trim(name, `"`))
		}
	}
	if want := slices.Sorted(maps.Keys(all)); !slices.Equal(names, want) {
		t.Fatalf("topic lines %q, want one a line in order %q\n%s", names, want, raw)
	}
	if got, ok := open(t, dir).Get("B"); !ok || got.WriteQueueNums != 8 {
		t.Fatalf("after reopen B is %+v, %v", got, ok)
	}
}

// BenchmarkSave2500: one change to a table of 2,500 topics, saved.
func BenchmarkSave2500(b *testing.B) {
	m, err := Open(Options{Dir: b.TempDir(), Cluster: "DefaultCluster", BrokerName: "broker-a", ScheduleLevels: 18})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 2500 {
		if _, err := m.Update(Config{TopicName: fmt.Sprintf("Topic-%d", i), ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Update(Config{TopicName: "Topic-7", ReadQueueNums: int32(1 + i%8), WriteQueueNums: 4, Perm: 6}); err != nil {
			b.Fatal(err)
		}
	}
}
