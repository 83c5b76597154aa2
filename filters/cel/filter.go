package cel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	celgo "cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/ternmq/tern/filters/internal/lru"
	"github.com/ternmq/tern/filters/sql92"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

// Identity of the filter.
const (
	Name    = "cel"
	Version = "1.0.0"
	// TypeCEL and TypeSQL92 are the expression types the filter evaluates.
	TypeCEL   = "CEL"
	TypeSQL92 = "SQL92"
)

// Filter is the built-in "cel" filter. It is safe for concurrent use.
type Filter struct {
	logger *slog.Logger
	// env is fixed: the configuration does not change the declarations (body is always
	// declared and refused by Compile unless NeedsBody). envErr is why it could not be built.
	env    *celgo.Env
	envErr error
	// base is the configuration of New, which Init's keys apply to.
	base Config
	// state is replaced as a whole by Init; Compile and Match load it once per call.
	state atomic.Pointer[state]
	stats counters
}

var _ filter.Filter = (*Filter)(nil)

// state is one configuration of the filter and the programs compiled under it.
type state struct {
	cfg   Config
	cache *lru.Cache[filter.Subscription, compiled]
}

func newState(cfg Config) *state {
	return &state{cfg: cfg, cache: lru.New[filter.Subscription, compiled](cfg.cacheSize())}
}

// compiled is a cache entry: a program, or why the subscription was refused.
type compiled struct {
	prog celgo.Program
	err  error
}

// Option configures a Filter.
type Option func(*Filter)

// WithLogger sets the logger; nil (the default) discards.
func WithLogger(l *slog.Logger) Option {
	return func(f *Filter) { f.logger = l }
}

// WithConfig sets the configuration in force until Init, and the one Init's config keys
// apply to. The default is DefaultConfig. An invalid configuration is ignored.
func WithConfig(c Config) Option {
	return func(f *Filter) {
		if c.Validate() == nil {
			f.base = c
		}
	}
}

// New returns the filter, ready to use with its configuration (Init may change it).
func New(opts ...Option) *Filter {
	f := &Filter{base: DefaultConfig()}
	for _, o := range opts {
		o(f)
	}
	f.state.Store(newState(f.base))
	if f.logger == nil {
		f.logger = slog.New(slog.DiscardHandler)
	}
	f.env, f.envErr = newEnv()
	return f
}

// Init sets the configuration: the config keys (costBudget, costLimit, needsBody, cacheSize)
// over the configuration of New. It empties the cache of compiled subscriptions.
func (f *Filter) Init(ctx context.Context, config map[string]any) (filter.Info, error) {
	if err := ctx.Err(); err != nil {
		return filter.Info{}, err
	}
	if f.envErr != nil {
		return filter.Info{}, fmt.Errorf("%w: cel: build environment: %v", plugin.ErrInternal, f.envErr)
	}
	cfg, err := f.base.withMap(config)
	if err != nil {
		return filter.Info{}, err
	}
	f.state.Store(newState(cfg))
	f.logger.Info("cel filter configured", "cost_budget", cfg.CostBudget, "cost_limit", cfg.CostLimit,
		"needs_body", cfg.NeedsBody, "cache_size", cfg.cacheSize())
	return f.Info(), nil
}

// Info describes the filter in its current configuration.
func (f *Filter) Info() filter.Info {
	return filter.Info{
		Name:            Name,
		Version:         Version,
		ExpressionTypes: []string{TypeCEL, TypeSQL92},
		NeedsBody:       f.state.Load().cfg.NeedsBody,
	}
}

// Compile checks a subscription and caches its program. A bad expression gives an error
// wrapping plugin.ErrInvalidArgument with the compiler's message.
func (f *Filter) Compile(ctx context.Context, sub filter.Subscription) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := f.program(f.state.Load(), sub)
	return err
}

// Match evaluates sub over msgs. A message whose evaluation fails (a missing map key, a
// string int() cannot parse, a SQL92 conversion RocketMQ would throw on, the cost limit) does
// not match; only a bad expression or a cancelled context fails the batch.
func (f *Filter) Match(ctx context.Context, sub filter.Subscription, msgs []filter.Message) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st := f.state.Load()
	prog, err := f.program(st, sub)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(msgs))
	act := getActivation(st.cfg.NeedsBody)
	defer putActivation(act)
	done := ctx.Done()
	var failed, overCost uint64
	for i := range msgs {
		if done != nil {
			select {
			case <-done:
				return nil, ctx.Err()
			default:
			}
		}
		act.reset(&msgs[i])
		v, _, err := prog.Eval(act)
		if err != nil {
			failed++
			var cancelled interpreter.EvalCancelledError
			if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
				overCost++
			}
			continue
		}
		out[i] = v == types.True
	}
	f.stats.evaluations.Add(uint64(len(msgs)))
	if failed > 0 {
		f.stats.evalErrors.Add(failed)
		f.stats.costLimitExceeded.Add(overCost)
	}
	return out, nil
}

// program returns the compiled program of sub, from the cache or compiled now.
func (f *Filter) program(st *state, sub filter.Subscription) (celgo.Program, error) {
	key := sub
	key.ExpressionType = strings.ToUpper(sub.ExpressionType)
	if c, ok := st.cache.Get(key); ok {
		f.stats.cacheHits.Add(1)
		return c.prog, c.err
	}
	f.stats.cacheMisses.Add(1)
	prog, err := f.compile(st, key.ExpressionType, sub.Expression)
	if err != nil && !errors.Is(err, plugin.ErrInvalidArgument) {
		return nil, err // not the expression's fault: do not remember it
	}
	st.cache.Add(key, compiled{prog: prog, err: err})
	return prog, err
}

// compile type-checks an expression, checks its cost estimate and plans its program.
func (f *Filter) compile(st *state, exprType, expr string) (celgo.Program, error) {
	if f.envErr != nil {
		return nil, fmt.Errorf("%w: cel: build environment: %v", plugin.ErrInternal, f.envErr)
	}
	f.stats.compiles.Add(1)
	src := expr
	switch exprType {
	case TypeCEL:
	case TypeSQL92:
		var err error
		if src, err = sql92.ToCEL(expr); err != nil {
			return nil, f.refuse(exprType, expr, err)
		}
	default:
		return nil, fmt.Errorf("%w: cel: expression type %q is not one of %s and %s", plugin.ErrInvalidArgument, exprType, TypeCEL, TypeSQL92)
	}
	a, iss := f.env.Compile(src)
	if err := iss.Err(); err != nil {
		return nil, f.refuse(exprType, expr, err)
	}
	if a.OutputType() != celgo.BoolType {
		return nil, f.refuse(exprType, expr, fmt.Errorf("the expression is of type %s, want bool", a.OutputType()))
	}
	body := usesBody(a)
	if body && !st.cfg.NeedsBody {
		return nil, f.refuse(exprType, expr, errors.New("the expression uses body, but the filter is not configured with needsBody: true"))
	}
	est, err := f.env.EstimateCost(a, estimator{})
	if err != nil {
		return nil, f.refuse(exprType, expr, fmt.Errorf("estimate cost: %v", err))
	}
	if st.cfg.CostBudget > 0 && est.Max > st.cfg.CostBudget {
		return nil, f.refuse(exprType, expr, fmt.Errorf("estimated cost %d is over the budget of %d", est.Max, st.cfg.CostBudget))
	}
	opts := []celgo.ProgramOption{celgo.EvalOptions(celgo.OptOptimize)}
	// Tracking the cost costs allocations on every call, so a program whose worst case is
	// within the limit runs without it. The sizes the estimate assumes are hard bounds of the
	// record format, except the body's.
	if st.cfg.CostLimit > 0 && (body || est.Max > st.cfg.CostLimit) {
		opts = append(opts, celgo.CostLimit(st.cfg.CostLimit))
	}
	prog, err := f.env.Program(a, opts...)
	if err != nil {
		// Planning checks the expression's constants (a regular expression in matches()).
		return nil, f.refuse(exprType, expr, fmt.Errorf("plan: %v", err))
	}
	return prog, nil
}

// refuse is the error of a bad expression.
func (f *Filter) refuse(exprType, expr string, err error) error {
	f.logger.Debug("cel filter refused expression", "expression_type", exprType, "expression", expr, "err", err)
	return fmt.Errorf("%w: cel: %s expression: %v", plugin.ErrInvalidArgument, exprType, err)
}

// Stats are the filter's counters since New.
type Stats struct {
	// Compiles counts expressions compiled (cache misses that reached the compiler).
	Compiles uint64
	// CacheHits and CacheMisses count lookups of compiled subscriptions, one per Compile or
	// Match call.
	CacheHits, CacheMisses uint64
	// Evaluations counts messages evaluated; EvalErrors those whose evaluation failed (and so
	// did not match), CostLimitExceeded those of them stopped by the cost limit.
	Evaluations, EvalErrors, CostLimitExceeded uint64
}

type counters struct {
	compiles, cacheHits, cacheMisses           atomic.Uint64
	evaluations, evalErrors, costLimitExceeded atomic.Uint64
}

// Stats returns the filter's counters.
func (f *Filter) Stats() Stats {
	return Stats{
		Compiles:          f.stats.compiles.Load(),
		CacheHits:         f.stats.cacheHits.Load(),
		CacheMisses:       f.stats.cacheMisses.Load(),
		Evaluations:       f.stats.evaluations.Load(),
		EvalErrors:        f.stats.evalErrors.Load(),
		CostLimitExceeded: f.stats.costLimitExceeded.Load(),
	}
}
