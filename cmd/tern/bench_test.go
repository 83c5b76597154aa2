package main

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/protocol"
)

// benchResult decodes the one row of a `tern bench -o json` output.
func benchResult(t *testing.T, out string) benchJSONRow {
	t.Helper()
	var j benchJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil || len(j.Rows) != 1 {
		t.Fatalf("not one bench result (%v):\n%s", err, out)
	}
	return j.Rows[0]
}

// TestBenchJSON covers what bench/run.sh relies on: -o json, produce --messages and latency.
func TestBenchJSON(t *testing.T) {
	c := brokertest.Start(t, nil)
	ns := "--namesrv=" + c.NamesrvAddr

	// --messages stops the senders once that many are acknowledged; a send in flight then may
	// still be counted: at most one per sender.
	r := benchResult(t, run(t, "bench", "produce", ns, "--topic", "BenchJ", "--producers", "2", "--messages", "50", "--duration", "20s", "--size", "64", "-o", "json"))
	if r.Client != "tern" || r.Messages < 50 || r.Messages > 52 || r.Failed != 0 || r.MsgsPerSec <= 0 || r.P99Ms <= 0 {
		t.Fatalf("produce --messages 50: %+v", r)
	}

	r = benchResult(t, run(t, "bench", "latency", ns, "--topic", "BenchL", "--rate", "200", "--duration", "1s", "--warmup", "200ms", "--size", "64", "-o", "json"))
	if r.Messages < 150 || r.Failed != 0 || r.P50Ms <= 0 || r.P99Ms < r.P50Ms {
		t.Fatalf("latency at 200/s for 1s: %+v", r)
	}

	if _, err := runErr(t, "bench", "latency", ns, "--size", "4"); err == nil {
		t.Fatal("latency --size 4 (no room for the send time) was accepted")
	}
	if _, err := runErr(t, "bench", "produce", ns, "-o", "yaml"); err == nil {
		t.Fatal("-o yaml was accepted")
	}
}

// TestBenchScaleFlags covers the scale workloads of bench/run.sh: produce --topics/--queues
// creates the topics with their queues and spreads the sends over them, and consume
// --from-time/--messages reads from a store time and stops after that many.
func TestBenchScaleFlags(t *testing.T) {
	c := brokertest.Start(t, nil)
	ns := "--namesrv=" + c.NamesrvAddr
	r := benchResult(t, run(t, "bench", "produce", ns, "--topic", "Spread", "--topics", "3", "--queues", "2",
		"--producers", "2", "--messages", "60", "--duration", "20s", "--size", "64", "-o", "json"))
	if r.Messages < 60 || r.Failed != 0 {
		t.Fatalf("produce --topics 3: %+v", r)
	}
	for i := range 3 {
		topic := topicN("Spread", i)
		var route protocol.TopicRouteData
		if err := json.Unmarshal([]byte(run(t, "admin", ns, "topic", "route", topic, "-o", "json")), &route); err != nil ||
			len(route.QueueDatas) != 1 || route.QueueDatas[0].WriteQueueNums != 2 {
			t.Fatalf("route of %s: %+v (%v), want 2 queues", topic, route, err)
		}
		// Every queue got its warm-up message, and the measured sends went round-robin:
		// each topic has at least 2 (warm-up) + 60/3 - 1 messages.
		f := benchFlags{namesrv: c.NamesrvAddr, topic: topic, queues: 2}
		stored, err := benchBacklog(t.Context(), f) // GET_MAX_OFFSET: waits for the dispatcher
		if err != nil {
			t.Fatal(err)
		}
		if stored < 2+60/3-1 {
			t.Errorf("%s holds %d messages, want at least %d", topic, stored, 2+60/3-1)
		}
	}

	run(t, "bench", "produce", ns, "--topic", "Tail", "--producers", "1", "--messages", "30", "--duration", "20s", "--size", "64")
	// Store times are in milliseconds: start the tail at the next one, so that the 30 are
	// before it and the 20 sent next at or after it.
	mid := time.Now().Truncate(time.Millisecond).Add(time.Millisecond)
	for time.Now().Before(mid) {
	}
	run(t, "bench", "produce", ns, "--topic", "Tail", "--producers", "1", "--messages", "20", "--duration", "20s", "--size", "64")
	from := strconv.FormatInt(mid.UnixMilli(), 10)
	r = benchResult(t, run(t, "bench", "consume", ns, "--topic", "Tail", "--from-time", from, "--messages", "20", "--duration", "20s", "-o", "json"))
	if r.Messages != 20 || r.P50Ms <= 0 {
		t.Fatalf("consume --from-time --messages 20: %+v", r)
	}
	// Without --messages it waits for the whole backlog (50), which never comes from the tail:
	// at --duration (10 s, ample for 20 messages on a busy machine) it has the tail's 20, and
	// in each of the 8 queues at most the one message before it (a store-time search lands on
	// the nearest message, RocketMQ's rule).
	r = benchResult(t, run(t, "bench", "consume", ns, "--topic", "Tail", "--from-time", from, "--duration", "10s", "-o", "json"))
	if r.Messages < 20 || r.Messages > 28 {
		t.Fatalf("consume --from-time: %d messages, want the tail's 20 (and at most 8 before)", r.Messages)
	}
	if _, err := runErr(t, "bench", "consume", ns, "--topic", "Tail", "--from-time", "yesterday"); err == nil {
		t.Fatal("--from-time yesterday was accepted")
	}
}
