package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/observability/httpserver"
	"github.com/ternmq/tern/observability/metrics"
	"github.com/ternmq/tern/plugins/host"
)

// defaultHTTPAddr is --http-addr's default.
const defaultHTTPAddr = "127.0.0.1:8080"

// errStarting is /readyz's answer before the broker exists.
var errStarting = errors.New("broker starting")

// observed is a broker's HTTP port (--http-addr: /metrics, /healthz, /readyz) and the metrics
// it serves. A nil *observed (the port is off) does nothing, so that serve needs no checks.
type observed struct {
	metrics *metrics.Provider
	srv     *httpserver.Server
	broker  atomic.Pointer[broker.Broker] // set once the broker is started: /readyz asks it
}

// startHTTP starts the metrics and the HTTP port of --http-addr, before anything else, so that
// /healthz answers and /readyz says "starting" while the plugins and the broker come up. It
// returns nil when --http-addr is "" or "off".
func (f *serverFlags) startHTTP(log *slog.Logger) (*observed, error) {
	if httpserver.Disabled(f.httpAddr) {
		return nil, nil
	}
	o := &observed{}
	var err error
	if o.metrics, err = metrics.New(metrics.Options{Logger: log.With("component", "metrics")}); err != nil {
		return nil, err
	}
	o.srv, err = httpserver.Start(httpserver.Options{
		Addr: f.httpAddr, Metrics: o.metrics.Handler(), Ready: o.ready, Logger: log.With("component", "http"),
		Pprof: f.pprof,
	})
	if err != nil {
		return nil, errors.Join(err, o.metrics.Close(context.Background()))
	}
	return o, nil
}

// ready is /readyz: the broker's readiness once it exists.
func (o *observed) ready() error {
	b := o.broker.Load()
	if b == nil {
		return errStarting
	}
	return b.Ready()
}

// pluginCalls returns the plugin host's call hook (host.Options.OnCall).
func (o *observed) pluginCalls() func(string, time.Duration) {
	if o == nil {
		return nil
	}
	return o.metrics.PluginCalled
}

// configure makes cfg's broker and store report to the metrics.
func (o *observed) configure(cfg *broker.Config) {
	if o == nil {
		return
	}
	cfg.Metrics = o.metrics
	cfg.Store.OnFlush = o.metrics.StoreFlushed
}

// observe registers the broker's and the plugin host's gauges and counters, and makes them and
// /readyz follow b, the started broker.
func (o *observed) observe(b *broker.Broker, h *host.Host) error {
	if o == nil {
		return nil
	}
	err := o.metrics.ObserveBroker(o)
	if h != nil {
		err = errors.Join(err, o.metrics.ObservePlugins(h))
	}
	o.follow(b)
	return err
}

// follow makes the gauges and /readyz follow b, which replaces the broker observed so far (nil
// while there is none).
func (o *observed) follow(b *broker.Broker) {
	if o != nil {
		o.broker.Store(b)
	}
}

// Gauges and Lags are the broker gauges' source (metrics.BrokerSource): the broker of the
// moment, so that one registration outlives a deposed master's replacement.
func (o *observed) Gauges() broker.Gauges {
	if b := o.broker.Load(); b != nil {
		return b.Gauges()
	}
	return broker.Gauges{}
}

// Lags is the consumer lag source; see Gauges.
func (o *observed) Lags(dst []broker.Lag, limit int) ([]broker.Lag, int) {
	if b := o.broker.Load(); b != nil {
		return b.Lags(dst, limit)
	}
	return dst, 0
}

// addr returns the port's address for the ready line, "off" without one.
func (o *observed) addr() string {
	if o == nil {
		return "off"
	}
	return o.srv.Addr().String()
}

// Close stops the HTTP port and the metrics. It runs last: /metrics and /readyz (503) answer
// while the broker stops.
func (o *observed) Close(ctx context.Context) error {
	if o == nil {
		return nil
	}
	return errors.Join(o.srv.Close(ctx), o.metrics.Close(ctx))
}
