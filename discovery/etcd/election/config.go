package election

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Defaults of Config.
const (
	DefaultPrefix         = "/tern"
	DefaultTTL            = 10 * time.Second
	DefaultReportInterval = time.Second
	// MaxDefaultSettle bounds the default Settle, which is otherwise TTL/3.
	MaxDefaultSettle = time.Second
)

// ErrInvalidConfig is wrapped by the errors of Config.Validate (and New).
var ErrInvalidConfig = errors.New("election: invalid config")

// Config configures an Elector. The zero value of every field but Client, Group, BrokerID
// and Address is its default.
type Config struct {
	// Client is the etcd client; the Elector uses it and never closes it.
	Client *clientv3.Client
	// Prefix is put before every key (DefaultPrefix when ""; trailing slashes are dropped).
	Prefix string
	// Group is the broker name whose master is elected.
	Group string
	// BrokerID is this replica's id, unique in the group (>= 0; brokers use 1, 2, ...: routes
	// address the leader as id 0, which is the broker's business).
	BrokerID int64
	// Address and HAAddress are what this replica publishes in its report and, when it wins,
	// in the leader key. Address is required.
	Address, HAAddress string
	// TTL is the lease TTL (DefaultTTL when 0), rounded up to whole seconds; etcd raises a TTL
	// below its minimum (1.5 election timeouts, 2 s with etcd's defaults), and the Elector
	// then works with the TTL etcd granted. A leader that cannot reach etcd steps down within
	// TTL-TTL/5 of its last successful keepalive; the group is leaderless for up to about
	// TTL+Settle after its leader dies.
	TTL time.Duration
	// ReportInterval is the least time between two writes of this replica's report
	// (DefaultReportInterval when 0), except that a changed report is written at once when
	// the leader vanishes.
	ReportInterval time.Duration
	// Settle is how long a replica waits, after it sees the group leaderless, for the other
	// replicas' fresh reports before it decides (min(MaxDefaultSettle, TTL/3) when 0).
	Settle time.Duration
	// Logger receives the Elector's log; nil discards it.
	Logger *slog.Logger
}

// Validate reports whether c can be used.
func (c *Config) Validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("no client"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("no group"))
	}
	if c.BrokerID < 0 {
		errs = append(errs, fmt.Errorf("broker id %d is negative", c.BrokerID))
	}
	if c.Address == "" {
		errs = append(errs, errors.New("no address"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ttl", c.TTL}, {"report interval", c.ReportInterval}, {"settle", c.Settle}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// withDefaults returns c with its zero fields set to their defaults and its TTL rounded up to
// whole seconds.
func (c Config) withDefaults() Config {
	c.Prefix = normPrefix(c.Prefix)
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	c.TTL = time.Duration(leaseSeconds(c.TTL)) * time.Second
	if c.ReportInterval == 0 {
		c.ReportInterval = DefaultReportInterval
	}
	if c.Settle == 0 {
		c.Settle = min(MaxDefaultSettle, c.TTL/3)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// normPrefix trims trailing slashes; "" is the default.
func normPrefix(p string) string {
	if p = strings.TrimRight(p, "/"); p == "" {
		return DefaultPrefix
	}
	return p
}

// leaseSeconds converts a TTL to etcd's whole seconds, rounding up.
func leaseSeconds(ttl time.Duration) int64 {
	return max(int64((ttl+time.Second-1)/time.Second), 1)
}

// fenceMargin is how long before a lease can expire on the server its holder fences itself.
func fenceMargin(ttl time.Duration) time.Duration { return ttl / 5 }

// opTimeout bounds each etcd request of a session (not the keepalives, bounded by the fence).
func opTimeout(ttl time.Duration) time.Duration { return max(ttl/3, 500*time.Millisecond) }
