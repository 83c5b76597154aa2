package host

import (
	"time"

	"github.com/ternmq/tern/sdk/plugin"
)

// State is the state of a plugin (see the package doc).
type State string

// The states of a plugin.
const (
	StateStarting State = "starting"
	StateUp       State = "up"
	StateDown     State = "down"
	StateRefused  State = "refused"
	StateUnwired  State = "unwired"
	StateStopped  State = "stopped"
)

// PluginStats is a snapshot of one plugin: what it is, its state, and counters since Start.
type PluginStats struct {
	Name    string
	Kind    plugin.Kind
	Builtin string   // the built-in's name; "" for an external plugin
	Command string   // the executable of an external plugin
	Args    []string // and its arguments
	State   State
	// Err says why the plugin is down or refused, or what last went wrong with it.
	Err string
	// Version is what the plugin's Init answered.
	Version string
	// SHA256 is the hex sha256 of the executable, as checked at the last launch.
	SHA256 string
	// ExpressionTypes are the expression types Filter resolves to this plugin (filters only).
	ExpressionTypes []string
	// NeedsBody is the filter's Info.NeedsBody (filters only).
	NeedsBody bool
	// NeedsProperties is the opposite of the filter's Info.OmitProperties (filters only).
	NeedsProperties bool
	// UpSince is when the running process came up; zero unless the state is up.
	UpSince time.Time
	// Pid is the process id of an external plugin's running process; 0 when none runs.
	Pid int

	Calls    uint64 // calls made (a Match of many messages is one call per batch)
	Errors   uint64 // calls that failed, timeouts and fail-fast refusals included
	Timeouts uint64 // calls that ran past their timeout
	FailOpen uint64 // failed calls answered permissively by the open failure policy
	Restarts uint64 // relaunches that came up after a failure
	Latency  Histogram
}

// LatencyBuckets is the number of buckets of a Histogram.
const LatencyBuckets = 14

// Histogram counts call latencies: the total, their sum, and a fixed histogram.
type Histogram struct {
	Count uint64
	Sum   time.Duration
	// Buckets[i] counts the calls that took at most LatencyBounds()[i]; the last bucket counts
	// the slower ones.
	Buckets [LatencyBuckets]uint64
}

// LatencyBounds returns the upper bounds of the histogram's buckets but the last.
func LatencyBounds() [LatencyBuckets - 1]time.Duration {
	const us, ms = time.Microsecond, time.Millisecond
	return [...]time.Duration{100 * us, 250 * us, 500 * us, ms, 2500 * us, 5 * ms, 10 * ms,
		25 * ms, 50 * ms, 100 * ms, 250 * ms, 500 * ms, time.Second}
}

func (h *Histogram) observe(d time.Duration) {
	h.Count++
	h.Sum += d
	bounds := LatencyBounds()
	for i, b := range bounds {
		if d <= b {
			h.Buckets[i]++
			return
		}
	}
	h.Buckets[len(bounds)]++
}

// Mean returns the mean latency, 0 without calls.
func (h *Histogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / time.Duration(h.Count)
}
