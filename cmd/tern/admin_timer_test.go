package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/message"
)

// storedProps returns the properties of the messages of topic's queues 0..n-1, once dispatched.
func storedProps(t *testing.T, c *brokertest.Cluster, topic string, n int32) []map[string]string {
	t.Helper()
	st := c.Broker.Store()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.WaitDispatched(ctx, st.CommitLogMaxOffset()); err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for q := range n {
		for off := st.MinOffset(topic, q); off < st.MaxOffset(topic, q); off++ {
			e, err := st.QueueEntry(topic, q, off)
			if err != nil {
				t.Fatal(err)
			}
			m, err := st.GetMessage(e.PhysicalOffset)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, message.ParseProperties(m.View.Properties()))
			m.Release()
		}
	}
	return out
}

func TestAdminSendScheduledAndCancel(t *testing.T) {
	c := brokertest.Start(t, nil)
	ns := "--namesrv=" + c.NamesrvAddr
	run(t, "admin", ns, "topic", "create", "Reminders", "-q", "2")
	send := func(args ...string) string {
		t.Helper()
		var sent struct {
			MsgID string `json:"msgId"`
		}
		out := run(t, append([]string{"admin", ns, "send", "Reminders", "-o", "json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &sent); err != nil || sent.MsgID == "" {
			t.Fatalf("send %v: %v\n%s", args, err, out)
		}
		return sent.MsgID
	}

	// --delay: parked in the timing wheel's inbox with TIMER_DELAY_MS; cancelled by id.
	later := send("later", "--delay", "1h")
	parked := storedProps(t, c, "rmq_sys_wheel_timer", 1)
	if len(parked) != 1 || parked[0][message.PropertyUniqKey] != later || parked[0][message.PropertyTimerDelayMS] != "3600000" ||
		parked[0][message.PropertyRealTopic] != "Reminders" {
		t.Fatalf("parked %v", parked)
	}
	if out := run(t, "admin", ns, "timer", "cancel", "Reminders", later); !strings.Contains(out, "cancelled "+later) {
		t.Fatalf("cancel:\n%s", out)
	}

	// --deliver-at: delivered at that time, with TIMER_OUT_MS; then there is nothing to cancel.
	at := time.Now().Add(300 * time.Millisecond).Truncate(time.Millisecond)
	soon := send("soon", "--deliver-at", at.Format(time.RFC3339Nano))
	var got []map[string]string
	for deadline := time.Now().Add(30 * time.Second); len(got) == 0; got = storedProps(t, c, "Reminders", 2) {
		if time.Now().After(deadline) {
			t.Fatal("the --deliver-at message was not delivered")
		}
		time.Sleep(20 * time.Millisecond) // polling the store
	}
	if len(got) != 1 || got[0][message.PropertyUniqKey] != soon || got[0]["TIMER_OUT_MS"] != strconv.FormatInt(at.UnixMilli(), 10) {
		t.Fatalf("delivered %v, due %d", got, at.UnixMilli())
	}
	out, err := runErr(t, "admin", ns, "timer", "cancel", "Reminders", soon)
	if err == nil || !strings.Contains(err.Error(), "not scheduled") {
		t.Fatalf("cancel of a delivered message: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad time", []string{"--deliver-at", "tomorrow"}, "RFC 3339"},
		{"both", []string{"--deliver-at", at.Format(time.RFC3339), "--delay", "1m"}, "none of the others"},
		{"negative delay", []string{"--delay", "-1s"}, "negative"},
		{"beyond the horizon", []string{"--delay", "200h"}, "timerMaxDelaySec"},
	} {
		args := append([]string{"admin", ns, "send", "Reminders", "x"}, tc.args...)
		if out, err := runErr(t, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q\n%s", tc.name, err, tc.want, out)
		}
	}
}
