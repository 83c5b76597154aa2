package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// ErrNotAssigned: the queue is not assigned to the PullConsumer.
var ErrNotAssigned = errors.New("client: queue not assigned")

// PullConsumer reads the queues it is explicitly assigned, at positions the application
// controls, and commits offsets when told to. Nothing is rebalanced and nothing is committed
// automatically.
//
// Each assigned queue has a position: the offset of the next message Poll returns from it.
// A newly assigned queue starts at the group's committed offset, or where WithConsumeFrom says
// when there is none. Seek moves a position. Behind Poll, one goroutine per assigned queue
// pulls ahead with long polling into a buffer bounded by WithPendingLimits; Poll drains the
// buffers, a fair share from each queue, and moves the positions past what it returns.
//
// A PullConsumer is safe for concurrent use. It starts its background goroutines (route and
// heartbeat loops, one fetcher per assigned queue) when created and on Assign; Close stops them.
type PullConsumer struct {
	core consumerCore
	cfg  pullConfig
	in   *instance
	log  *slog.Logger

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the fetchers

	avail chan struct{} // cap 1: messages were buffered

	mu     sync.Mutex // guards the fields below and every pullQueue's guarded fields
	subs   map[string]*subscription
	queues map[MessageQueue]*pullQueue
	order  []MessageQueue // the assigned queues, sorted, for Poll's round robin
	rr     int
	closed bool
}

// pullQueue is one assigned queue of a PullConsumer.
type pullQueue struct {
	mq     MessageQueue
	cancel context.CancelFunc // stops the fetcher
	space  chan struct{}      // cap 1: the buffer fell below the pending limits

	// guarded by PullConsumer.mu
	sub         *subscription
	pos         int64 // next offset Poll returns; -1 until known
	fetch       int64 // next offset to pull; -1 until known
	buf         []*MessageExt
	bytes       int64
	gen         uint64             // bumped by Seek: results of older pulls are dropped
	fetchCancel context.CancelFunc // cancels the pull in flight
}

// NewPullConsumer returns a pull consumer of group. Its route and heartbeat loops start now.
func NewPullConsumer(group string, opts ...PullConsumerOption) (*PullConsumer, error) {
	if err := validateGroup(group); err != nil {
		return nil, err
	}
	cfg := defaultPullConfig()
	for _, o := range opts {
		o.applyPull(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	in, err := newInstance(cfg.consumer.common, nil)
	if err != nil {
		return nil, err
	}
	c := &PullConsumer{
		cfg: cfg, in: in, log: in.log.With("group", group),
		avail: make(chan struct{}, 1),
		subs:  map[string]*subscription{}, queues: map[MessageQueue]*pullQueue{},
	}
	c.cfg.consumer.common = in.cfg
	c.core = consumerCore{group: group, in: in, cfg: &c.cfg.consumer}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	in.heartbeat = c.heartbeatData
	in.start()
	return c, nil
}

// Subscribe sets the selector of topic's queues (default Tag("*")). It applies from the next
// pull of each queue; messages already buffered are returned as they are.
func (c *PullConsumer) Subscribe(topic string, sel Selector) error {
	if err := protocol.ValidateTopic(topic); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	if err := sel.validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	s := newSubscription(topic, sel, nil)
	c.subs[topic] = s
	for _, q := range c.queues {
		if q.mq.Topic == topic {
			q.sub = s
		}
	}
	return nil
}

// Queues returns topic's readable queues, from the NameServers.
func (c *PullConsumer) Queues(ctx context.Context, topic string) ([]MessageQueue, error) {
	r, err := c.in.fetchRoute(ctx, topic)
	if err != nil {
		return nil, err
	}
	return slices.SortedFunc(slices.Values(r.subscribe), MessageQueue.compare), nil
}

// Assign makes queues the consumer's queues: queues no longer listed are dropped with their
// buffered messages, new ones start at the committed offset (or WithConsumeFrom), queues
// already assigned keep their positions.
func (c *PullConsumer) Assign(queues ...MessageQueue) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	want := make(map[MessageQueue]bool, len(queues))
	for _, mq := range queues {
		want[mq] = true
	}
	for mq, q := range c.queues {
		if !want[mq] {
			q.cancel()
			delete(c.queues, mq)
		}
	}
	for mq := range want {
		if _, ok := c.queues[mq]; ok {
			continue
		}
		sub := c.subs[mq.Topic]
		if sub == nil {
			sub = newSubscription(mq.Topic, Tag(protocol.SubAll), nil)
		}
		ctx, cancel := context.WithCancel(c.ctx)
		q := &pullQueue{mq: mq, cancel: cancel, space: make(chan struct{}, 1), sub: sub, pos: -1, fetch: -1}
		c.queues[mq] = q
		c.wg.Go(func() { c.fetchLoop(ctx, q) })
	}
	c.order = slices.SortedFunc(maps.Keys(c.queues), MessageQueue.compare)
	c.rr = 0
	return nil
}

// Assignment returns the assigned queues, sorted.
func (c *PullConsumer) Assignment() []MessageQueue {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.order)
}

// Seek sets the position of an assigned queue: the next message Poll returns from it is at
// offset (or the first one after it the selector accepts). Buffered messages of the queue are
// dropped and a pull in flight is abandoned.
func (c *PullConsumer) Seek(mq MessageQueue, offset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	q := c.queues[mq]
	if q == nil {
		return fmt.Errorf("seek %s: %w", mq, ErrNotAssigned)
	}
	if offset < 0 {
		return fmt.Errorf("%w: seek %s to negative offset %d", ErrInvalidOption, mq, offset)
	}
	q.gen++
	clear(q.buf)
	q.buf, q.bytes, q.pos, q.fetch = q.buf[:0], 0, offset, offset
	if q.fetchCancel != nil {
		q.fetchCancel()
	}
	signal(q.space)
	return nil
}

// SeekToBeginning moves mq's position to its first stored message.
func (c *PullConsumer) SeekToBeginning(ctx context.Context, mq MessageQueue) error {
	off, err := c.core.queueOffset(ctx, mq, remoting.GetMinOffset)
	if err != nil {
		return err
	}
	return c.Seek(mq, off)
}

// SeekToEnd moves mq's position after its last message: only new messages are returned.
func (c *PullConsumer) SeekToEnd(ctx context.Context, mq MessageQueue) error {
	off, err := c.core.queueOffset(ctx, mq, remoting.GetMaxOffset)
	if err != nil {
		return err
	}
	return c.Seek(mq, off)
}

// SeekToTime moves mq's position to the message stored nearest to t.
func (c *PullConsumer) SeekToTime(ctx context.Context, mq MessageQueue, t time.Time) error {
	off, err := c.core.offsetAt(ctx, mq, t)
	if err != nil {
		return err
	}
	return c.Seek(mq, off)
}

// Position returns the position of an assigned queue: the offset after the last message Poll
// returned from it; false until the start offset is known or if mq is not assigned.
func (c *PullConsumer) Position(mq MessageQueue) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if q := c.queues[mq]; q != nil && q.pos >= 0 {
		return q.pos, true
	}
	return 0, false
}

// Poll returns buffered messages of the assigned queues, waiting until there are some or ctx
// ends (then it returns ctx's error). It returns at most WithPollLimit messages, queue by
// queue in turn, each queue's in order, and moves the queues' positions past them. The
// trace context of a message is in its properties; extract it with the propagator.
func (c *PullConsumer) Poll(ctx context.Context) ([]*MessageExt, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		out, more := c.drainLocked(c.cfg.pollLimit)
		c.mu.Unlock()
		if len(out) > 0 {
			if more {
				signal(c.avail)
			}
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, ErrClosed
		case <-c.avail:
		}
	}
}

// drainLocked takes up to limit buffered messages, round robin over the queues, and reports
// whether messages are left.
func (c *PullConsumer) drainLocked(limit int) ([]*MessageExt, bool) {
	var out []*MessageExt
	n := len(c.order)
	for i := 0; i < n && len(out) < limit; i++ {
		q := c.queues[c.order[(c.rr+i)%n]]
		if len(q.buf) == 0 {
			continue
		}
		share := max(limit/n, 1)
		k := min(len(q.buf), share, limit-len(out))
		for _, m := range q.buf[:k] {
			q.bytes -= int64(len(m.Body))
		}
		out = append(out, q.buf[:k]...)
		q.pos = q.buf[k-1].QueueOffset + 1
		clear(q.buf[:k])
		q.buf = q.buf[k:]
		if len(q.buf) == 0 {
			q.buf, q.pos = nil, q.fetch
		}
		if !c.overLimitLocked(q) {
			signal(q.space)
		}
	}
	if n > 0 {
		c.rr = (c.rr + 1) % n
	}
	more := false
	for _, q := range c.queues {
		more = more || len(q.buf) > 0
	}
	return out, more
}

func (c *PullConsumer) overLimitLocked(q *pullQueue) bool {
	return len(q.buf) >= c.cfg.consumer.pendingMsgs || q.bytes >= c.cfg.consumer.pendingBytes
}

// fetchLoop pulls q's queue into its buffer until ctx ends.
func (c *PullConsumer) fetchLoop(ctx context.Context, q *pullQueue) {
	bo := backoff{min: pullBackoffMin, max: pullBackoffMax}
	brokerID := protocol.MasterID
	var moved offsetMoveCheck
	failed := func(what string, err error) bool {
		if ctx.Err() != nil {
			return false
		}
		c.log.Debug(what+" failed", "queue", q.mq.String(), "err", err)
		return wait(ctx, bo.next())
	}
	for ctx.Err() == nil {
		c.mu.Lock()
		gen := q.gen
		if q.fetch < 0 {
			c.mu.Unlock()
			off, err := c.core.initialOffset(ctx, q.mq)
			if err != nil {
				if !failed("read offset", err) {
					return
				}
				continue
			}
			c.mu.Lock()
			if q.gen == gen && q.fetch < 0 {
				q.fetch, q.pos = off, off
			}
			c.mu.Unlock()
			continue
		}
		if c.overLimitLocked(q) {
			c.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-q.space:
			}
			continue
		}
		fctx, fcancel := context.WithCancel(ctx)
		q.fetchCancel = fcancel
		req := pullRequest{mq: q.mq, offset: q.fetch, sub: q.sub, brokerID: brokerID}
		c.mu.Unlock()

		res, err := c.core.pull(fctx, req)
		fcancel()
		c.mu.Lock()
		q.fetchCancel = nil
		if q.gen != gen {
			c.mu.Unlock()
			continue // a Seek moved the queue meanwhile
		}
		if err != nil {
			c.mu.Unlock()
			brokerID = protocol.MasterID
			if !failed("pull", err) {
				return
			}
			continue
		}
		bo.reset()
		brokerID = protocol.MasterID
		if _, ok := c.in.brokerAddr(q.mq.BrokerName, res.suggest); ok {
			brokerID = res.suggest
		}
		if res.status != pullOffsetMoved {
			moved = offsetMoveCheck{}
		}
		switch res.status {
		case pullFound:
			for _, m := range res.msgs {
				q.bytes += int64(len(m.Body))
			}
			q.buf = append(q.buf, res.msgs...)
			q.fetch = res.next
			if len(res.msgs) > 0 {
				signal(c.avail)
			}
		case pullNoNew, pullNoMatch:
			q.fetch = res.next
		case pullOffsetMoved:
			if !moved.confirmed(req.offset) {
				c.mu.Unlock()
				if !wait(ctx, offsetMoveRecheck) {
					return
				}
				continue
			}
			c.log.Warn("pull offset moved", "queue", q.mq.String(), "offset", req.offset, "next", res.next)
			q.gen++
			clear(q.buf)
			q.buf, q.bytes, q.pos, q.fetch = nil, 0, res.next, res.next
		}
		if len(q.buf) == 0 {
			q.pos = q.fetch
		}
		c.mu.Unlock()
	}
}

// Commit stores offset as the group's committed offset of mq on its broker: the offset of the
// next message to consume.
func (c *PullConsumer) Commit(ctx context.Context, mq MessageQueue, offset int64) error {
	return c.core.commitOffset(ctx, mq, offset)
}

// CommitAll commits the position of every assigned queue whose position is known.
func (c *PullConsumer) CommitAll(ctx context.Context) error {
	c.mu.Lock()
	pos := make(map[MessageQueue]int64, len(c.queues))
	for mq, q := range c.queues {
		if q.pos >= 0 {
			pos[mq] = q.pos
		}
	}
	c.mu.Unlock()
	var errs []error
	for _, mq := range slices.SortedFunc(maps.Keys(pos), MessageQueue.compare) {
		if err := c.core.commitOffset(ctx, mq, pos[mq]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Committed returns the group's committed offset of mq; errors.Is(err, ErrNoOffset) when
// there is none.
func (c *PullConsumer) Committed(ctx context.Context, mq MessageQueue) (int64, error) {
	return c.core.committedOffset(ctx, mq)
}

// Close stops the fetchers (abandoning pulls in flight), unregisters from the brokers and
// closes the connections. It commits nothing.
func (c *PullConsumer) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	if err := waitGroup(ctx, &c.wg); err != nil {
		_ = c.in.close(ctx)
		return err
	}
	c.core.unregister(ctx)
	return c.in.close(ctx)
}

// heartbeatData announces the group as an active (pull) consumer with its selectors.
func (c *PullConsumer) heartbeatData() protocol.HeartbeatData {
	c.mu.Lock()
	subs := make([]protocol.SubscriptionData, 0, len(c.subs))
	for _, t := range slices.Sorted(maps.Keys(c.subs)) {
		subs = append(subs, c.subs[t].data())
	}
	c.mu.Unlock()
	return protocol.HeartbeatData{ConsumerDataSet: []protocol.ConsumerData{{
		GroupName: c.core.group, ConsumeType: protocol.ConsumeActively, MessageModel: protocol.Clustering,
		ConsumeFromWhere: c.cfg.consumer.consumeFrom.wire(), SubscriptionDataSet: subs,
	}}}
}
