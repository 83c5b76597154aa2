package offsets

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCommitQueryPersist(t *testing.T) {
	dir := t.TempDir()
	m, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Query("g", "T", 0); ok {
		t.Fatal("offset before any commit")
	}
	m.Commit("g", "T", 0, 10)
	m.Commit("g", "T", 1, 20)
	m.Commit("g2", "T", 0, 5)
	m.Commit("g", "U", 3, 7)
	m.Commit("g", "T", 2, -1) // ignored, as Java clients send -1 when they have nothing
	if off, ok := m.Query("g", "T", 1); !ok || off != 20 {
		t.Fatalf("query %d %v", off, ok)
	}
	if got := m.Groups("T"); !slices.Equal(got, []string{"g", "g2"}) {
		t.Fatalf("groups %v", got)
	}
	if got := m.Topics("g"); !slices.Equal(got, []string{"T", "U"}) {
		t.Fatalf("topics %v", got)
	}
	want := []Entry{{"g", "T", 0, 10}, {"g", "T", 1, 20}, {"g", "U", 3, 7}, {"g2", "T", 0, 5}}
	if got := m.All(); !slices.Equal(got, want) {
		t.Fatalf("all %v, want %v", got, want)
	}
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	m2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if off, ok := m2.Query("g", "T", 0); !ok || off != 10 {
		t.Fatalf("after reopen: %d %v", off, ok)
	}
	if got := m2.Offsets("g", "T"); len(got) != 2 {
		t.Fatalf("offsets %v", got)
	}
	m2.DeleteTopic("T")
	if _, ok := m2.Query("g", "T", 0); ok {
		t.Fatal("offset kept after topic deletion")
	}
	if err := m2.Flush(); err != nil {
		t.Fatal(err)
	}
	m3, _ := Open(dir)
	if _, ok := m3.Query("g2", "T", 0); ok {
		t.Fatal("deleted topic came back")
	}
	if off, ok := m3.Query("g", "U", 3); !ok || off != 7 {
		t.Fatal("other topic lost")
	}
}

func TestOpenRejectsGarbage(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "consumerOffset.json"), []byte("{not json"), 0o644)
	if _, err := Open(dir); err == nil {
		t.Fatal("accepted")
	}
}

func TestRocketMQFileFormat(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "consumerOffset.json"), []byte(`{"offsetTable":{"TopicA@groupA":{"0":3,"1":4}}}`), 0o644)
	m, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if off, ok := m.Query("groupA", "TopicA", 1); !ok || off != 4 {
		t.Fatalf("%d %v", off, ok)
	}
}

// TestEncodeMerge: a master's table, encoded as GET_ALL_CONSUMER_OFFSET's body, merged into a
// slave's: the slave then answers the master's offsets, keeps its own others, and persists them.
func TestEncodeMerge(t *testing.T) {
	master, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	master.Commit("g1", "T", 0, 10)
	master.Commit("g1", "T", 3, 7)
	master.Commit("g2", "U", 1, 5)
	body, err := master.Encode()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	slave, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	slave.Commit("g1", "T", 0, 3)
	slave.Commit("g3", "V", 0, 1)
	if err := slave.Merge(body); err != nil {
		t.Fatal(err)
	}
	if err := slave.Flush(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		g, topic string
		q        int32
		want     int64
	}{{"g1", "T", 0, 10}, {"g1", "T", 3, 7}, {"g2", "U", 1, 5}, {"g3", "V", 0, 1}} {
		if got, ok := again.Query(c.g, c.topic, c.q); !ok || got != c.want {
			t.Errorf("%s %s %d: %d %v, want %d", c.g, c.topic, c.q, got, ok, c.want)
		}
	}
	if err := slave.Merge([]byte("{not json")); err == nil {
		t.Error("Merge took garbage")
	}
}
