// Package broker is Tern's RocketMQ-compatible broker: the remoting processors that serve
// producers, consumers and admin tools on top of the message store, the client registry, long
// polling, delay levels, retries and dead letters, and registration with the NameServers.
//
// # Request flow
//
// The remoting server hands each request to the processor for its code (processors.go). Sends
// validate the topic (auto-creating it from TBW102 when allowed), turn the header and body into
// store records, let the scheduler rewrite delayed ones, and append them in one store call;
// the response carries the offset message id RocketMQ clients decode. Pulls filter on the
// ConsumeQueue tags code and then the record, and answer with the records as slices of the
// mapped CommitLog written with one writev. A pull that finds nothing and may be suspended is
// held by the long-poll service and retried when the dispatcher reports new messages for its
// queue, or answered with PULL_NOT_FOUND when its suspend time is up.
//
// # State
//
// Topics, consumer offsets and delay-level cursors are small JSON files under configDir,
// replaced atomically. Client membership lives in memory, keyed by connection: a closed
// connection or 120 s without a heartbeat removes a client and notifies the rest of its
// consumer groups.
package broker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/ternmq/tern/core/broker/clients"
	"github.com/ternmq/tern/core/broker/locks"
	"github.com/ternmq/tern/core/broker/longpoll"
	"github.com/ternmq/tern/core/broker/offsets"
	"github.com/ternmq/tern/core/broker/schedule"
	"github.com/ternmq/tern/core/broker/timer"
	"github.com/ternmq/tern/core/broker/topics"
	"github.com/ternmq/tern/core/broker/transaction"
	"github.com/ternmq/tern/core/ha"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/store"
	"github.com/ternmq/tern/discovery/namesrv"
)

// Broker is one broker process's worth of state and services.
type Broker struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	store   *store.Store
	topics  *topics.Manager
	offsets *offsets.Manager
	clients *clients.Manager
	locks   *locks.Manager
	levels  *schedule.Levels // DELAY levels in SCHEDULE_TOPIC_XXXX
	timer   *timer.Service   // everything else that waits (delay.go routes)
	tx      *transaction.Service
	hold    *longpoll.Service
	server  *remoting.Server
	guard   *guard     // ACL and audit middleware (acl.go)
	ls      *listeners // the remoting ports (tls.go)
	rep     *replica   // role, HA port and replication (replica.go)
	w       writer     // the store's write side: role checks and SYNC_MASTER waits

	registrar    Registrar       // cfg.Discovery, or ownRegistrar
	ownRegistrar *namesrv.Client // the NameServer client made when cfg.Discovery is nil

	delayLevels []time.Duration
	uniqIDs     *message.UniqIDGenerator // for timers that arrive without a UNIQ_KEY

	requesters sync.Map // request/reply: requester client id → *remoting.Conn its requests came on
	compiled   compiledSubs
	pulls      *pullLog // which client pulled which queue (admin trace)

	ready   readiness     // what Ready reports
	regMu   sync.Mutex    // serialises registrations
	regNow  chan struct{} // asks the registration loop to register now (capacity 1)
	stop    chan struct{}
	wg      sync.WaitGroup
	closing sync.Once
}

// New opens the store and the broker's state. Start begins serving.
func New(cfg Config, logger *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ConfigDir == "" {
		cfg.ConfigDir = filepath.Join(cfg.Store.StorePathRootDir, "config")
	}
	b := &Broker{cfg: cfg, log: logger, now: time.Now, stop: make(chan struct{}), regNow: make(chan struct{}, 1)}
	// Listen first: with port 0 the advertised address (and every record's STOREHOST) is the
	// port the system picked.
	ls, err := openListeners(&cfg)
	if err != nil {
		return nil, err
	}
	b.ls = ls
	if b.rep, err = openReplica(&cfg); err != nil {
		ls.Close()
		return nil, err
	}
	ln := closers{ls, b.rep} // closed on failure below
	if ap, perr := netip.ParseAddrPort(cfg.BrokerAddr); perr == nil && ap.Port() == 0 {
		port := uint16(ls.main.Addr().(*net.TCPAddr).Port)
		cfg.BrokerAddr = netip.AddrPortFrom(ap.Addr(), port).String()
		cfg.Store.StoreHost = netip.AddrPortFrom(ap.Addr(), port)
		b.cfg = cfg
	}
	if cfg.Store.Now != nil {
		b.now = cfg.Store.Now
	}
	levels, err := schedule.ParseLevels(cfg.MessageDelayLevel)
	if err != nil {
		ln.Close()
		return nil, err
	}
	// Pulls are held only once serving starts, after the store is open.
	b.hold = longpoll.New(longpoll.Options{Now: b.now, MaxOffset: func(t string, q int32) int64 { return b.store.MaxOffset(t, q) }})
	scfg := cfg.Store
	scfg.Logger = logger.With("component", "store")
	scfg.OnArrival = b.arrived
	scfg.TagsCode = schedule.TagsCodeFunc(levels)
	scfg.RetentionFloor = func() int64 {
		if t := b.timer; t != nil {
			return t.RetentionFloor()
		}
		return 0
	}
	if b.store, err = store.Open(scfg); err != nil {
		ln.Close()
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			ln.Close()
			b.store.Close()
		}
	}()
	b.delayLevels = levels
	b.w = writer{Store: b.store, b: b}
	if b.rep.epochs, err = ha.OpenEpochs(filepath.Join(cfg.Store.StorePathRootDir, "ha")); err != nil {
		return nil, err
	}
	b.uniqIDs = newUniqIDs(cfg.Store.StoreHost, b.now)
	if b.levels, err = schedule.New(b.w, schedule.Options{Levels: levels, Dir: cfg.ConfigDir, Logger: logger, Now: b.now, Fired: b.firedHook()}); err != nil {
		return nil, err
	}
	if b.timer, err = timer.New(b.w, timer.Options{
		Dir: cfg.Store.StorePathRootDir, ConfigDir: cfg.ConfigDir, Horizon: time.Duration(cfg.TimerMaxDelaySec) * time.Second,
		Decide: b.decide, Logger: logger.With("component", "timer"), Now: b.now, Fired: b.firedHook(),
	}); err != nil {
		b.levels.Close()
		return nil, err
	}
	if b.topics, err = topics.Open(topics.Options{
		Dir: cfg.ConfigDir, Cluster: cfg.BrokerClusterName, BrokerName: cfg.BrokerName,
		AutoCreate: cfg.AutoCreateTopicEnable, DefaultQueueNums: cfg.DefaultTopicQueueNums,
		ScheduleLevels: len(levels), Now: b.now,
	}); err != nil {
		return nil, err
	}
	if b.offsets, err = offsets.Open(cfg.ConfigDir); err != nil {
		return nil, err
	}
	b.locks = locks.New(60*time.Second, b.now)
	b.clients = clients.New(b.notifyConsumersChanged)
	b.pulls = newPullLog(b.now().UnixMilli())
	if err := b.openTransactions(); err != nil {
		return nil, err
	}
	b.registrar = b.newRegistrar()
	if b.guard, err = openGuard(cfg, logger); err != nil {
		return nil, err
	}
	b.server = remoting.NewServer(ls.serverOptions(&cfg, remoting.ServerOptions{
		Logger:       logger.With("component", "remoting"),
		MaxFrameSize: 16 << 20,
		OnDisconnect: func(c *remoting.Conn) {
			b.clients.Disconnected(c)
			b.requesters.Range(func(k, v any) bool {
				if v == c {
					b.requesters.Delete(k)
				}
				return true
			})
		},
	}), b.mux())
	ok = true
	return b, nil
}

// arrived is the store's arrival hook: wake the pulls held on those queues.
func (b *Broker) arrived(as []store.Arrival) {
	for _, a := range as {
		if a.Topic == timer.Topic {
			b.timer.Wake()
			continue
		}
		b.hold.Arrived(a.Topic, a.QueueID, a.MaxOffset)
	}
}

// Start listens and starts the background work: long polling, delay delivery, registration
// with the NameServers, offset persistence and client expiry.
func (b *Broker) Start(ctx context.Context) error {
	b.hold.Start()
	b.serve(b.ls)
	b.startReplica()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.housekeeping()
	}()
	b.ready.serving.Store(true)
	select {
	case <-b.regNow: // asked for during the start (becoming the master): registered now
	default:
	}
	b.registerAll(ctx)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.registrationLoop()
	}()
	return nil
}

// AdvertisedAddr returns the address clients are told to use (brokerAddr).
func (b *Broker) AdvertisedAddr() string { return b.cfg.BrokerAddr }

// Store returns the broker's message store.
func (b *Broker) Store() *store.Store { return b.store }

// housekeeping persists consumer offsets and expires silent clients.
func (b *Broker) housekeeping() {
	flush := time.NewTicker(b.cfg.FlushConsumerOffsetInterval.D())
	defer flush.Stop()
	scan := time.NewTicker(10 * time.Second)
	defer scan.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-flush.C:
			if err := b.offsets.Flush(); err != nil {
				b.log.Error("persist consumer offsets failed", "err", err)
			}
		case <-scan.C:
			for _, c := range b.clients.Expire(b.now(), b.cfg.ChannelExpiredTimeout.D()) {
				if rc, ok := c.(*remoting.Conn); ok {
					b.log.Info("client expired: no heartbeat", "remote", rc.RemoteAddr())
					rc.Close()
				}
			}
		}
	}
}

// notifyConsumersChanged tells a consumer group's members to rebalance
// (NOTIFY_CONSUMER_IDS_CHANGED, oneway).
func (b *Broker) notifyConsumersChanged(group string, members []*clients.Client) {
	for _, m := range members {
		conn, ok := m.Conn.(*remoting.Conn)
		if !ok {
			continue
		}
		req := remoting.NewRequest(remoting.NotifyConsumerIdsChanged, map[string]string{"consumerGroup": group}, nil)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := conn.InvokeOneway(ctx, req); err != nil {
				b.log.Debug("notify consumer ids changed failed", "group", group, "remote", conn.RemoteAddr(), "err", err)
			}
		}()
	}
}

// Close stops serving, answers held pulls, unregisters from the NameServers, persists the
// state and closes the store.
func (b *Broker) Close(ctx context.Context) error {
	var errs []error
	b.closing.Do(func() {
		b.ready.closing.Store(true)
		close(b.stop)
		b.unregisterAll(ctx)
		b.hold.Close()
		b.ls.Close() // if Start never served them
		if err := b.server.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		b.closeReplica()
		b.wg.Wait()
		b.closeSyncClient()
		b.closeRegistrar()
		if err := b.guard.close(); err != nil {
			errs = append(errs, err)
		}
		if err := b.levels.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := b.timer.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := b.tx.Close(); err != nil { // before the offsets flush: it commits the check progress
			errs = append(errs, err)
		}
		if err := b.offsets.Flush(); err != nil {
			errs = append(errs, err)
		}
		if err := b.store.Close(); err != nil {
			errs = append(errs, err)
		}
	})
	return errors.Join(errs...)
}

// closers closes what New opened when it fails part way.
type closers struct {
	ls  *listeners
	rep *replica
}

func (c closers) Close() {
	c.ls.Close()
	if c.rep.ln != nil {
		c.rep.ln.Close()
	}
}
