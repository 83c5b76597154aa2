package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/ternmq/tern/core/broker"
)

// ScopeName is the instrumentation scope of Tern's meter.
const ScopeName = "github.com/ternmq/tern"

// DefaultMaxLagSeries is the default of Options.MaxLagSeries: below the OTel SDK's
// per-instrument cardinality limit (2000), so that lag series are never folded into its
// overflow series.
const DefaultMaxLagSeries = 1000

// durationBounds are the bucket bounds of every latency histogram, in seconds: 100 µs to 10 s.
var durationBounds = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Options configure a Provider. The zero value is usable.
type Options struct {
	// Registry receives the metrics; nil: a new registry that also holds the Go runtime and
	// process collectors.
	Registry *prometheus.Registry
	// MaxLagSeries bounds the tern.consumer.lag series (DefaultMaxLagSeries when ≤ 0): the
	// first ones by group, topic and queue are reported, the rest left out (and logged).
	MaxLagSeries int
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// Provider is the broker's metrics: an OTel MeterProvider whose only reader is the
// Prometheus exporter, so that each scrape of Handler collects the instruments and runs the
// observable callbacks. It starts no goroutine. Close unregisters the callbacks and shuts the
// MeterProvider down.
type Provider struct {
	opts  Options
	log   *slog.Logger
	reg   *prometheus.Registry
	mp    *sdkmetric.MeterProvider
	meter metric.Meter

	wakeups                               metric.Int64Counter
	sendDur, pullDur, flushDur, pluginDur metric.Float64Histogram

	attrs attrCache

	mu    sync.Mutex // guards regs
	regs  []metric.Registration
	close sync.Once
}

var _ broker.Metrics = (*Provider)(nil)

// New returns a Provider with every synchronous instrument made; ObserveBroker and
// ObservePlugins add the observable ones.
func New(opts Options) (*Provider, error) {
	if opts.MaxLagSeries <= 0 {
		opts.MaxLagSeries = DefaultMaxLagSeries
	}
	p := &Provider{opts: opts, log: opts.Logger, reg: opts.Registry}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.reg == nil {
		p.reg = prometheus.NewRegistry()
		p.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	exp, err := otelprom.New(
		otelprom.WithRegisterer(p.reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	p.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	p.meter = p.mp.Meter(ScopeName)
	if err := p.instruments(); err != nil {
		p.mp.Shutdown(context.Background())
		return nil, err
	}
	return p, nil
}

// instruments makes the synchronous instruments, and the message and byte counters, which
// observe the counts Sent and Pulled keep per topic (and group).
func (p *Provider) instruments() error {
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		return instrument(&errs, p.meter.Int64Counter, name, unit, desc)
	}
	observed := func(name, unit, desc string) metric.Int64ObservableCounter {
		return instrument(&errs, p.meter.Int64ObservableCounter, name, unit, desc)
	}
	buckets := metric.Float64HistogramOption(metric.WithExplicitBucketBoundaries(durationBounds...))
	histogram := func(name, desc string) metric.Float64Histogram {
		return instrument(&errs, p.meter.Float64Histogram, name, "s", desc, buckets)
	}
	messagesIn := observed("tern.messages.in", "{message}", "Messages stored by send requests, by topic.")
	bytesIn := observed("tern.bytes.in", "By", "Stored size of the messages sent, by topic.")
	messagesOut := observed("tern.messages.out", "{message}", "Messages delivered by pulls, by topic and consumer group.")
	bytesOut := observed("tern.bytes.out", "By", "Stored size of the messages delivered, by topic and consumer group.")
	p.wakeups = counter("tern.longpoll.wakeups", "{wakeup}", "Held pulls retried because their queue grew.")
	p.sendDur = histogram("tern.send.duration", "Time to serve a send request that stored messages.")
	p.pullDur = histogram("tern.pull.duration", "Time to read and filter one pull (holds excluded).")
	p.flushDur = histogram("tern.store.flush.duration", "Time of a CommitLog flush that wrote data back.")
	p.pluginDur = histogram("tern.plugin.call.duration", "Time of a call to a plugin, by plugin.")
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return p.register(p.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		p.attrs.observeCounts(o, messagesIn, bytesIn, messagesOut, bytesOut)
		return nil
	}, messagesIn, bytesIn, messagesOut, bytesOut))
}

// instrument makes one instrument with mk (a Meter method) from its name, unit, description
// and more options, and collects mk's error in errs.
func instrument[T, O any](errs *[]error, mk func(string, ...O) (T, error), name, unit, desc string, more ...O) T {
	// Both options are metric.InstrumentOption, which is an option of every instrument kind.
	opts := append([]O{any(metric.WithUnit(unit)).(O), any(metric.WithDescription(desc)).(O)}, more...)
	v, err := mk(name, opts...)
	*errs = append(*errs, err)
	return v
}

// Handler serves the registry in the Prometheus text format (GET /metrics).
func (p *Provider) Handler() http.Handler {
	return promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{ErrorLog: slogErrorLog{p.log}})
}

// MeterProvider returns the OTel MeterProvider, for instruments of other packages.
func (p *Provider) MeterProvider() metric.MeterProvider { return p.mp }

// Sent implements broker.Metrics.
func (p *Provider) Sent(ctx context.Context, topic string, msgs, bytes int, d time.Duration) {
	p.attrs.get(topic, "").count(msgs, bytes)
	p.sendDur.Record(ctx, d.Seconds())
}

// Pulled implements broker.Metrics.
func (p *Provider) Pulled(ctx context.Context, topic, group string, msgs, bytes int, d time.Duration) {
	if msgs > 0 {
		p.attrs.get(topic, group).count(msgs, bytes)
	}
	p.pullDur.Record(ctx, d.Seconds())
}

// Woken implements broker.Metrics.
func (p *Provider) Woken(ctx context.Context) { p.wakeups.Add(ctx, 1) }

// StoreFlushed records a CommitLog flush; it is store.Config.OnFlush's shape.
func (p *Provider) StoreFlushed(d time.Duration) {
	p.flushDur.Record(context.Background(), d.Seconds())
}

// PluginCalled records a plugin call; it is host.Options.OnCall's shape.
func (p *Provider) PluginCalled(plugin string, d time.Duration) {
	p.pluginDur.Record(context.Background(), d.Seconds(), p.attrs.plugin(plugin).rec...)
}

// register keeps a callback registration for Close.
func (p *Provider) register(r metric.Registration, err error) error {
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	p.mu.Lock()
	p.regs = append(p.regs, r)
	p.mu.Unlock()
	return nil
}

// Close unregisters the callbacks (a broker closed later is no longer read) and shuts the
// MeterProvider down; a scrape after it finds no Tern metrics.
func (p *Provider) Close(ctx context.Context) error {
	var errs []error
	p.close.Do(func() {
		p.mu.Lock()
		regs := p.regs
		p.regs = nil
		p.mu.Unlock()
		for _, r := range regs {
			errs = append(errs, r.Unregister())
		}
		errs = append(errs, p.mp.Shutdown(ctx))
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("metrics: close: %w", err)
	}
	return nil
}

// slogErrorLog adapts a slog.Logger to promhttp's error logger.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Error("serve metrics failed", "err", fmt.Sprint(v...)) }
