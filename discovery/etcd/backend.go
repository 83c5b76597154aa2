package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// Name and Version identify the backend (Info).
const (
	Name    = "etcd"
	Version = "1.0.0"
)

// Backend is the etcd discovery backend. It is safe for concurrent use.
//
// Lock order: keeper.mu, then Backend.mu or Backend.tmu; Backend.tmu, then Backend.subsMu,
// then subscriber.mu. No lock is held while calling a Watch's send or, but for keeper.mu
// (which serializes one broker's writes), during a call to etcd.
type Backend struct {
	logger *slog.Logger
	now    func() time.Time // the clock of register times

	mu      sync.Mutex                      // guards the fields below
	cfg     Config                          // with defaults, once started
	cli     *clientv3.Client                // nil until started
	keepers map[discovery.BrokerKey]*keeper // registered brokers
	ctx     context.Context                 // of the goroutines; ends at Close
	cancel  context.CancelFunc              // ends ctx
	closed  chan struct{}                   // closed by Close
	wg      sync.WaitGroup                  // the sync loop and the keepers
	keys    keys                            // of cfg.Prefix
	started bool                            // Init or Open succeeded
	closing bool                            // Close was called

	tmu     sync.RWMutex
	table   *Table        // the cache
	changed chan struct{} // closed and replaced when table changes

	subsMu sync.Mutex
	subs   map[*subscriber]struct{}
}

var _ discovery.Discovery = (*Backend)(nil)

// ErrClosed is returned by calls on a closed Backend; it wraps plugin.ErrUnavailable.
var ErrClosed = fmt.Errorf("%w: etcd: backend closed", plugin.ErrUnavailable)

// errNotStarted is returned by calls before Init.
var errNotStarted = fmt.Errorf("%w: etcd: backend not initialized", plugin.ErrUnavailable)

// New returns an unconfigured backend, the built-in plugin: Init configures and connects it.
// A nil logger discards.
func New(logger *slog.Logger) *Backend {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Backend{
		logger:  logger,
		now:     time.Now,
		keepers: make(map[discovery.BrokerKey]*keeper),
		closed:  make(chan struct{}),
		table:   NewTable(""),
		changed: make(chan struct{}),
		subs:    make(map[*subscriber]struct{}),
	}
}

// Open returns a backend connected to cfg.Endpoints with its cache primed: it fails, wrapping
// plugin.ErrUnavailable, when etcd does not answer within cfg.DialTimeout.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	b := New(cfg.Logger)
	if err := b.start(ctx, cfg); err != nil {
		return nil, err
	}
	return b, nil
}

// Init configures and connects the backend from its manifest config (see the package doc).
// It may be called once.
func (b *Backend) Init(ctx context.Context, config map[string]any) (discovery.Info, error) {
	cfg, err := configFromMap(config)
	if err != nil {
		return discovery.Info{}, err
	}
	if err := b.start(ctx, cfg); err != nil {
		return discovery.Info{}, err
	}
	return discovery.Info{Name: Name, Version: Version}, nil
}

func (b *Backend) start(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Logger == nil {
		cfg.Logger = b.logger
	}
	cfg = cfg.withDefaults()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closing:
		return ErrClosed
	case b.started:
		return fmt.Errorf("%w: etcd: already initialized", plugin.ErrInvalidArgument)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    cfg.DialTimeout,
		DialKeepAliveTimeout: cfg.DialTimeout,
		Logger:               zap.NewNop(),
		// Reconnect within seconds after an outage (gRPC's default backoff grows to 2 min).
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxBackoff},
			MinConnectTimeout: cfg.DialTimeout,
		})},
	})
	if err != nil {
		return fmt.Errorf("%w: etcd: connect %v: %w", plugin.ErrUnavailable, cfg.Endpoints, err)
	}
	b.cfg, b.cli, b.keys, b.logger = cfg, cli, keys{prefix: cfg.Prefix}, cfg.Logger
	b.tmu.Lock()
	b.table = NewTable(cfg.Prefix)
	b.tmu.Unlock()
	rev, err := b.resync(ctx)
	if err != nil {
		_ = cli.Close()
		b.cli = nil
		return err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	b.ctx, b.cancel, b.started = loopCtx, cancel, true
	b.wg.Add(1)
	go b.syncLoop(loopCtx, rev)
	b.logger.Info("etcd discovery started", "endpoints", cfg.Endpoints, "prefix", cfg.Prefix, "rev", rev)
	return nil
}

// Close stops the keepalives, the cache's watch and the client, and waits for its goroutines.
// It does not revoke leases: the registrations it kept alive lapse after their TTL, as when
// the process dies. Unregister first for a clean leave.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return nil
	}
	b.closing = true
	close(b.closed)
	cancel, cli := b.cancel, b.cli
	for _, k := range b.keepers {
		k.stop()
	}
	b.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	b.wg.Wait()
	if cli == nil {
		return nil
	}
	if err := cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("etcd: close client: %w", err)
	}
	return nil
}

// client returns the client, or why there is none.
func (b *Backend) client() (*clientv3.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usableLocked(); err != nil {
		return nil, err
	}
	return b.cli, nil
}

// usableLocked says why the backend cannot be used, if it cannot. b.mu is held.
func (b *Backend) usableLocked() error {
	switch {
	case b.closing:
		return ErrClosed
	case !b.started:
		return errNotStarted
	}
	return nil
}

// read runs f on the cache under its read lock, after checking the backend is usable. Reads
// answer from the cache even while etcd is unreachable.
func (b *Backend) read(ctx context.Context, f func(t *Table)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := b.client(); err != nil {
		return err
	}
	b.tmu.RLock()
	defer b.tmu.RUnlock()
	f(b.table)
	return nil
}

// Route returns a topic's route from the cache, or an error wrapping plugin.ErrNotFound.
func (b *Backend) Route(ctx context.Context, topic string) (discovery.Route, error) {
	var r discovery.Route
	var ok bool
	if err := b.read(ctx, func(t *Table) { r, ok = t.Route(topic) }); err != nil {
		return discovery.Route{}, err
	}
	if !ok {
		return discovery.Route{}, fmt.Errorf("%w: etcd: route of topic %q", plugin.ErrNotFound, topic)
	}
	return r, nil
}

// Brokers returns every registered broker from the cache.
func (b *Backend) Brokers(ctx context.Context) (discovery.ClusterInfo, error) {
	var ci discovery.ClusterInfo
	err := b.read(ctx, func(t *Table) { ci = t.Brokers() })
	return ci, err
}

// Topics returns every topic with queues, sorted (GET_ALL_TOPIC_LIST_FROM_NAMESERVER).
func (b *Backend) Topics(ctx context.Context) ([]string, error) {
	var out []string
	err := b.read(ctx, func(t *Table) { out = t.Topics() })
	return out, err
}

// TopicsByCluster returns the topics with queues on a broker name of cluster, sorted.
func (b *Backend) TopicsByCluster(ctx context.Context, cluster string) ([]string, error) {
	var out []string
	err := b.read(ctx, func(t *Table) { out = t.TopicsByCluster(cluster) })
	return out, err
}

// Revision returns the etcd revision the cache reflects: two backends on one prefix at one
// revision answer identically.
func (b *Backend) Revision() int64 {
	b.tmu.RLock()
	defer b.tmu.RUnlock()
	return b.table.Rev()
}
