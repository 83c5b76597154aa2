package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/remoting/tlsconf"
	"github.com/ternmq/tern/discovery/etcd"
	"github.com/ternmq/tern/discovery/etcd/election"
	"github.com/ternmq/tern/discovery/namesrv"
	"github.com/ternmq/tern/observability/tracing"
	"github.com/ternmq/tern/plugins/builtin"
	"github.com/ternmq/tern/plugins/host"
	"github.com/ternmq/tern/plugins/manifest"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// serverFlags are the flags shared by dev, broker and namesrv.
type serverFlags struct {
	flags       *pflag.FlagSet
	data        string
	namesrvAddr string
	brokerAddr  string
	configFile  string
	sets        []string
	logLevel    string
	manifest    string
	httpAddr    string // the broker's HTTP port: /metrics, /healthz, /readyz
	pprof       bool   // serve /debug/pprof/ on the HTTP port

	discovery     string // namesrv or etcd
	etcdEndpoints string
	etcdPrefix    string
	leaseTTL      time.Duration
	brokerExpiry  time.Duration // NameServers: brokerChannelExpiredTime
	nsTLS         tlsconf.Listener
	nsMaxConns    int

	ha    string        // static or etcd: how the broker's role is decided
	haTTL time.Duration // --ha etcd: the election lease's TTL
}

func (f *serverFlags) register(cmd *cobra.Command, broker, nameserver bool) {
	fl := cmd.Flags()
	f.flags = fl
	if broker {
		fl.StringVar(&f.data, "data", "./tern-data", "data directory")
		fl.StringVar(&f.brokerAddr, "broker-addr", "127.0.0.1:10911", "broker listen address (IPv4 ip:port, also advertised to clients)")
		fl.StringVar(&f.configFile, "config", "", "broker configuration file (YAML, RocketMQ key names)")
		fl.StringArrayVar(&f.sets, "set", nil, "set a broker or store option, key=value (repeatable), e.g. --set flushDiskType=SYNC_FLUSH")
		fl.StringVar(&f.httpAddr, "http-addr", defaultHTTPAddr, `HTTP address of /metrics (Prometheus), /healthz and /readyz; "" or "off" disables it`)
		fl.BoolVar(&f.pprof, "pprof", false, "also serve Go's profiles at /debug/pprof/ on --http-addr (go tool pprof http://ADDR/debug/pprof/profile)")
		fl.StringVar(&f.manifest, "manifest", "", "plugin manifest (YAML); default: the built-in plugins (tag, cel)")
		fl.StringVar(&f.ha, "ha", "static", "how the broker's role is decided: static (brokerRole and brokerId) or etcd (the group's replicas elect their master through etcd at --etcd-endpoints; brokerId >= 1 each)")
		fl.DurationVar(&f.haTTL, "ha-ttl", 10*time.Second, "with --ha etcd: the election lease's TTL; a dead master is replaced after about this long")
	}
	fl.StringVar(&f.namesrvAddr, "namesrv-addr", "127.0.0.1:9876", map[bool]string{true: "NameServer listen address", false: "NameServer addresses (';'-separated)"}[nameserver])
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fl.StringVar(&f.discovery, "discovery", "namesrv", "where brokers register and NameServers read routes: namesrv (the NameServers' memory) or etcd (shared: stateless NameServers)")
	fl.StringVar(&f.etcdEndpoints, "etcd-endpoints", "127.0.0.1:2379", "etcd endpoints (';'- or ','-separated), with --discovery etcd")
	fl.StringVar(&f.etcdPrefix, "etcd-prefix", etcd.DefaultPrefix, "key prefix of the registry in etcd, with --discovery etcd")
	fl.DurationVar(&f.leaseTTL, "lease-ttl", etcd.DefaultTTL, "etcd lease TTL of a broker registration: a broker that dies leaves the routes after it")
	if nameserver {
		fl.DurationVar(&f.brokerExpiry, "broker-expiry", namesrv.DefaultConfig().BrokerChannelExpiredTime.D(), "a broker that has not registered for this long leaves the routes (brokerChannelExpiredTime), unless it sent its own timeout")
		fl.StringVar(&f.nsTLS.Mode, "tls-mode", "disabled", "NameServer tlsMode: disabled, permissive (TLS and plaintext on one port) or enforcing (TLS only); the broker's is --set tlsMode=...")
		fl.StringVar(&f.nsTLS.CertPath, "tls-cert", "", "NameServer certificate chain, PEM (tlsServerCertPath)")
		fl.StringVar(&f.nsTLS.KeyPath, "tls-key", "", "NameServer private key, PEM (tlsServerKeyPath)")
		fl.StringVar(&f.nsTLS.TrustCertPath, "tls-ca", "", "CAs that client certificates are verified against, PEM (tlsServerTrustCertPath)")
		fl.StringVar(&f.nsTLS.NeedClientAuth, "tls-client-auth", "none", "NameServer client certificates: none, optional or require (tlsServerNeedClientAuth)")
		fl.IntVar(&f.nsMaxConns, "max-connections", namesrv.DefaultConfig().MaxConnections, "NameServer connection limit: more are refused with SYSTEM_BUSY (negative: none)")
	}
}

func (f *serverFlags) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", f.logLevel, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})), nil
}

// brokerConfig builds the broker configuration: defaults (with the flags' defaults), then
// --config, then the flags given on the command line, then --set.
func (f *serverFlags) brokerConfig(log *slog.Logger) (broker.Config, error) {
	cfg := broker.DefaultConfig(f.data)
	cfg.ListenAddr, cfg.BrokerAddr, cfg.NamesrvAddr = f.brokerAddr, f.brokerAddr, f.namesrvAddr
	if f.configFile != "" {
		if err := cfg.LoadFile(f.configFile); err != nil {
			return cfg, err
		}
	}
	if f.flags.Changed("data") {
		cfg.Store.StorePathRootDir = f.data
	}
	if f.flags.Changed("broker-addr") {
		cfg.ListenAddr, cfg.BrokerAddr = f.brokerAddr, f.brokerAddr
	}
	if f.flags.Changed("namesrv-addr") {
		cfg.NamesrvAddr = f.namesrvAddr
	}
	for _, kv := range f.sets {
		if err := cfg.Set(kv); err != nil {
			return cfg, err
		}
	}
	el, err := f.election(&cfg, log)
	if err != nil {
		return cfg, err
	}
	if el != nil {
		cfg.Election = el
	}
	return cfg, cfg.Validate()
}

func newDevCmd() *cobra.Command {
	return newServeCmd("dev", "Run a NameServer and a broker in one process, with the data in ./tern-data", true, true)
}

func newBrokerCmd() *cobra.Command { return newServeCmd("broker", "Run a broker", true, false) }

func newNamesrvCmd() *cobra.Command { return newServeCmd("namesrv", "Run a NameServer", false, true) }

func newServeCmd(name, short string, withBroker, withNamesrv bool) *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use: name, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.serve(cmd.Context(), name, withBroker, withNamesrv)
		},
	}
	f.register(cmd, withBroker, withNamesrv)
	return cmd
}

// serve starts the NameServer and/or the broker, logs one ready line with their addresses,
// waits for SIGINT/SIGTERM (ctx) and stops them in reverse order: the broker stops accepting,
// answers held pulls, unregisters, flushes and closes its store.
func (f *serverFlags) serve(ctx context.Context, name string, withBroker, withNamesrv bool) error {
	log, err := f.logger()
	if err != nil {
		return err
	}
	var cfg broker.Config
	if withBroker {
		if cfg, err = f.brokerConfig(log); err != nil {
			return err
		}
	}
	var closers []func(context.Context) error
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i](sctx))
		}
		return errors.Join(errs...)
	}
	var h *host.Host
	var obs *observed
	var b *broker.Broker
	var fenced <-chan struct{} // closed when b, a master, is fenced
	if withBroker {
		if obs, err = f.startHTTP(log); err != nil {
			return err
		}
		closers = append(closers, obs.Close) // closed last: /readyz answers 503 while the rest stops
		if h, err = f.startPlugins(ctx, log, obs.pluginCalls()); err != nil {
			return errors.Join(err, stop())
		}
		closers = append(closers, h.Close) // closed after the broker
		cfg.Filters = broker.FiltersOf(h.Filter)
		cfg.Schedulers = broker.SchedulersOf(h.Schedulers())
		if c, ok := h.TxChecker(); ok {
			cfg.TxChecker = c
		}
		// Tracing from the OTEL_* environment; off unless it names an exporter or endpoint.
		var ts tracing.Setup
		if ts, err = tracing.FromEnv(ctx, tracing.Options{}); err != nil {
			return errors.Join(err, stop())
		}
		closers = append(closers, ts.Shutdown) // flushed after the broker has closed
		if ts.Enabled {
			cfg.Tracer = tracing.NewBrokerTracer(ts.Provider)
			log.Info("tracing on", "exporter", ts.Exporter)
		}
	}
	disc, closeDisc, err := f.openDiscovery(ctx, h, log)
	if err != nil {
		return errors.Join(err, stop())
	}
	closers = append(closers, closeDisc) // closed after the broker has unregistered
	kind := f.discovery
	if disc != nil && kind == "namesrv" {
		kind = "manifest"
	}
	ready := []any{"discovery", kind}
	if withNamesrv {
		ns, err := f.startNamesrv(disc, log)
		if err != nil {
			return errors.Join(err, stop())
		}
		closers = append(closers, ns.Close)
		cfg.NamesrvAddr = ns.Addr().String() // the port it really got
		ready = append(ready, "namesrv", ns.Addr().String())
	}
	if withBroker {
		if disc != nil {
			cfg.Discovery = disc
		}
		obs.configure(&cfg)
		if b, err = startBroker(ctx, cfg, log); err != nil {
			return errors.Join(err, stop())
		}
		closers = append(closers, func(ctx context.Context) error { return b.Close(ctx) }) // the broker of the moment
		fenced = b.Fenced()
		if err := obs.observe(b, h); err != nil {
			return errors.Join(err, stop())
		}
		ready = append(ready, "http", obs.addr())
		ready = append(ready, "broker", b.AdvertisedAddr(), "namesrv_addr", cfg.NamesrvAddr, "data", cfg.Store.StorePathRootDir, "flush", cfg.Store.FlushDiskType)
	}
	log.Info("tern "+name+" ready", ready...)
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			return stop()
		case <-fenced:
		}
		if cfg.Election == nil || !b.IsMaster() { // a fenced master still says it is one
			// A static master that met a newer epoch would be a master again, and a replica
			// whose election failed without leading has nothing to rejoin from: both stop.
			log.Error("this broker was fenced (a newer epoch, or its election stopped): it refuses writes and stops; restart it to rejoin its group as a slave")
			return errors.Join(errFenced, stop())
		}
		log.Error("this broker lost its group's election while it was the master: it refused writes from then on, and now starts again to rejoin its group as a slave")
		next, err := f.rejoin(ctx, b, cfg, obs, log)
		if err != nil {
			return errors.Join(err, stop()) // b, closed already, is closed again: a no-op
		}
		b, fenced = next, next.Fenced()
		log.Info("tern "+name+" ready again, as a replica of its group", "broker", b.AdvertisedAddr())
	}
}

// rejoin closes old, a deposed elected master, and starts a broker of the same configuration
// with a new election in its place: as any broker of an elected group, it starts as a slave,
// cuts the tail of its CommitLog that the new master's epoch does not have, and follows it. So a
// master deposed by a stall of etcd (its lease lapsed while it was alive) comes back by itself,
// as a restarted process would, instead of leaving its group one replica short. The HTTP port,
// plugins, discovery and NameServer stay up; /readyz answers "starting" in between.
func (f *serverFlags) rejoin(ctx context.Context, old *broker.Broker, cfg broker.Config, obs *observed, log *slog.Logger) (*broker.Broker, error) {
	obs.follow(nil)
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := old.Close(cctx)
	cancel()
	if err != nil {
		log.Warn("the deposed broker did not close cleanly", "err", err)
	}
	if cfg.Election, err = f.election(&cfg, log); err != nil {
		return nil, err
	}
	b, err := startBroker(ctx, cfg, log)
	if err != nil {
		return nil, fmt.Errorf("start again as a slave after the deposition: %w", err)
	}
	obs.follow(b)
	return b, nil
}

// startPlugins starts the plugins of --manifest, or of the default manifest. A plugin that does
// not start is logged and the broker goes on without it (its failure policy decides what its
// subscriptions get); a manifest that does not load stops the start.
func (f *serverFlags) startPlugins(ctx context.Context, log *slog.Logger, onCall func(string, time.Duration)) (*host.Host, error) {
	m := manifest.Default()
	if f.manifest != "" {
		var err error
		if m, err = manifest.Load(f.manifest); err != nil {
			return nil, err
		}
	}
	h := host.New(m, host.Options{Logger: log.With("component", "plugins"), Builtins: builtin.Registry(), OnCall: onCall})
	if err := h.Start(ctx); err != nil {
		log.Error("some plugins did not start", "err", err)
	}
	return h, nil
}

func startBroker(ctx context.Context, cfg broker.Config, log *slog.Logger) (*broker.Broker, error) {
	b, err := broker.New(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := b.Start(ctx); err != nil {
		b.Close(context.Background())
		return nil, err
	}
	return b, nil
}

func (f *serverFlags) startNamesrv(backend discovery.Discovery, log *slog.Logger) (*namesrv.Server, error) {
	cfg := namesrv.DefaultConfig()
	cfg.ListenAddr = f.namesrvAddr
	cfg.Backend = backend
	if f.brokerExpiry > 0 {
		cfg.BrokerChannelExpiredTime = config.Millis(f.brokerExpiry)
	}
	cfg.TLS, cfg.MaxConnections = f.nsTLS, f.nsMaxConns
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ns := namesrv.New(cfg, log.With("component", "namesrv"))
	if err := ns.Start(); err != nil {
		return nil, err
	}
	return ns, nil
}

// openDiscovery returns the discovery backend brokers register with and NameServers serve
// from, or nil for the NameServers' own memory, and what closes it. --discovery etcd opens an
// etcd backend; without an explicit --discovery, the manifest's discovery plugin (h's, a
// `kind: discovery` entry; the host owns it) is used when it has one. A NameServer of
// `tern namesrv` has no plugin host, so it takes the flags only.
func (f *serverFlags) openDiscovery(ctx context.Context, h *host.Host, log *slog.Logger) (discovery.Discovery, func(context.Context) error, error) {
	none := func(context.Context) error { return nil }
	switch f.discovery {
	case "etcd":
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		b, err := etcd.Open(octx, etcd.Config{
			Endpoints: []string{f.etcdEndpoints}, Prefix: f.etcdPrefix, TTL: f.leaseTTL,
			Logger: log.With("component", "discovery", "backend", "etcd"),
		})
		if err != nil {
			return nil, none, fmt.Errorf("--discovery etcd: %w", err)
		}
		return b, func(context.Context) error { return b.Close() }, nil
	case "namesrv":
		if h != nil && !f.flags.Changed("discovery") {
			if d, ok := h.Discovery(); ok {
				return d, none, nil
			}
		}
		return nil, none, nil
	}
	return nil, none, fmt.Errorf("--discovery %q: want namesrv or etcd", f.discovery)
}

// errFenced is what a broker that lost its election while it was the master exits with.
var errFenced = errors.New("deposed master: restart the broker to rejoin its group as a slave")

// election returns the broker's Election for --ha etcd (nil for static): the group's replicas
// elect their master through the etcd of --etcd-endpoints, under --etcd-prefix.
func (f *serverFlags) election(cfg *broker.Config, log *slog.Logger) (broker.Election, error) {
	switch f.ha {
	case "static", "":
		return nil, nil
	case "etcd":
	default:
		return nil, fmt.Errorf("--ha %q: want static or etcd", f.ha)
	}
	return election.ForBroker(strings.FieldsFunc(f.etcdEndpoints, func(r rune) bool { return r == ';' || r == ',' }), election.Config{
		Prefix: f.etcdPrefix, Group: cfg.BrokerName, BrokerID: cfg.BrokerID, TTL: f.haTTL,
		// Replicas report their CommitLog end twice a second, and a dead master's lease lasts at
		// least two thirds of the TTL after its death: by the time it expires every live
		// replica's last report is in, so a short settle is enough.
		Settle: min(250*time.Millisecond, f.haTTL/10),
		Logger: log.With("component", "election", "group", cfg.BrokerName),
	}), nil
}
