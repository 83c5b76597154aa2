package metrics

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/plugins/host"
)

// Attribute keys (stable: they are the Prometheus label names).
const (
	KeyTopic   = "topic"
	KeyGroup   = "group"
	KeyQueueID = "queue_id"
	KeyLevel   = "level"
	KeyPlugin  = "plugin"
	KeyKind    = "kind"
)

// BrokerSource is what the gauges read from the broker at each collection.
type BrokerSource interface {
	Gauges() broker.Gauges
	Lags(dst []broker.Lag, limit int) ([]broker.Lag, int)
}

var _ BrokerSource = (*broker.Broker)(nil)

// PluginSource is what the plugin counters read from the plugin host at each collection.
type PluginSource interface {
	Stats() []host.PluginStats
}

var _ PluginSource = (*host.Host)(nil)

// ObserveBroker registers the broker's gauges: consumer lag, store size, held pulls, waiting
// timers, delay-level backlogs and pending half messages, all read from src at collection.
func (p *Provider) ObserveBroker(src BrokerSource) error {
	var errs []error
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		return instrument(&errs, p.meter.Int64ObservableGauge, name, unit, desc)
	}
	lag := gauge("tern.consumer.lag", "{message}", "Messages of a queue not yet consumed by a group: max offset less committed offset.")
	size := gauge("tern.store.size", "By", "CommitLog bytes kept: max offset less min offset.")
	held := gauge("tern.longpoll.held", "{request}", "Pulls on hold (long polling).")
	timers := gauge("tern.timer.waiting", "{message}", "Messages in the timing wheel, not yet fired or cancelled.")
	backlog := gauge("tern.delay.backlog", "{message}", "Messages stored at a delay level, not yet delivered, by level.")
	half := gauge("tern.transaction.half.pending", "{message}", "Unresolved transactions (half messages), estimated.")
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var warned atomic.Bool
	var lags []broker.Lag // reused: callbacks of one registration never run concurrently
	return p.register(p.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		g := src.Gauges()
		o.ObserveInt64(size, g.StoreBytes)
		o.ObserveInt64(held, int64(g.HeldPulls))
		o.ObserveInt64(timers, g.TimersWaiting)
		o.ObserveInt64(half, g.HalfPending)
		for i, n := range g.DelayBacklog {
			o.ObserveInt64(backlog, n, metric.WithAttributes(attribute.Int(KeyLevel, i+1)))
		}
		var left int
		lags, left = src.Lags(lags[:0], p.opts.MaxLagSeries)
		for _, l := range lags {
			o.ObserveInt64(lag, l.Lag, metric.WithAttributes(attribute.String(KeyGroup, l.Group),
				attribute.String(KeyTopic, l.Topic), attribute.String(KeyQueueID, strconv.Itoa(int(l.QueueID)))))
		}
		if left > 0 && warned.CompareAndSwap(false, true) {
			p.log.Warn("consumer lag series left out", "max_series", p.opts.MaxLagSeries, "left_out", left)
		}
		return nil
	}, lag, size, held, timers, backlog, half))
}

// ObservePlugins registers the plugin counters (calls, errors, timeouts, restarts) and the up
// gauge, read from src's Stats at collection, by plugin. The call latency histogram is fed
// by PluginCalled (host.Options.OnCall) instead: an observable instrument cannot be one.
func (p *Provider) ObservePlugins(src PluginSource) error {
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		return instrument(&errs, p.meter.Int64ObservableCounter, name, unit, desc)
	}
	calls := counter("tern.plugin.calls", "{call}", "Calls made to a plugin.")
	failed := counter("tern.plugin.errors", "{call}", "Plugin calls that failed, timeouts and fail-fast refusals included.")
	timeouts := counter("tern.plugin.timeouts", "{call}", "Plugin calls that ran past their timeout.")
	restarts := counter("tern.plugin.restarts", "{restart}", "Plugin relaunches that came up after a failure.")
	up := instrument(&errs, p.meter.Int64ObservableGauge, "tern.plugin.up", "", "1 while a plugin is up, else 0.")
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return p.register(p.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, s := range src.Stats() {
			a := metric.WithAttributes(attribute.String(KeyPlugin, s.Name), attribute.String(KeyKind, string(s.Kind)))
			o.ObserveInt64(calls, int64(s.Calls), a)
			o.ObserveInt64(failed, int64(s.Errors), a)
			o.ObserveInt64(timeouts, int64(s.Timeouts), a)
			o.ObserveInt64(restarts, int64(s.Restarts), a)
			isUp := int64(0)
			if s.State == host.StateUp {
				isUp = 1
			}
			o.ObserveInt64(up, isUp, a)
		}
		return nil
	}, calls, failed, timeouts, restarts, up))
}

// attrs are the cached options of one attribute set: building a set allocates, and the hot
// paths record with the same few sets over and over. For a topic (and group), they also hold
// the message and byte counts of its sends (or pulls), which the counters observe at
// collection: an atomic add per send instead of two OTel SDK adds (which look the attribute
// set up in a map under a lock: 9 % of the broker's CPU at 30,000 sends a second).
type attrs struct {
	rec []metric.RecordOption
	obs []metric.ObserveOption

	msgs, bytes atomic.Int64
}

func newAttrs(kv ...attribute.KeyValue) *attrs {
	o := metric.WithAttributeSet(attribute.NewSet(kv...))
	return &attrs{rec: []metric.RecordOption{o}, obs: []metric.ObserveOption{o}}
}

// count adds to the counts of a's topic (and group).
func (a *attrs) count(msgs, bytes int) {
	a.msgs.Add(int64(msgs))
	a.bytes.Add(int64(bytes))
}

// observeCounts reports the counts of every topic (to in) and every topic and group (to out).
func (c *attrCache) observeCounts(o metric.Observer, msgsIn, bytesIn, msgsOut, bytesOut metric.Int64Observable) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for k, a := range c.tg {
		msgs, bytes := msgsIn, bytesIn
		if k.group != "" {
			msgs, bytes = msgsOut, bytesOut
		}
		o.ObserveInt64(msgs, a.msgs.Load(), a.obs...)
		o.ObserveInt64(bytes, a.bytes.Load(), a.obs...)
	}
}

type topicGroup struct{ topic, group string }

// attrCache holds the attribute sets by topic (and group) and by plugin. Its size follows the
// broker's topics, groups and plugins, which are bounded by the broker's own tables.
type attrCache struct {
	mu      sync.RWMutex
	tg      map[topicGroup]*attrs
	plugins map[string]*attrs
}

// get returns the set {topic} for group "", else {topic, group}.
func (c *attrCache) get(topic, group string) *attrs {
	k := topicGroup{topic, group}
	c.mu.RLock()
	a := c.tg[k]
	c.mu.RUnlock()
	if a != nil {
		return a
	}
	kv := []attribute.KeyValue{attribute.String(KeyTopic, topic)}
	if group != "" {
		kv = append(kv, attribute.String(KeyGroup, group))
	}
	return c.store(func() *attrs {
		if c.tg == nil {
			c.tg = map[topicGroup]*attrs{}
		}
		if a := c.tg[k]; a != nil {
			return a
		}
		c.tg[k] = newAttrs(kv...)
		return c.tg[k]
	})
}

// plugin returns the set {plugin}.
func (c *attrCache) plugin(name string) *attrs {
	c.mu.RLock()
	a := c.plugins[name]
	c.mu.RUnlock()
	if a != nil {
		return a
	}
	return c.store(func() *attrs {
		if c.plugins == nil {
			c.plugins = map[string]*attrs{}
		}
		if a := c.plugins[name]; a != nil {
			return a
		}
		c.plugins[name] = newAttrs(attribute.String(KeyPlugin, name))
		return c.plugins[name]
	})
}

func (c *attrCache) store(f func() *attrs) *attrs {
	c.mu.Lock()
	defer c.mu.Unlock()
	return f()
}
