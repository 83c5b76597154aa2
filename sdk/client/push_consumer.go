package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/propagation"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// PushConsumer consumes the topics it subscribed to: it is assigned queues (all of them when
// broadcasting, a share of them when clustering), pulls them with long polling and hands the
// messages to the handlers.
//
// # Lifecycle
//
// Subscribe, then Start, then Close. Start announces the subscriptions to the brokers, takes
// its queues and starts pulling; Close stops pulling, waits for running handlers, commits the
// offsets, releases queue locks and unregisters from the brokers.
//
// # Delivery
//
// Delivery is at least once. Offsets advance only over acknowledged messages (see
// processQueue), so a crash, a rebalance or a broker restart may redeliver, never skip. A
// concurrent consumer runs up to WithConsumeGoroutines handlers at once, each with up to
// WithConsumeBatchSize messages of one queue; failed messages go back to the broker and return
// through %RETRY%<group> after the broker's delay for their reconsume count, and after
// WithMaxReconsumeTimes failures they go to %DLQ%<group>. An orderly consumer hands each queue
// to one goroutine in queue order, holding the queue's broker lock (clustering) so that no
// other consumer of the group consumes it at the same time.
//
// Goroutines: one per assigned queue (pull loop) plus one per queue when orderly, the
// handler pool when concurrent, the rebalance, offset commit and lock renewal loops, and the
// client's route and heartbeat loops. Close stops them all.
type PushConsumer struct {
	core    consumerCore
	cfg     pushConfig
	in      *instance
	log     *slog.Logger
	offsets offsetStore

	ctx    context.Context // ends at Close: stops every loop
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine of the consumer (the instance has its own)

	handlerCtx    context.Context // handlers' parent ctx; ends when Close gives up on them
	handlerCancel context.CancelFunc

	work         chan consumeJob // concurrent: batches for the handler pool
	slots        chan struct{}   // orderly: handler calls in progress
	rebalanceNow chan struct{}   // cap 1
	pulling      atomic.Int32    // pulls in flight (diagnostics and tests)

	// Lock order: lifecycle, mu, a processQueue's mu, the offset store's mu; instance locks
	// are leaves.
	lifecycle sync.Mutex // held by Start throughout, so that Close waits for it
	mu        sync.Mutex // guards the fields below
	subs      map[string]*subscription
	queues    map[MessageQueue]*queueRunner
	dropping  map[MessageQueue]chan struct{} // closed once a dropped queue's offset is persisted
	started   bool
	closed    bool
}

// NewPushConsumer returns a consumer of group. It does not connect until Start.
func NewPushConsumer(group string, opts ...PushConsumerOption) (*PushConsumer, error) {
	if err := validateGroup(group); err != nil {
		return nil, err
	}
	cfg := defaultPushConfig()
	for _, o := range opts {
		o.applyPush(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var local *localOffsets
	if cfg.model == Broadcasting {
		var err error
		if local, err = loadLocalOffsets(cfg.offsetDir, group); err != nil {
			return nil, err
		}
	}
	pc := &PushConsumer{
		cfg:          cfg,
		subs:         map[string]*subscription{},
		queues:       map[MessageQueue]*queueRunner{},
		dropping:     map[MessageQueue]chan struct{}{},
		rebalanceNow: make(chan struct{}, 1),
	}
	in, err := newInstance(cfg.consumer.common, map[int16]remoting.Handler{
		remoting.NotifyConsumerIdsChanged: remoting.HandlerFunc(pc.onConsumerIDsChanged),
	})
	if err != nil {
		return nil, err
	}
	pc.in, pc.log = in, in.log.With("group", group)
	pc.cfg.consumer.common = in.cfg
	pc.core = consumerCore{group: group, in: in, cfg: &pc.cfg.consumer}
	if local != nil {
		pc.offsets = local
	} else {
		pc.offsets = newRemoteOffsets(&pc.core)
	}
	in.heartbeat = pc.heartbeatData
	pc.ctx, pc.cancel = context.WithCancel(context.Background())
	pc.handlerCtx, pc.handlerCancel = context.WithCancel(context.Background())
	if cfg.orderly {
		pc.slots = make(chan struct{}, cfg.goroutines)
	} else {
		pc.work = make(chan consumeJob, cfg.goroutines)
	}
	return pc, nil
}

// Group returns the consumer group.
func (pc *PushConsumer) Group() string { return pc.core.group }

// ClientID returns the id the consumer announces to brokers (ip@instance).
func (pc *PushConsumer) ClientID() string { return pc.in.id }

// Subscribe subscribes to topic: messages sel selects are handed to handler. Subscribing to a
// topic again replaces its selector and handler. Call it before Start.
func (pc *PushConsumer) Subscribe(topic string, sel Selector, handler ConsumeFunc) error {
	if err := protocol.ValidateTopic(topic); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	if handler == nil {
		return fmt.Errorf("%w: nil handler for %s", ErrInvalidOption, topic)
	}
	if err := sel.validate(); err != nil {
		return err
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	switch {
	case pc.closed:
		return ErrClosed
	case pc.started:
		return ErrStarted
	}
	pc.subs[topic] = newSubscription(topic, sel, handler)
	return nil
}

// Start connects, announces the subscriptions, takes the consumer's queues and starts
// consuming. A subscribed topic without a route fails Start (errors.Is(err, ErrNoRoute)); a
// consumer whose Start failed can only be closed.
func (pc *PushConsumer) Start(ctx context.Context) error {
	pc.lifecycle.Lock()
	defer pc.lifecycle.Unlock()
	pc.mu.Lock()
	switch {
	case pc.closed:
		pc.mu.Unlock()
		return ErrClosed
	case pc.started:
		pc.mu.Unlock()
		return ErrStarted
	case len(pc.subs) == 0:
		pc.mu.Unlock()
		return ErrNoSubscription
	}
	pc.started = true
	if pc.cfg.model == Clustering {
		retry := protocol.RetryTopic(pc.core.group)
		pc.subs[retry] = newSubscription(retry, Tag(protocol.SubAll), nil)
	}
	topics := slices.Sorted(maps.Keys(pc.subs))
	pc.mu.Unlock()

	for _, t := range topics {
		if _, err := pc.in.fetchRoute(ctx, t); err != nil && !protocol.IsRetryTopic(t) {
			_ = pc.in.close(context.Background())
			return fmt.Errorf("start consumer %s: %w", pc.core.group, err)
		}
	}
	pc.in.start()
	pc.in.sendHeartbeat(ctx) // the brokers learn the subscriptions before the first pull
	if !pc.cfg.orderly {
		for range pc.cfg.goroutines {
			pc.goFunc(pc.consumeWorker)
		}
	}
	complete := pc.rebalance(ctx)
	pc.goFunc(func(ctx context.Context) { pc.rebalanceLoop(ctx, complete) })
	pc.goFunc(pc.commitLoop)
	if pc.cfg.orderly && pc.cfg.model == Clustering {
		pc.goFunc(pc.lockLoop)
	}
	pc.log.Info("consumer started", "client_id", pc.in.id, "topics", topics, "model", pc.cfg.model.String(), "orderly", pc.cfg.orderly)
	return nil
}

// Close stops consuming: it stops pulling, waits for running handlers (whose ctx ends when
// ctx does), commits the offsets of the consumer's queues, unlocks them (orderly), unregisters
// from the brokers and closes the connections. It returns ctx's error if ctx ends first;
// messages pulled but not handled are redelivered later, to this group.
func (pc *PushConsumer) Close(ctx context.Context) error {
	pc.lifecycle.Lock()
	defer pc.lifecycle.Unlock()
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return nil
	}
	pc.closed = true
	started := pc.started
	pc.mu.Unlock()
	if !started {
		pc.cancel()
		pc.handlerCancel()
		return pc.in.close(ctx)
	}
	pc.cancel()
	stop := context.AfterFunc(ctx, pc.handlerCancel)
	defer stop()
	defer pc.handlerCancel()
	if err := waitGroup(ctx, &pc.wg); err != nil {
		_ = pc.in.close(ctx)
		return err
	}

	pc.mu.Lock()
	runners := slices.Collect(maps.Values(pc.queues))
	clear(pc.queues)
	pc.mu.Unlock()
	mqs := make([]MessageQueue, 0, len(runners))
	for _, r := range runners {
		r.pq.drop()
		mqs = append(mqs, r.pq.mq)
	}
	var errs []error
	if err := pc.offsets.persist(ctx, mqs); err != nil {
		errs = append(errs, err)
	}
	if pc.cfg.orderly && pc.cfg.model == Clustering {
		pc.unlock(ctx, mqs)
	}
	pc.core.unregister(ctx)
	if err := pc.in.close(ctx); err != nil {
		errs = append(errs, err)
	}
	pc.log.Info("consumer closed")
	return errors.Join(errs...)
}

// goFunc runs f on a goroutine the consumer owns; f returns once ctx (the consumer's) ends.
func (pc *PushConsumer) goFunc(f func(ctx context.Context)) {
	pc.wg.Add(1)
	go func() {
		defer pc.wg.Done()
		f(pc.ctx)
	}()
}

// heartbeatData is what the consumer announces to brokers.
func (pc *PushConsumer) heartbeatData() protocol.HeartbeatData {
	pc.mu.Lock()
	subs := make([]protocol.SubscriptionData, 0, len(pc.subs))
	for _, t := range slices.Sorted(maps.Keys(pc.subs)) {
		subs = append(subs, pc.subs[t].data())
	}
	pc.mu.Unlock()
	return protocol.HeartbeatData{ConsumerDataSet: []protocol.ConsumerData{{
		GroupName: pc.core.group, ConsumeType: protocol.ConsumePassively, MessageModel: pc.cfg.model.wire(),
		ConsumeFromWhere: pc.cfg.consumer.consumeFrom.wire(), SubscriptionDataSet: subs,
	}}}
}

// onConsumerIDsChanged serves NOTIFY_CONSUMER_IDS_CHANGED: rebalance soon.
func (pc *PushConsumer) onConsumerIDsChanged(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.ConsumerGroupHeader
	if err := h.Decode(req); err == nil && h.ConsumerGroup == pc.core.group {
		signal(pc.rebalanceNow)
	}
	return nil
}

// commitLoop persists the offsets every commit interval.
func (pc *PushConsumer) commitLoop(ctx context.Context) {
	tick(ctx, pc.cfg.commitInterval, func(ctx context.Context) {
		if err := pc.offsets.persist(ctx, pc.assigned()); err != nil && ctx.Err() == nil {
			pc.log.Warn("commit offsets failed", "err", err)
		}
	})
}

// assigned returns the queues the consumer holds.
func (pc *PushConsumer) assigned() []MessageQueue {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return slices.SortedFunc(maps.Keys(pc.queues), MessageQueue.compare)
}

// handlerFor returns the handler of a message's topic (a retried message has its original
// topic back).
func (pc *PushConsumer) handlerFor(topic string) ConsumeFunc {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if s := pc.subs[topic]; s != nil {
		return s.handler
	}
	return nil
}

// callHandler runs the handler of msgs' topic with the trace context of the first message;
// an error or a panic counts as failure.
func (pc *PushConsumer) callHandler(msgs []*MessageExt) (ok bool, res ConsumeResult) {
	h := pc.handlerFor(msgs[0].Topic)
	if h == nil {
		pc.log.Warn("no handler for the topic of a retried message", "topic", msgs[0].Topic, "msg_id", msgs[0].MsgID)
		return false, ConsumeRetryLater
	}
	ctx := pc.in.cfg.propagator.Extract(pc.handlerCtx, propagation.MapCarrier(msgs[0].Properties))
	ctx, span := pc.core.startProcess(ctx, msgs)
	defer func() { endProcess(span, ok) }()
	defer func() {
		if p := recover(); p != nil {
			pc.log.Error("consume handler panicked", "topic", msgs[0].Topic, "queue_id", msgs[0].QueueID, "offset", msgs[0].QueueOffset, "panic", p)
			ok, res = false, ConsumeRetryLater
		}
	}()
	res, err := h(ctx, msgs)
	if err != nil {
		pc.log.Debug("consume handler failed", "topic", msgs[0].Topic, "queue_id", msgs[0].QueueID, "offset", msgs[0].QueueOffset, "err", err)
		return false, res
	}
	return res == ConsumeSuccess, res
}
