package client

import (
	"testing"
	"time"
)

// fakeClock is a clock tests step by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time             { return c.t }
func (c *fakeClock) step(d time.Duration)       { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock                  { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func queuesOf(brokers ...string) []MessageQueue { return testQueues(brokers, 2) }

// testQueues returns n queues per broker, in route order.
func testQueues(brokers []string, n int) []MessageQueue {
	var out []MessageQueue
	for _, b := range brokers {
		for i := range n {
			out = append(out, MessageQueue{Topic: "T", BrokerName: b, QueueID: int32(i)})
		}
	}
	return out
}

func TestPenaltyTable(t *testing.T) {
	for _, tc := range []struct {
		latency, want time.Duration
	}{
		{0, 0},
		{49 * time.Millisecond, 0},
		{50 * time.Millisecond, 0},
		{100 * time.Millisecond, 0},
		{549 * time.Millisecond, 0},
		{550 * time.Millisecond, 30 * time.Second},
		{999 * time.Millisecond, 30 * time.Second},
		{time.Second, 60 * time.Second},
		{2 * time.Second, 120 * time.Second},
		{3 * time.Second, 180 * time.Second},
		{14 * time.Second, 180 * time.Second},
		{15 * time.Second, 600 * time.Second},
		{isolationLatency, 600 * time.Second},
	} {
		if got := penaltyFor(tc.latency); got != tc.want {
			t.Errorf("penaltyFor(%v) = %v, want %v", tc.latency, got, tc.want)
		}
	}
}

func TestFaultTableWindows(t *testing.T) {
	clk := newFakeClock()
	ft := newFaultTable(clk.now)
	if !ft.available("a") {
		t.Fatal("unknown broker unavailable")
	}
	ft.update("a", 20*time.Millisecond, false)
	if !ft.available("a") || len(ft.items) != 0 {
		t.Fatalf("fast send penalised: %v", ft.items)
	}
	ft.update("a", 600*time.Millisecond, false) // 30 s
	if ft.available("a") {
		t.Fatal("slow broker available")
	}
	clk.step(30*time.Second - time.Millisecond)
	if ft.available("a") {
		t.Fatal("available before its window ended")
	}
	clk.step(time.Millisecond)
	if !ft.available("a") {
		t.Fatal("unavailable after its window")
	}
	ft.update("b", 5*time.Millisecond, true) // failure: isolated 600 s
	clk.step(599 * time.Second)
	if ft.available("b") {
		t.Fatal("failed broker available within 600 s")
	}
	ft.update("b", 5*time.Millisecond, false) // a fast success clears it at once
	if !ft.available("b") {
		t.Fatal("broker still penalised after a fast success")
	}
}

func TestFaultTableLeastBad(t *testing.T) {
	clk := newFakeClock()
	ft := newFaultTable(clk.now)
	ft.update("slow", 2*time.Second, false)        // 120 s
	ft.update("slower", 3*time.Second, false)      // 180 s
	ft.update("failed", 10*time.Millisecond, true) // 600 s, but low latency
	ft.update("slowest", 16*time.Second, false)    // 600 s
	if got := ft.leastBad([]string{"slowest", "slow"}); got != "slow" {
		t.Errorf("least bad of two: %s", got)
	}
	// Four candidates: the better half (lowest latencies: failed, slow) in turn.
	seen := map[string]int{}
	for range 4 {
		seen[ft.leastBad([]string{"slowest", "slower", "slow", "failed"})]++
	}
	if seen["failed"] != 2 || seen["slow"] != 2 {
		t.Errorf("better half picks: %v", seen)
	}
	// One whose window has ended comes first, whatever its latency.
	clk.step(121 * time.Second)
	if got := ft.leastBad([]string{"slowest", "failed", "slow"}); got != "slow" {
		t.Errorf("after slow's window: %s", got)
	}
}

func TestPickQueue(t *testing.T) {
	qs := queuesOf("a", "b", "c")
	clk := newFakeClock()
	ft := newFaultTable(clk.now)

	// Round-robin over every queue.
	for i := range 12 {
		if got := pickQueue(qs, uint32(i), nil, ft); got != qs[i%6] {
			t.Fatalf("start %d: %v", i, got)
		}
	}
	// A broker that failed earlier in the send is skipped even without fault data.
	if got := pickQueue(qs, 0, []string{"a"}, nil); got.BrokerName != "b" {
		t.Errorf("avoiding a: %v", got)
	}
	// A penalised broker is skipped.
	ft.update("b", time.Second, false)
	for i := range 6 {
		if got := pickQueue(qs, uint32(i), nil, ft); got.BrokerName == "b" {
			t.Errorf("start %d picked penalised b: %v", i, got)
		}
	}
	// Everything penalised or avoided: the least bad broker not avoided.
	ft.update("a", 3*time.Second, false)
	ft.update("c", 2*time.Second, false)
	if got := pickQueue(qs, 0, []string{"b"}, ft); got.BrokerName != "c" {
		t.Errorf("least bad not avoided: %v", got)
	}
	// Every broker avoided (a single-broker topic retrying): still a queue.
	if got := pickQueue(queuesOf("a"), 1, []string{"a"}, ft); got != (MessageQueue{Topic: "T", BrokerName: "a", QueueID: 1}) {
		t.Errorf("only broker: %v", got)
	}
	if got := pickQueue(queuesOf("a"), 1, []string{"a"}, nil); got.BrokerName != "a" {
		t.Errorf("only broker without faults: %v", got)
	}
	// Windows end: b is back.
	clk.step(61 * time.Second)
	if got := pickQueue(qs, 2, nil, ft); got.BrokerName != "b" {
		t.Errorf("b after its window: %v", got)
	}
}

func TestShardingKeySelector(t *testing.T) {
	qs := testQueues([]string{"a", "b"}, 4)
	sel := ShardingKeySelector()
	for _, k := range []string{"", "k", "order-42", "日本"} {
		first := sel.Select(&Message{ShardingKey: k}, qs)
		for range 3 {
			if got := sel.Select(&Message{ShardingKey: k}, qs); got != first {
				t.Fatalf("key %q: %v then %v", k, first, got)
			}
		}
	}
	// Keys spread over every queue.
	seen := map[MessageQueue]bool{}
	for i := range 200 {
		seen[sel.Select(&Message{ShardingKey: "key-" + string(rune('a'+i%26)) + string(rune('a'+i/26))}, qs)] = true
	}
	if len(seen) != len(qs) {
		t.Errorf("200 keys spread over %d of %d queues", len(seen), len(qs))
	}
}
