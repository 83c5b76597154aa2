package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("tern %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestAdminSession(t *testing.T) {
	c := brokertest.Start(t, nil)
	ns := "--namesrv=" + c.NamesrvAddr

	if out := run(t, "admin", ns, "cluster", "list"); !strings.Contains(out, c.BrokerAddr) || !strings.Contains(out, "DefaultCluster") {
		t.Fatalf("cluster list:\n%s", out)
	}
	run(t, "admin", ns, "topic", "create", "Orders", "-q", "2")
	if out := run(t, "admin", ns, "topic", "list"); !strings.Contains(out, "Orders") {
		t.Fatalf("topic list:\n%s", out)
	}
	var route struct {
		QueueDatas []struct {
			ReadQueueNums int `json:"readQueueNums"`
		} `json:"queueDatas"`
	}
	if err := json.Unmarshal([]byte(run(t, "admin", ns, "topic", "route", "Orders", "-o", "json")), &route); err != nil || len(route.QueueDatas) != 1 || route.QueueDatas[0].ReadQueueNums != 2 {
		t.Fatalf("route: %+v %v", route, err)
	}
	var sent struct {
		MsgID       string `json:"msgId"`
		OffsetMsgID string `json:"offsetMsgId"`
	}
	if err := json.Unmarshal([]byte(run(t, "admin", ns, "send", "Orders", "hello", "--tags", "TagA", "--keys", "order-1", "--prop", "amount=100", "-o", "json")), &sent); err != nil {
		t.Fatal(err)
	}
	var got []printed
	if err := json.Unmarshal([]byte(run(t, "admin", ns, "consume", "Orders", "-n", "1", "-o", "json")), &got); err != nil || len(got) != 1 {
		t.Fatalf("consume: %v %v", got, err)
	}
	if m := got[0]; m.Body != "hello" || m.Properties["TAGS"] != "TagA" || m.Properties["amount"] != "100" || m.MsgID != sent.MsgID {
		t.Fatalf("consumed %+v", m)
	}
	if out := run(t, "admin", ns, "message", "id", sent.OffsetMsgID); !strings.Contains(out, "hello") {
		t.Fatalf("message by offset id:\n%s", out)
	}
	if out := run(t, "admin", ns, "message", "id", sent.MsgID, "--topic", "Orders"); !strings.Contains(out, "hello") {
		t.Fatalf("message by client id:\n%s", out)
	}
	if out := run(t, "admin", ns, "message", "key", "Orders", "order-1"); !strings.Contains(out, "hello") {
		t.Fatalf("message by key:\n%s", out)
	}
	if out := run(t, "admin", ns, "consumer", "progress", "nobody"); !strings.Contains(out, "total lag") {
		t.Fatalf("consumer progress:\n%s", out)
	}
	// A group that committed offset 0 on both queues lags by the one message sent.
	cl := remoting.NewClient(remoting.ClientOptions{})
	defer cl.Close()
	for q := int32(0); q < 2; q++ {
		h := protocol.ConsumerOffsetHeader{ConsumerGroup: "g1", Topic: "Orders", QueueID: q, CommitOffset: 0}
		if resp, err := cl.Invoke(context.Background(), c.BrokerAddr, remoting.NewRequest(remoting.UpdateConsumerOffset, h.EncodeUpdate(), nil)); err != nil || resp.Code != 0 {
			t.Fatalf("commit offset: %v %+v", err, resp)
		}
	}
	var progress struct {
		Queues []struct {
			QueueID        int32 `json:"queueId"`
			BrokerOffset   int64 `json:"brokerOffset"`
			ConsumerOffset int64 `json:"consumerOffset"`
		} `json:"queues"`
		Lag int64 `json:"lag"`
	}
	if err := json.Unmarshal([]byte(run(t, "admin", ns, "consumer", "progress", "g1", "--topic", "Orders", "-o", "json")), &progress); err != nil {
		t.Fatal(err)
	}
	if len(progress.Queues) != 2 || progress.Lag != 1 || progress.Queues[0].QueueID != 0 {
		t.Fatalf("progress of g1: %+v", progress)
	}
	run(t, "admin", ns, "topic", "delete", "Orders")
	if out := run(t, "admin", ns, "topic", "list"); strings.Contains(out, "Orders") {
		t.Fatalf("topic still listed after delete:\n%s", out)
	}
}

func TestBenchProduceAndConsume(t *testing.T) {
	c := brokertest.Start(t, nil)
	ns := "--namesrv=" + c.NamesrvAddr
	out := run(t, "bench", "produce", ns, "--topic", "BenchT", "--producers", "2", "--duration", "500ms", "--size", "128")
	sent := benchField(t, out, "tern", 3)
	if sent == "0" || benchField(t, out, "tern", 4) != "0" {
		t.Fatalf("bench produce sent %s:\n%s", sent, out)
	}
	out = run(t, "bench", "consume", ns, "--topic", "BenchT", "--duration", "30s")
	// A send cut off by the end of the run may be stored without being counted: at most one per
	// sender.
	n, _ := strconv.Atoi(sent)
	if got, _ := strconv.Atoi(benchField(t, out, "tern", 3)); got < n || got > n+2 {
		t.Fatalf("bench consume received %d messages, %d were acknowledged:\n%s", got, n, out)
	}
}

// benchField returns field i (0-based) of the result row of client in a bench table.
func benchField(t *testing.T, out, client string, i int) string {
	t.Helper()
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > i && f[0] == client {
			return f[i]
		}
	}
	t.Fatalf("no %s row in:\n%s", client, out)
	return ""
}

func TestBrokerConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/broker.yaml"
	if err := os.WriteFile(file, []byte("namesrvAddr: 10.0.0.1:9876\nbrokerName: from-file\nflushDiskType: SYNC_FLUSH\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		args       []string
		namesrv    string
		brokerName string
	}{
		{"file beats flag defaults", []string{"--config", file}, "10.0.0.1:9876", "from-file"},
		{"given flags beat the file", []string{"--config", file, "--namesrv-addr", "10.0.0.2:9876"}, "10.0.0.2:9876", "from-file"},
		{"--set beats everything", []string{"--config", file, "--set", "brokerName=from-set"}, "10.0.0.1:9876", "from-set"},
		{"defaults", nil, "127.0.0.1:9876", "broker-a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f serverFlags
			cmd := &cobra.Command{Use: "broker"}
			f.register(cmd, true, false)
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := f.brokerConfig(slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.NamesrvAddr != tc.namesrv || cfg.BrokerName != tc.brokerName {
				t.Fatalf("namesrv %q broker %q, want %q %q", cfg.NamesrvAddr, cfg.BrokerName, tc.namesrv, tc.brokerName)
			}
		})
	}
}
