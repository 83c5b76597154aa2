package checkpoint

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint")
	if _, ok, err := Load(path); ok || err != nil {
		t.Fatalf("missing file: ok=%v err=%v", ok, err)
	}
	want := Checkpoint{CommitLogFlushed: 4096, ConsumeQueueDispatched: 2048, IndexDispatched: 1024, CommitLogTimestamp: 7}
	for range 2 { // the second save replaces the first
		if err := Save(path, want); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := Load(path)
	if !ok || err != nil || got != want {
		t.Fatalf("load: %+v ok=%v err=%v", got, ok, err)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	for name, content := range map[string]string{
		"not json":        "garbage",
		"negative offset": `{"commitLogFlushed":-1}`,
		"truncated":       `{"commitLogFlushed":12`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "checkpoint")
			os.WriteFile(path, []byte(content), 0o644)
			if _, _, err := Load(path); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
