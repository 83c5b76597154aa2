package cel

import (
	"fmt"
	"math"
	"strings"

	"github.com/ternmq/tern/sdk/plugin"
)

// Config is the configuration of the filter. Init reads it from the plugin manifest's config
// (keys costBudget, costLimit, needsBody and cacheSize); the zero value has no cost budget,
// no cost limit, no bodies and the default cache size.
type Config struct {
	// CostBudget refuses, at Compile, an expression whose estimated worst-case cost is above
	// it (0: no budget). The estimate assumes the largest message the store can hold: topics of
	// 127 bytes, 32 KiB of properties, bodies of MaxBodySize.
	CostBudget uint64
	// CostLimit stops an evaluation whose actual cost goes above it (0: no limit); the
	// message then does not match and Stats.CostLimitExceeded counts it.
	CostLimit uint64
	// NeedsBody declares the variable body and asks the broker for message bodies. Without it
	// an expression that uses body is refused.
	NeedsBody bool
	// CacheSize bounds the number of compiled subscriptions kept (0: DefaultCacheSize).
	CacheSize int
}

// Defaults.
const (
	DefaultCostBudget = 1_000_000
	DefaultCostLimit  = 100_000
	DefaultCacheSize  = 4096
)

// DefaultConfig is the configuration of a filter built without WithConfig: a budget that
// admits string functions and comprehensions over properties and tags, and a runtime limit
// of about a millisecond of evaluation.
func DefaultConfig() Config {
	return Config{CostBudget: DefaultCostBudget, CostLimit: DefaultCostLimit, CacheSize: DefaultCacheSize}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.CacheSize < 0 {
		return fmt.Errorf("cel: cacheSize %d is negative", c.CacheSize)
	}
	return nil
}

func (c Config) cacheSize() int {
	if c.CacheSize == 0 {
		return DefaultCacheSize
	}
	return c.CacheSize
}

// configKeys are the keys Init understands.
var configKeys = []string{"cacheSize", "costBudget", "costLimit", "needsBody"}

// withMap returns c with the keys of m applied. Unknown keys and values of the wrong type are
// errors wrapping plugin.ErrInvalidArgument.
func (c Config) withMap(m map[string]any) (Config, error) {
	for k, v := range m {
		var err error
		switch k {
		case "costBudget":
			c.CostBudget, err = configUint(v)
		case "costLimit":
			c.CostLimit, err = configUint(v)
		case "cacheSize":
			var n uint64
			if n, err = configUint(v); err == nil && n > math.MaxInt32 {
				err = fmt.Errorf("%d is too large", n)
			}
			c.CacheSize = int(n)
		case "needsBody":
			b, ok := v.(bool)
			if !ok {
				err = fmt.Errorf("want true or false, got %v (%T)", v, v)
			}
			c.NeedsBody = b
		default:
			return c, fmt.Errorf("%w: cel: unknown config key %q (known: %s)", plugin.ErrInvalidArgument, k, strings.Join(configKeys, ", "))
		}
		if err != nil {
			return c, fmt.Errorf("%w: cel: config %s: %v", plugin.ErrInvalidArgument, k, err)
		}
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %v", plugin.ErrInvalidArgument, err)
	}
	return c, nil
}

// configUint reads a non-negative integer as decoded YAML or JSON gives it.
func configUint(v any) (uint64, error) {
	switch n := v.(type) {
	case int:
		if n >= 0 {
			return uint64(n), nil
		}
	case int32:
		if n >= 0 {
			return uint64(n), nil
		}
	case int64:
		if n >= 0 {
			return uint64(n), nil
		}
	case uint:
		return uint64(n), nil
	case uint32:
		return uint64(n), nil
	case uint64:
		return n, nil
	case float64:
		if n >= 0 && n <= math.MaxInt64 && n == math.Trunc(n) {
			return uint64(n), nil
		}
	}
	return 0, fmt.Errorf("want a non-negative integer, got %v (%T)", v, v)
}
