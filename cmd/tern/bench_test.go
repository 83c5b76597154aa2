package main

import (
	"encoding/json"
	"testing"

	"github.com/ternmq/tern/core/broker/brokertest"
)

// TestBenchJSON covers what bench/run.sh relies on: -o json, produce --messages and latency.
func TestBenchJSON(t *testing.T) {
	c := brokertest.Start(t, nil)
	ns := "--namesrv=" + c.NamesrvAddr
	decode := func(out string) benchJSONRow {
		t.Helper()
		var j benchJSON
		if err := json.Unmarshal([]byte(out), &j); err != nil || len(j.Rows) != 1 {
			t.Fatalf("not one bench result (%v):\n%s", err, out)
		}
		return j.Rows[0]
	}

	// --messages stops the senders once that many are acknowledged; a send in flight then may
	// still be counted: at most one per sender.
	r := decode(run(t, "bench", "produce", ns, "--topic", "BenchJ", "--producers", "2", "--messages", "50", "--duration", "20s", "--size", "64", "-o", "json"))
	if r.Client != "tern" || r.Messages < 50 || r.Messages > 52 || r.Failed != 0 || r.MsgsPerSec <= 0 || r.P99Ms <= 0 {
		t.Fatalf("produce --messages 50: %+v", r)
	}

	r = decode(run(t, "bench", "latency", ns, "--topic", "BenchL", "--rate", "200", "--duration", "1s", "--warmup", "200ms", "--size", "64", "-o", "json"))
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
