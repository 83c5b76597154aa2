package tag

import (
	"context"
	"fmt"
	"strings"

	"github.com/ternmq/tern/filters/internal/lru"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

// Identity of the filter.
const (
	Name    = "tag"
	Version = "1.0.0"
	// Type is the expression type the filter evaluates. An empty expression type is taken as
	// TAG too, as RocketMQ does.
	Type = "TAG"
)

// cacheSize bounds the parsed expressions the filter keeps.
const cacheSize = 1024

// tagFilter is the built-in filter "tag". It is safe for concurrent use.
type tagFilter struct {
	cache *lru.Cache[string, *Expr]
}

var _ filter.Filter = (*tagFilter)(nil)

// New returns the built-in filter "tag": Compile parses the expression, Match selects the
// messages whose tags pass it (Expr.Match). It takes no config.
func New() filter.Filter {
	return &tagFilter{cache: lru.New[string, *Expr](cacheSize)}
}

func (f *tagFilter) Init(ctx context.Context, config map[string]any) (filter.Info, error) {
	if err := ctx.Err(); err != nil {
		return filter.Info{}, err
	}
	for k := range config {
		return filter.Info{}, fmt.Errorf("%w: tag: unknown config key %q (the filter takes none)", plugin.ErrInvalidArgument, k)
	}
	return filter.Info{Name: Name, Version: Version, ExpressionTypes: []string{Type}, OmitProperties: true}, nil
}

func (f *tagFilter) Compile(ctx context.Context, sub filter.Subscription) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := f.expr(sub)
	return err
}

func (f *tagFilter) Match(ctx context.Context, sub filter.Subscription, msgs []filter.Message) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e, err := f.expr(sub)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(msgs))
	if e.All() {
		for i := range out {
			out[i] = true
		}
		return out, nil
	}
	done := ctx.Done()
	for i := range msgs {
		if done != nil && i%64 == 63 {
			select {
			case <-done:
				return nil, ctx.Err()
			default:
			}
		}
		out[i] = e.Match(msgs[i].Tags)
	}
	return out, nil
}

// expr returns the parsed expression of sub.
func (f *tagFilter) expr(sub filter.Subscription) (*Expr, error) {
	if sub.ExpressionType != "" && !strings.EqualFold(sub.ExpressionType, Type) {
		return nil, fmt.Errorf("%w: tag: expression type %q is not %s", plugin.ErrInvalidArgument, sub.ExpressionType, Type)
	}
	if e, ok := f.cache.Get(sub.Expression); ok {
		return e, nil
	}
	e, err := Parse(sub.Expression)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", plugin.ErrInvalidArgument, err)
	}
	f.cache.Add(sub.Expression, e)
	return e, nil
}
