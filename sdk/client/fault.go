package client

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Latency-based fault avoidance, RocketMQ's MQFaultStrategy and LatencyFaultToleranceImpl.
//
// Every send records the latency of its broker. A latency maps to a penalty window during
// which load-balanced sends skip the broker (penaltyFor):
//
//	latency   ≥ 50 ms  ≥ 100 ms  ≥ 550 ms  ≥ 1 s  ≥ 2 s  ≥ 3 s   ≥ 15 s
//	penalty      0        0        30 s     60 s  120 s  180 s   600 s
//
// A failed send counts as a latency of isolationLatency (30 s), so its broker is skipped for
// 600 s — or until one of its sends succeeds again. When every broker of a topic is in its
// window, the least bad one is used all the same (leastBad): sends never stop for want of a
// perfect broker.

// isolationLatency is the latency a failed send is recorded with (RocketMQ's isolation value).
const isolationLatency = 30 * time.Second

// penaltyFor returns how long a broker is skipped after a send that took latency.
func penaltyFor(latency time.Duration) time.Duration {
	switch {
	case latency >= 15*time.Second:
		return 600 * time.Second
	case latency >= 3*time.Second:
		return 180 * time.Second
	case latency >= 2*time.Second:
		return 120 * time.Second
	case latency >= time.Second:
		return 60 * time.Second
	case latency >= 550*time.Millisecond:
		return 30 * time.Second
	}
	return 0
}

// faultTable holds the brokers in (or just out of) a penalty window. It is safe for
// concurrent use; its clock is injected, so tests step it.
type faultTable struct {
	now   func() time.Time
	worst atomic.Uint32 // round-robin over the better half in leastBad

	mu    sync.RWMutex // guards items
	items map[string]faultItem
}

// faultItem is a broker's last recorded latency and the end of its penalty window.
type faultItem struct {
	latency time.Duration
	until   time.Time
}

func newFaultTable(now func() time.Time) *faultTable {
	return &faultTable{now: now, items: make(map[string]faultItem)}
}

// update records a send to broker that took latency and failed or not.
func (t *faultTable) update(broker string, latency time.Duration, failed bool) {
	penalty := penaltyFor(latency)
	if failed {
		penalty = penaltyFor(isolationLatency)
	}
	if penalty == 0 {
		// A fast success clears the broker; skip the write lock when there is nothing to clear.
		t.mu.RLock()
		_, ok := t.items[broker]
		t.mu.RUnlock()
		if !ok {
			return
		}
		t.mu.Lock()
		delete(t.items, broker)
		t.mu.Unlock()
		return
	}
	t.mu.Lock()
	t.items[broker] = faultItem{latency: latency, until: t.now().Add(penalty)}
	t.mu.Unlock()
}

// available reports whether broker is outside its penalty window.
func (t *faultTable) available(broker string) bool {
	t.mu.RLock()
	it, ok := t.items[broker]
	t.mu.RUnlock()
	return !ok || !t.now().Before(it.until)
}

// leastBad picks one of candidates (not empty) when none is available: it orders them as
// RocketMQ does — available first, then by latency, then by the end of their window — and
// takes the better half in turn, so that the load spreads over the less bad brokers.
func (t *faultTable) leastBad(candidates []string) string {
	now := t.now()
	type cand struct {
		name string
		ok   bool
		it   faultItem
	}
	cs := make([]cand, 0, len(candidates))
	t.mu.RLock()
	for _, name := range candidates {
		it, found := t.items[name]
		cs = append(cs, cand{name: name, ok: !found || !now.Before(it.until), it: it})
	}
	t.mu.RUnlock()
	slices.SortStableFunc(cs, func(a, b cand) int {
		if a.ok != b.ok {
			if a.ok {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(a.it.latency, b.it.latency); c != 0 {
			return c
		}
		return a.it.until.Compare(b.it.until)
	})
	half := len(cs) / 2
	if half <= 1 {
		return cs[0].name
	}
	return cs[int(t.worst.Add(1)-1)%half].name
}
