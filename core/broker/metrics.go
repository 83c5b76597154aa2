package broker

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/ternmq/tern/core/broker/schedule"
	"github.com/ternmq/tern/core/broker/transaction"
	"github.com/ternmq/tern/core/protocol"
)

// Metrics receives the broker's measurements on its hot paths (observability/metrics
// implements it with OpenTelemetry). Config.Metrics nil records nothing and costs nothing: the
// send and pull paths then neither read the clock nor allocate for it. The methods are called
// concurrently and must not block.
type Metrics interface {
	// Sent records a stored send request to topic: its messages, their stored size in bytes
	// (as in the CommitLog: headers, properties and body) and how long the request took.
	Sent(ctx context.Context, topic string, msgs, bytes int, d time.Duration)
	// Pulled records one read of a pull of group on topic: the messages it answered with
	// (none for an empty read), their stored size and how long the read took. A held pull
	// is read again at each wake-up, the hold itself is not timed.
	Pulled(ctx context.Context, topic, group string, msgs, bytes int, d time.Duration)
	// Woken records a held pull retried because its queue grew.
	Woken(ctx context.Context)
}

// measurePull reports a pull read that started at start to Config.Metrics, if set.
func (b *Broker) measurePull(ctx context.Context, h *protocol.PullMessageHeader, msgs, bytes int, start time.Time) {
	if m := b.cfg.Metrics; m != nil {
		m.Pulled(ctx, h.Topic, h.ConsumerGroup, msgs, bytes, time.Since(start))
	}
}

// Gauges is a snapshot of the broker's levels, read when metrics are collected.
type Gauges struct {
	// StoreBytes is the CommitLog's size: its maximum offset less its minimum one.
	StoreBytes int64
	// HeldPulls is the number of pulls on hold (long polling).
	HeldPulls int
	// TimersWaiting is the number of messages in the timing wheel, not yet fired or
	// cancelled (approximate; see timer.Stats).
	TimersWaiting int64
	// DelayBacklog is, by delay level (index level-1), the messages stored at that level and
	// not yet delivered.
	DelayBacklog []int64
	// HalfPending estimates the unresolved transactions (transaction.Ledger.Pending).
	HalfPending int64
}

// Gauges returns the broker's levels now. It takes a few locks briefly and does no I/O.
func (b *Broker) Gauges() Gauges {
	g := Gauges{
		StoreBytes:    max(b.store.CommitLogMaxOffset()-b.store.CommitLogMinOffset(), 0),
		HeldPulls:     b.hold.Held(),
		TimersWaiting: b.timer.Stats().Waiting,
		HalfPending:   b.tx.Ledger().Pending(b.store.MaxOffset(transaction.HalfTopic, 0)),
		DelayBacklog:  make([]int64, b.levels.NumLevels()),
	}
	for lv := 1; lv <= len(g.DelayBacklog); lv++ {
		qid := int32(lv - 1)
		from := max(b.levels.Cursor(lv), b.store.MinOffset(schedule.Topic, qid))
		g.DelayBacklog[lv-1] = max(b.store.MaxOffset(schedule.Topic, qid)-from, 0)
	}
	return g
}

// Lag is a consumer group's lag on one queue: the queue's maximum offset less the group's
// committed offset.
type Lag struct {
	Group, Topic string
	QueueID      int32
	Lag          int64
}

// Lags appends to dst the lag of every committed offset, sorted by group, topic and queue, at
// most limit of them (the first ones in that order; limit ≤ 0: no limit), and returns the
// extended slice and how many it left out. Only queues the broker has are counted.
func (b *Broker) Lags(dst []Lag, limit int) ([]Lag, int) {
	left := 0
	for _, e := range b.offsets.All() {
		if _, ok := b.topics.Get(e.Topic); !ok {
			continue
		}
		if limit > 0 && len(dst) >= limit {
			left++
			continue
		}
		lag := max(b.store.MaxOffset(e.Topic, e.QueueID)-e.Offset, 0)
		dst = append(dst, Lag{Group: e.Group, Topic: e.Topic, QueueID: e.QueueID, Lag: lag})
	}
	return dst, left
}

// Readiness errors (Ready).
var (
	ErrNotServing    = errors.New("broker: not serving yet")
	ErrNotRegistered = errors.New("broker: not registered with discovery yet")
	ErrClosing       = errors.New("broker: closing")
)

// Ready reports nil when clients can use the broker: its store is open and recovered (New
// did that), it serves (Start), it has registered with the discovery backend at least once,
// and Close has not begun. Otherwise it returns one of the readiness errors.
func (b *Broker) Ready() error {
	switch {
	case b.ready.closing.Load():
		return ErrClosing
	case !b.ready.serving.Load():
		return ErrNotServing
	case !b.ready.registered.Load():
		return ErrNotRegistered
	}
	return nil
}

// readiness holds Ready's marks.
type readiness struct {
	serving    atomic.Bool // Start ran
	registered atomic.Bool // a registration succeeded
	closing    atomic.Bool // Close began
}
