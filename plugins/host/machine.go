package host

import "time"

// Backoff is the schedule of relaunches of a failing plugin. Zero fields take the defaults.
type Backoff struct {
	// Initial is the delay after the first failure (default 100 ms); each further failure in
	// a row doubles it, up to Max (default 30 s).
	Initial, Max time.Duration
	// ResetAfter is how long a plugin must stay up for its next failure to count as the first
	// again (default 1 min).
	ResetAfter time.Duration
}

// DefaultBackoff returns the default schedule.
func DefaultBackoff() Backoff {
	return Backoff{Initial: 100 * time.Millisecond, Max: 30 * time.Second, ResetAfter: time.Minute}
}

func (b Backoff) withDefaults() Backoff {
	d := DefaultBackoff()
	if b.Initial <= 0 {
		b.Initial = d.Initial
	}
	if b.Max <= 0 {
		b.Max = d.Max
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.ResetAfter <= 0 {
		b.ResetAfter = d.ResetAfter
	}
	return b
}

// Delay returns the delay before relaunch after the n-th failure in a row (from 0): Initial
// doubled n times, at most Max, scaled into [d/2, d] by r, a random number in [0, 1).
func (b Backoff) Delay(n int, r float64) time.Duration {
	d := b.Initial
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d/2 + time.Duration(r*float64(d/2))
}

// machine decides when an external plugin is restarted: the deterministic core of its
// supervisor. It has no goroutine and no clock: the supervisor (and the calls) feed it what
// happened, with the time, and act on its answers. Guarded by its instance's mu.
type machine struct {
	backoff Backoff
	// failures counts failures in a row since the plugin last stayed up ResetAfter.
	failures int
	// gen numbers the launches that came up; calls carry it so that the outcome of a call to an
	// earlier process never restarts the current one. 0 while nothing runs.
	gen  uint64
	last uint64 // the last generation handed out
	upAt time.Time
	// timeouts counts calls of gen in a row that ran past their timeout.
	timeouts int
	// restart is set when gen should be restarted (it hangs); the supervisor acts on it.
	restart bool
}

// up records a launch that came up at now and returns its generation.
func (m *machine) up(now time.Time) uint64 {
	m.last++
	m.gen, m.upAt, m.timeouts, m.restart = m.last, now, 0, false
	return m.gen
}

// down records that the running process (or a launch) failed at now, and returns how long to
// wait before the next launch; r is a random number in [0, 1).
func (m *machine) down(now time.Time, r float64) time.Duration {
	if m.gen != 0 && now.Sub(m.upAt) >= m.backoff.ResetAfter {
		m.failures = 0
	}
	m.gen, m.timeouts, m.restart = 0, 0, false
	d := m.backoff.Delay(m.failures, r)
	m.failures++
	return d
}

// callDone records the outcome of a call made to generation gen, and reports whether that
// makes the current process due for a restart: the second call in a row past its timeout.
func (m *machine) callDone(gen uint64, timedOut bool) (restart bool) {
	if gen == 0 || gen != m.gen {
		return false
	}
	if !timedOut {
		m.timeouts = 0
		return false
	}
	m.timeouts++
	if m.timeouts >= hangTimeouts && !m.restart {
		m.restart = true
		return true
	}
	return false
}

// hangTimeouts is how many calls in a row past their timeout make a plugin count as hung.
const hangTimeouts = 2
