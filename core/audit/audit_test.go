package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestDeniedRateLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "audit.log")
	now := time.Unix(1000, 0)
	l, err := Open(Options{Path: path, DeniedPerSecond: 3, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		l.Denied("alice-key", "127.0.0.1:1", 10, "topic T", "no PUB")
	}
	l.Admin("admin-key", "127.0.0.1:2", 17, "topic T", 0, "")
	now = now.Add(time.Second)
	l.Denied("", "127.0.0.1:3", 11, "", "not signed")
	for range 4 {
		l.Denied("", "127.0.0.1:3", 11, "", "not signed")
	}
	l.ACLReload("/etc/acl.yml", 2, errors.New("bad"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var events []string
	var suppressed []float64
	for _, m := range readLines(t, path) {
		if m["stream"] != "audit" || m["ts"] == nil {
			t.Fatalf("line without stream or ts: %v", m)
		}
		events = append(events, m["event"].(string))
		if m["event"] == "denied_suppressed" {
			suppressed = append(suppressed, m["suppressed"].(float64))
		}
	}
	want := []string{"denied", "denied", "denied", "admin", "denied_suppressed", "denied", "denied", "denied", "acl_reload", "denied_suppressed"}
	if len(events) != len(want) {
		t.Fatalf("events %v, want %v", events, want)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Fatalf("events %v, want %v", events, want)
		}
	}
	if len(suppressed) != 2 || suppressed[0] != 7 || suppressed[1] != 2 {
		t.Fatalf("suppressed %v", suppressed)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", info, err)
	}
}

func TestNilLog(t *testing.T) {
	var l *Log
	l.Denied("", "", 0, "", "")
	l.Admin("", "", 0, "", 0, "")
	l.ACLReload("", 0, nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenError(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Path: filepath.Join(blocker, "audit.log")}); err == nil {
		t.Fatal("opened under a file")
	}
}
