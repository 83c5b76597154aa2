package host

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := DefaultBackoff()
	ms := time.Millisecond
	for _, tc := range []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{0, 0, 50 * ms}, {0, 0.999999, 100 * ms}, {0, 0.5, 75 * ms},
		{1, 0, 100 * ms}, {2, 0, 200 * ms}, {3, 0.999999, 800 * ms},
		{8, 0, 12800 * ms}, {9, 0, 15 * time.Second}, {9, 0.999999, 30 * time.Second},
		{100, 0.999999, 30 * time.Second}, {1 << 30, 0, 15 * time.Second},
	} {
		if got := b.Delay(tc.n, tc.r); got.Round(ms) != tc.want {
			t.Errorf("Delay(%d, %v) = %v, want %v", tc.n, tc.r, got, tc.want)
		}
	}
	if got := (Backoff{Initial: time.Second, Max: time.Millisecond}).withDefaults(); got.Max != time.Second {
		t.Errorf("Max below Initial: %+v", got)
	}
}

// TestMachine steps the restart logic through scripts of events, with its own clock.
func TestMachine(t *testing.T) {
	type step struct {
		at      time.Duration // since the start of the script
		event   string        // up, down, ok, timeout, stale-timeout
		delay   time.Duration // down: the delay returned (r = 0, so half the backoff)
		restart bool          // ok, timeout: callDone's answer
	}
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"crash loop doubles", []step{
			{event: "up"}, {at: ms, event: "down", delay: 50 * ms},
			{at: 60 * ms, event: "down", delay: 100 * ms}, // the relaunch failed
			{at: 200 * ms, event: "up"}, {at: 300 * ms, event: "down", delay: 200 * ms},
			{at: 600 * ms, event: "up"}, {at: 700 * ms, event: "down", delay: 400 * ms},
		}},
		{"stable for ResetAfter resets", []step{
			{event: "up"}, {at: ms, event: "down", delay: 50 * ms},
			{at: 100 * ms, event: "up"}, {at: 200 * ms, event: "down", delay: 100 * ms},
			{at: 300 * ms, event: "up"}, {at: 300*ms + time.Minute, event: "down", delay: 50 * ms},
		}},
		{"two timeouts in a row restart once", []step{
			{event: "up"}, {event: "timeout"}, {event: "timeout", restart: true}, {event: "timeout"},
			{event: "down", delay: 50 * ms},
		}},
		{"an answer between timeouts", []step{
			{event: "up"}, {event: "timeout"}, {event: "ok"}, {event: "timeout"}, {event: "ok"},
			{event: "timeout"}, {event: "timeout", restart: true},
		}},
		{"timeouts of an earlier process", []step{
			{event: "up"}, {event: "down", delay: 50 * ms}, {event: "up"},
			{event: "stale-timeout"}, {event: "stale-timeout"}, {event: "timeout"}, {event: "timeout", restart: true},
		}},
		{"timeouts while down", []step{
			{event: "up"}, {event: "down", delay: 50 * ms}, {event: "timeout"}, {event: "timeout"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &machine{backoff: DefaultBackoff()}
			t0 := time.Unix(0, 0)
			var gen uint64
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				switch s.event {
				case "up":
					gen = m.up(now)
				case "down":
					if d := m.down(now, 0); d != s.delay {
						t.Fatalf("step %d: down delay %v, want %v", i, d, s.delay)
					}
				case "ok", "timeout":
					if r := m.callDone(gen, s.event == "timeout"); r != s.restart {
						t.Fatalf("step %d: %s: restart %v, want %v", i, s.event, r, s.restart)
					}
				case "stale-timeout":
					if m.callDone(gen-1, true) {
						t.Fatalf("step %d: a stale timeout restarts", i)
					}
				}
			}
		})
	}
}
