package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/store"
	"github.com/ternmq/tern/filters/tag"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

// MessageFilter evaluates the subscriptions of one expression type other than TAG: a filter
// plugin (built in or out of process) behind the plugin host, which applies its timeout, batch
// size and failure policy.
type MessageFilter interface {
	// Compile checks a subscription; a bad expression gives an error wrapping
	// plugin.ErrInvalidArgument with the filter's message.
	Compile(ctx context.Context, sub filter.Subscription) error
	// Match says which of msgs sub selects. An error means the filter could not decide (its
	// failure policy is closed): the pull delivers nothing and skips nothing.
	Match(ctx context.Context, sub filter.Subscription, msgs []filter.Message) ([]bool, error)
	// NeedsBody and NeedsProperties report whether Match reads message bodies and properties;
	// the broker leaves out what it does not (tags and keys are always passed).
	NeedsBody() bool
	NeedsProperties() bool
}

// FilterResolver returns the filter of an expression type (case-insensitive), or false when no
// plugin evaluates it.
type FilterResolver func(expressionType string) (MessageFilter, bool)

// FiltersOf adapts a look-up that returns a concrete filter type (the plugin host's Filter
// method) to a FilterResolver.
func FiltersOf[F MessageFilter](lookup func(expressionType string) (F, bool)) FilterResolver {
	return func(typ string) (MessageFilter, bool) {
		if f, ok := lookup(typ); ok {
			return f, true
		}
		return nil, false
	}
}

// filterCallTimeout bounds one Match or Compile call made on the pull path, in case the filter
// applies no timeout of its own.
const filterCallTimeout = 10 * time.Second

// selector is a pull's filter: a tag expression on the ConsumeQueue hash and the TAGS property
// (store.Filter; nil for "*"), then, for other expression types, a MessageFilter over the batch
// the store returned.
type selector struct {
	store  store.Filter
	plugin MessageFilter // nil for TAG
	sub    filter.Subscription
	tracer Tracer // nil: no filter spans
}

// newSelector builds the selector of a subscription, compiling non-TAG expressions (once per
// subscription, see compiledSubs).
func (b *Broker) newSelector(ctx context.Context, sub filter.Subscription) (*selector, error) {
	if sub.ExpressionType == "" || strings.EqualFold(sub.ExpressionType, protocol.ExpressionTag) {
		e, err := tag.Parse(sub.Expression)
		if err != nil {
			return nil, fmt.Errorf("%w: tag expression of %s for %s: %v", remoting.ErrSubscriptionParseFailed, sub.Group, sub.Topic, err)
		}
		if e.All() {
			return &selector{}, nil // the store checks only each record's header
		}
		return &selector{store: tagFilter{e}}, nil
	}
	var f MessageFilter
	if b.cfg.Filters != nil {
		f, _ = b.cfg.Filters(sub.ExpressionType)
	}
	if f == nil {
		return nil, fmt.Errorf("%w: no filter plugin evaluates expression type %s (subscription of %s to %s)",
			remoting.ErrSubscriptionParseFailed, sub.ExpressionType, sub.Group, sub.Topic)
	}
	if err := b.compiled.check(ctx, f, sub); err != nil {
		return nil, err
	}
	return &selector{store: matchAll{}, plugin: f, sub: sub, tracer: b.cfg.Tracer}, nil
}

// compiledSubs remembers the subscriptions a filter has accepted or refused, so that a pull does
// not cross to a plugin to compile the same expression again. A compile that failed for any other
// reason than a bad expression (the plugin is down) is not remembered.
type compiledSubs struct {
	mu   sync.Mutex
	subs map[filter.Subscription]error
}

// maxCompiledSubs bounds compiledSubs; past it the memory starts over.
const maxCompiledSubs = 10_000

func (c *compiledSubs) check(ctx context.Context, f MessageFilter, sub filter.Subscription) error {
	c.mu.Lock()
	err, ok := c.subs[sub]
	c.mu.Unlock()
	if ok {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, filterCallTimeout)
	defer cancel()
	err = f.Compile(cctx, sub)
	switch {
	case err == nil:
	case errors.Is(err, plugin.ErrInvalidArgument):
		err = fmt.Errorf("%w: %s expression of %s for %s: %v", remoting.ErrSubscriptionParseFailed, sub.ExpressionType, sub.Group, sub.Topic, err)
	default:
		return nil // not the expression's fault: Match applies the failure policy
	}
	c.mu.Lock()
	if c.subs == nil || len(c.subs) >= maxCompiledSubs {
		c.subs = make(map[filter.Subscription]error)
	}
	c.subs[sub] = err
	c.mu.Unlock()
	return err
}

// matchAll is the store filter of non-TAG subscriptions: everything goes to the plugin.
type matchAll struct{}

func (matchAll) MatchTagsCode(int64) bool      { return true }
func (matchAll) MatchRecord(message.View) bool { return true }

// errFilterUnavailable marks a pull whose filter could not decide: deliver nothing, skip nothing.
var errFilterUnavailable = errors.New("broker: filter unavailable")

// apply runs the selector's plugin over the messages of res, keeping the selected ones in
// place. On failure res is left unchanged and the error wraps errFilterUnavailable.
func (s *selector) apply(ctx context.Context, res *store.GetResult) error {
	if s.plugin == nil || len(res.Messages) == 0 {
		return nil
	}
	needsBody, needsProps := s.plugin.NeedsBody(), s.plugin.NeedsProperties()
	msgs := make([]filter.Message, len(res.Messages))
	for i, raw := range res.Messages {
		msgs[i] = filterMessage(message.View(raw), needsBody, needsProps)
	}
	ctx, cancel := context.WithTimeout(ctx, filterCallTimeout)
	defer cancel()
	ctx, span := s.traceFilter(ctx, res)
	matched, err := s.plugin.Match(ctx, s.sub, msgs)
	traceEnd(span, err)
	if err == nil && len(matched) != len(msgs) {
		err = fmt.Errorf("filter answered %d results for %d messages", len(matched), len(msgs))
	}
	if err != nil {
		return fmt.Errorf("%w: %s filter for %s on %s: %w", errFilterUnavailable, s.sub.ExpressionType, s.sub.Group, s.sub.Topic, err)
	}
	n := 0
	for i, ok := range matched {
		if ok {
			res.Messages[n] = res.Messages[i]
			res.QueueOffsets[n] = res.QueueOffsets[i]
			n++
		} else {
			res.Bytes -= len(res.Messages[i])
		}
	}
	clear(res.Messages[n:])
	res.Messages, res.QueueOffsets = res.Messages[:n], res.QueueOffsets[:n]
	if n == 0 {
		res.Status = store.NoMatchedMessage
	}
	return nil
}

// filterMessage is what a filter plugin sees of a stored record. The properties are set only
// when needsProps; the body only when needsBody, aliasing the mapped CommitLog (inflated if it
// was stored compressed).
func filterMessage(v message.View, needsBody, needsProps bool) filter.Message {
	raw := v.Properties()
	m := filter.Message{
		Topic:          string(v.Topic()),
		QueueID:        v.QueueID(),
		QueueOffset:    v.QueueOffset(),
		BornTimestamp:  v.BornTimestamp(),
		StoreTimestamp: v.StoreTimestamp(),
		ReconsumeTimes: v.ReconsumeTimes(),
	}
	if needsProps {
		m.Properties = message.ParseProperties(raw)
	}
	if t, ok := message.Property(raw, message.PropertyTags); ok && len(t) > 0 {
		m.Tags = tag.Split(string(t))
	}
	if k, ok := message.Property(raw, message.PropertyKeys); ok && len(k) > 0 {
		m.Keys = strings.Fields(string(k))
	}
	if needsBody {
		m.Body = v.Body()
		if v.SysFlag()&message.SysFlagCompressed != 0 {
			if b, err := message.Inflate(m.Body, maxInflated); err == nil {
				m.Body = b
			}
		}
	}
	return m
}

// maxInflated bounds a compressed body inflated for a filter.
const maxInflated = 64 << 20

// tagFilter selects by RocketMQ tag expression ("A || B"; "*" needs no filter): first on the
// ConsumeQueue tags code (the Java hash of the tag), then on the TAGS property itself, which
// rules out hash collisions.
type tagFilter struct{ e *tag.Expr }

var _ store.Filter = tagFilter{}

func (f tagFilter) MatchTagsCode(code int64) bool { return f.e.MatchCode(code) }

func (f tagFilter) MatchRecord(v message.View) bool {
	tags, _ := message.Property(v.Properties(), message.PropertyTags)
	return f.e.MatchProperty(tags)
}
