package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/sdk/client"
)

func TestAdminTrace(t *testing.T) {
	c := brokertest.Start(t, nil)
	ns := "--namesrv=" + c.NamesrvAddr
	run(t, "admin", ns, "topic", "create", "Invoices", "-q", "1")
	var sent struct {
		MsgID       string `json:"msgId"`
		OffsetMsgID string `json:"offsetMsgId"`
	}
	if err := json.Unmarshal([]byte(run(t, "admin", ns, "send", "Invoices", "inv-1", "--tags", "new", "--keys", "inv-1", "-o", "json")), &sent); err != nil {
		t.Fatal(err)
	}

	// Before anyone consumes it: stored, no group.
	out := run(t, "admin", ns, "trace", sent.MsgID)
	for _, want := range []string{"MESSAGE " + sent.MsgID, "topic Invoices", "stored", "Invoices queue 0 offset 0", sent.OffsetMsgID, "tags new", "keys inv-1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("trace lacks %q:\n%s", want, out)
		}
	}

	pc, err := client.NewPushConsumer("billing", client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger()),
		client.WithConsumeFrom(client.ConsumeFromFirstOffset), client.WithOffsetCommitInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe("Invoices", client.Tag("*"), func(context.Context, []*client.MessageExt) (client.ConsumeResult, error) {
		return client.ConsumeSuccess, nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer pc.Close(context.Background())

	// By the offset message id, once the group's committed offset passed it.
	deadline := time.Now().Add(30 * time.Second)
	for out = run(t, "admin", ns, "trace", sent.OffsetMsgID); !strings.Contains(out, "consumed (committed offset 1)"); out = run(t, "admin", ns, "trace", sent.OffsetMsgID) {
		if time.Now().After(deadline) {
			t.Fatalf("never consumed:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"group billing", "online " + pc.ClientID(), "last pull by " + pc.ClientID(), "carried it"} {
		if !strings.Contains(out, want) {
			t.Fatalf("trace lacks %q:\n%s", want, out)
		}
	}
	t.Logf("tern admin trace %s:\n%s", sent.OffsetMsgID, out)

	var traces []protocol.MessageTrace
	if err := json.Unmarshal([]byte(run(t, "admin", ns, "trace", "--key", "inv-1", "--topic", "Invoices", "--json")), &traces); err != nil {
		t.Fatal(err)
	}
	if len(traces) != 1 || len(traces[0].Messages) != 1 || traces[0].Messages[0].MsgID != sent.MsgID || traces[0].BrokerAddr != c.BrokerAddr {
		t.Fatalf("--key --json: %+v", traces)
	}
}

func TestAdminTraceErrors(t *testing.T) {
	c := brokertest.Start(t, nil)
	ns := "--namesrv=" + c.NamesrvAddr
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown id", []string{"0A0000010000000000000000000000FF"}, "message 0A0000010000000000000000000000FF: not found on any broker"},
		{"unknown key", []string{"--key", "nope", "--topic", "Nowhere"}, "messages of Nowhere with key nope: not found on any broker"},
		{"no id", nil, "give a MSGID"},
		{"key without topic", []string{"--key", "k"}, "--key needs --topic"},
		{"id and key", []string{"ID", "--key", "k", "--topic", "T"}, "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runErr(t, append([]string{"admin", ns, "trace"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q\n%s", err, tc.want, out)
			}
		})
	}
}
