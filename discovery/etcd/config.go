package etcd

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ternmq/tern/sdk/plugin"
)

// Defaults of Config.
const (
	DefaultPrefix      = "/tern"
	DefaultTTL         = 10 * time.Second
	DefaultDialTimeout = 5 * time.Second
)

// Config configures a Backend. The zero value of every field but Endpoints is its default.
type Config struct {
	// Endpoints are the etcd client endpoints, e.g. "127.0.0.1:2379" or
	// "http://127.0.0.1:2379".
	Endpoints []string
	// Prefix is put before every key (DefaultPrefix when ""; trailing slashes are dropped).
	// Backends sharing a prefix share a registry.
	Prefix string
	// TTL is the lease TTL of a registration whose Registration.TTL is 0 (DefaultTTL when
	// 0). etcd counts leases in whole seconds: TTLs are rounded up, and etcd raises a TTL
	// below its minimum (1.5 election timeouts, 2 s with etcd's defaults).
	TTL time.Duration
	// DialTimeout bounds connecting, the first read at Open and each attempt to restore a
	// lost lease (DefaultDialTimeout when 0).
	DialTimeout time.Duration
	// Expiry, when positive, stops keeping alive a broker that has not registered within its
	// Registration.TTL, or within Expiry when that is 0, and revokes its lease: the
	// NameServer's expiry (brokerChannelExpiredTime, 120 s) for a Backend that registers
	// brokers on their behalf, as a stateless NameServer does. Zero keeps a broker alive
	// until Unregister or Close, for a broker that holds its own Backend (its death closes
	// the Backend).
	Expiry time.Duration
	// DeleteTopicWithBrokerRegistration makes a master's registration with a new data version
	// drop the broker name's topics missing from its table, as the NameServer option of the
	// same name. Off by default: omitted topics are kept.
	DeleteTopicWithBrokerRegistration bool
	// Logger receives the backend's log; nil discards it.
	Logger *slog.Logger
}

// Validate reports whether c can be used: at least one endpoint, none empty, and no negative
// durations.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("no endpoints"))
	}
	for i, ep := range c.Endpoints {
		if strings.TrimSpace(ep) == "" {
			errs = append(errs, fmt.Errorf("endpoint %d is empty", i))
		}
	}
	if c.TTL < 0 {
		errs = append(errs, fmt.Errorf("ttl %v is negative", c.TTL))
	}
	if c.Expiry < 0 {
		errs = append(errs, fmt.Errorf("expiry %v is negative", c.Expiry))
	}
	if c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("dial timeout %v is negative", c.DialTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: etcd: config: %w", plugin.ErrInvalidArgument, err)
	}
	return nil
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.Endpoints = splitEndpoints(c.Endpoints)
	c.Prefix = normPrefix(c.Prefix)
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// splitEndpoints splits entries holding several ';' or ',' separated endpoints.
func splitEndpoints(eps []string) []string {
	var out []string
	for _, ep := range eps {
		for e := range strings.FieldsFuncSeq(ep, func(r rune) bool { return r == ';' || r == ',' }) {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// configFromMap reads a manifest config: endpoints (a list of strings, or one string of ';'
// or ',' separated endpoints), prefix, ttl, dialTimeout and expiry (duration strings, "10s"),
// deleteTopicWithBrokerRegistration (a bool).
func configFromMap(m map[string]any) (Config, error) {
	var c Config
	bad := func(k string, v any, want string) error {
		return fmt.Errorf("%w: etcd: config %s: want %s, got %T", plugin.ErrInvalidArgument, k, want, v)
	}
	for k, v := range m {
		switch k {
		case "endpoints":
			switch v := v.(type) {
			case string:
				c.Endpoints = []string{v}
			case []string:
				c.Endpoints = v
			case []any:
				for _, e := range v {
					s, ok := e.(string)
					if !ok {
						return Config{}, bad(k, e, "strings")
					}
					c.Endpoints = append(c.Endpoints, s)
				}
			default:
				return Config{}, bad(k, v, "a list or a ';'-separated string")
			}
			c.Endpoints = splitEndpoints(c.Endpoints)
		case "prefix":
			s, ok := v.(string)
			if !ok {
				return Config{}, bad(k, v, "a string")
			}
			c.Prefix = s
		case "ttl", "dialTimeout", "expiry":
			s, ok := v.(string)
			if !ok {
				return Config{}, bad(k, v, `a duration string such as "10s"`)
			}
			d, err := time.ParseDuration(s)
			if err != nil {
				return Config{}, fmt.Errorf("%w: etcd: config %s: %v", plugin.ErrInvalidArgument, k, err)
			}
			switch k {
			case "ttl":
				c.TTL = d
			case "dialTimeout":
				c.DialTimeout = d
			default:
				c.Expiry = d
			}
		case "deleteTopicWithBrokerRegistration":
			b, ok := v.(bool)
			if !ok {
				return Config{}, bad(k, v, "a bool")
			}
			c.DeleteTopicWithBrokerRegistration = b
		default:
			return Config{}, fmt.Errorf("%w: etcd: unknown config key %q", plugin.ErrInvalidArgument, k)
		}
	}
	return c, c.Validate()
}

// leaseSeconds converts a TTL to etcd's whole seconds, rounding up.
func leaseSeconds(ttl time.Duration) int64 {
	return max(int64((ttl+time.Second-1)/time.Second), 1)
}
