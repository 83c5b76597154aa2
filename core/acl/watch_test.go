package acl

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/core/remoting"
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	writeFile(t, path, "accounts:\n  - {accessKey: alice-key, secretKey: alice-secret, defaultTopicPerm: SUB}\n")
	var reloads []error
	w, err := NewWatcher(WatcherOptions{Path: path, Interval: -1, OnReload: func(_ string, _ int, err error) { reloads = append(reloads, err) }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	send := func() error {
		f := Sign(map[string]string{"topic": "T"}, Credentials{AccessKey: "alice-key", SecretKey: "alice-secret"})
		return w.Validate(Request{Code: remoting.SendMessage, Fields: f, RemoteAddr: "127.0.0.1:1"})
	}
	if err := send(); err == nil {
		t.Fatal("send allowed with SUB")
	}
	if changed, err := w.Check(); changed || err != nil {
		t.Fatalf("unchanged file: %v %v", changed, err)
	}
	writeFile(t, path, "accounts:\n  - {accessKey: alice-key, secretKey: alice-secret, defaultTopicPerm: PUB}\n")
	if changed, err := w.Check(); !changed || err != nil {
		t.Fatalf("changed file: %v %v", changed, err)
	}
	if err := send(); err != nil {
		t.Fatalf("after reload: %v", err)
	}
	writeFile(t, path, "accounts:\n  - {accessKey: alice-key, secretKey: x}\n")
	if changed, err := w.Check(); changed || err == nil || !strings.Contains(err.Error(), "previous policy stays") {
		t.Fatalf("bad file: %v %v", changed, err)
	}
	if err := send(); err != nil {
		t.Fatalf("the bad file replaced the policy: %v", err)
	}
	if len(reloads) != 2 || reloads[0] != nil || reloads[1] == nil {
		t.Fatalf("reloads %v", reloads)
	}
}

func TestWatcherPolls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	writeFile(t, path, "accounts: []\n")
	var mu sync.Mutex
	accounts := 0
	w, err := NewWatcher(WatcherOptions{Path: path, Interval: 5 * time.Millisecond, OnReload: func(_ string, n int, _ error) {
		mu.Lock()
		accounts = n
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	writeFile(t, path, "accounts:\n  - {accessKey: alice-key, secretKey: alice-secret}\n")
	deadline := time.Now().Add(10 * time.Second)
	seen := func() int {
		mu.Lock()
		defer mu.Unlock()
		return accounts
	}
	for seen() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the change was not picked up")
		}
		time.Sleep(5 * time.Millisecond) // bounded polling
	}
	if n := w.Policy().Accounts(); n != 1 {
		t.Fatalf("policy has %d accounts", n)
	}
}

func TestNewWatcherErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewWatcher(WatcherOptions{Path: filepath.Join(dir, "missing.yml")}); err == nil {
		t.Fatal("missing file accepted")
	}
	path := filepath.Join(dir, "bad.yml")
	writeFile(t, path, "accounts: {")
	if _, err := NewWatcher(WatcherOptions{Path: path}); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("bad file: %v", err)
	}
}
