package broker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/store"
)

func TestSet(t *testing.T) {
	c := DefaultConfig(t.TempDir())
	for _, kv := range []string{
		"flushDiskType=SYNC_FLUSH",
		`messageDelayLevel=1s 5s 10s`,
		"flushIntervalCommitLog=250",
		"syncFlushTimeout=2s",
		"autoCreateTopicEnable=false",
		"defaultTopicQueueNums=4",
		"brokerName=broker-b",
		"mappedFileSizeCommitLog=8388608",
	} {
		if err := c.Set(kv); err != nil {
			t.Fatalf("%s: %v", kv, err)
		}
	}
	if c.Store.FlushDiskType != store.SyncFlush || c.MessageDelayLevel != "1s 5s 10s" || c.Store.FlushIntervalCommitLog.D() != 250*time.Millisecond ||
		c.Store.SyncFlushTimeout.D() != 2*time.Second || c.AutoCreateTopicEnable || c.DefaultTopicQueueNums != 4 || c.BrokerName != "broker-b" ||
		c.Store.MappedFileSizeCommitLog != 8<<20 {
		t.Fatalf("%+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"noSuchKey=1", "defaultTopicQueueNums=many", "=x", "flushDiskType"} {
		if err := c.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLoadFileStrict(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "broker.yaml")
	os.WriteFile(path, []byte("brokerName: b1\nflushDiskType: SYNC_FLUSH\n"), 0o644)
	c := DefaultConfig(dir)
	if err := c.LoadFile(path); err != nil || c.BrokerName != "b1" || c.Store.FlushDiskType != store.SyncFlush {
		t.Fatalf("%v %+v", err, c)
	}
	os.WriteFile(path, []byte("brokerName: b1\nbrokerNmae: typo\n"), 0o644)
	err := c.LoadFile(path)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("unknown key: %v", err)
	}
	os.WriteFile(path, nil, 0o644)
	if err := c.LoadFile(path); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}

func TestValidateBrokerAddr(t *testing.T) {
	c := DefaultConfig(t.TempDir())
	c.BrokerAddr = "[::1]:10911"
	if err := c.Validate(); err == nil {
		t.Fatal("an IPv6 broker address was accepted")
	}
}
