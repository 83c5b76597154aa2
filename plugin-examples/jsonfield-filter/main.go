// Command jsonfield-filter is an example Tern filter plugin: it selects messages by a field of
// their JSON body, with subscriptions like `status == "paid"` or `customer.country in
// ["DE","FR"]` of expression type JSONFIELD. See README.md for the syntax and for how to
// install it.
//
// The binary is started by the broker (plugins of kind filter in the manifest), never by hand.
package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

// ExpressionType is the subscription expression type the filter evaluates.
const ExpressionType = "JSONFIELD"

// defaultCacheSize is how many compiled expressions the filter keeps by default.
const defaultCacheSize = 1024

func main() {
	filter.Serve(newFilter())
}

// jsonFilter implements filter.Filter. Its methods are safe for concurrent use.
type jsonFilter struct {
	mu        sync.RWMutex
	cacheSize int              // guarded by mu
	cache     map[string]*expr // expression → compiled; guarded by mu; reset when full
}

var _ filter.Filter = (*jsonFilter)(nil)

func newFilter() *jsonFilter {
	return &jsonFilter{cacheSize: defaultCacheSize, cache: make(map[string]*expr)}
}

// Init reads the config: cache_size (a positive number of compiled expressions kept, 1024 by
// default). Other keys are refused.
func (f *jsonFilter) Init(ctx context.Context, config map[string]any) (filter.Info, error) {
	if err := ctx.Err(); err != nil {
		return filter.Info{}, err
	}
	size := defaultCacheSize
	for _, k := range slices.Sorted(maps.Keys(config)) {
		switch k {
		case "cache_size":
			n, ok := config[k].(int)
			if !ok || n <= 0 {
				return filter.Info{}, fmt.Errorf("%w: jsonfield: cache_size must be a positive whole number, not %v", plugin.ErrInvalidArgument, config[k])
			}
			size = n
		default:
			return filter.Info{}, fmt.Errorf("%w: jsonfield: unknown config key %q (known: cache_size)", plugin.ErrInvalidArgument, k)
		}
	}
	f.mu.Lock()
	f.cacheSize = size
	f.cache = make(map[string]*expr)
	f.mu.Unlock()
	return filter.Info{
		Name:            "jsonfield",
		Version:         "1.0.0",
		ExpressionTypes: []string{ExpressionType},
		NeedsBody:       true,
		OmitProperties:  true, // it reads only bodies
	}, nil
}

// Compile parses the subscription's expression and keeps it.
func (f *jsonFilter) Compile(ctx context.Context, sub filter.Subscription) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := f.compiled(sub)
	return err
}

// cancelCheckEvery is how many messages Match evaluates between checks of its context.
const cancelCheckEvery = 64

// Match evaluates the subscription against each message body.
func (f *jsonFilter) Match(ctx context.Context, sub filter.Subscription, msgs []filter.Message) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e, err := f.compiled(sub)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(msgs))
	for i := range msgs {
		if i%cancelCheckEvery == cancelCheckEvery-1 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		out[i] = e.match(msgs[i].Body)
	}
	return out, nil
}

// compiled returns the subscription's expression from the cache, parsing it on a miss.
func (f *jsonFilter) compiled(sub filter.Subscription) (*expr, error) {
	if !strings.EqualFold(sub.ExpressionType, ExpressionType) {
		return nil, fmt.Errorf("%w: jsonfield: expression type %q is not %s", plugin.ErrInvalidArgument, sub.ExpressionType, ExpressionType)
	}
	f.mu.RLock()
	e, ok := f.cache[sub.Expression]
	f.mu.RUnlock()
	if ok {
		return e, nil
	}
	e, err := parse(sub.Expression)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if len(f.cache) >= f.cacheSize {
		clear(f.cache) // simple and bounded: subscriptions are few, so this is rare
	}
	f.cache[sub.Expression] = e
	f.mu.Unlock()
	return e, nil
}
