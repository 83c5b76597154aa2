package broker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ternmq/tern/core/broker/timer"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/sdk/plugin/scheduler"
)

// Scheduler is a scheduler plugin as the broker uses it (the plugin host's SchedulerPlugin):
// it decides when delayed messages and consumer retries are delivered. Schedule and Backoff
// answer nil results and no error when the plugin failed open (the broker's default applies),
// and an error when it failed closed (the broker holds the messages and asks again).
type Scheduler interface {
	Name() string
	Builtin() string  // "" for an external plugin
	Topics() []string // the topics it decides for; none: a default scheduler
	Decides(topic string) bool
	Schedule(ctx context.Context, msgs []scheduler.Message) ([]int64, error)
	Backoff(ctx context.Context, retries []scheduler.Retry) ([]time.Duration, error)
}

// SchedulersOf adapts a list of a concrete scheduler type (the plugin host's Schedulers) to
// Config.Schedulers.
func SchedulersOf[S Scheduler](ss []S) []Scheduler {
	out := make([]Scheduler, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// The routing of delayed messages, in one place:
//
//   - a message to a topic that a scheduler's topics: list names is decided by that scheduler,
//     delayed or not, and waits in the timing wheel;
//   - otherwise a message with a requested time (TIMER_DELIVER_MS, TIMER_DELAY_SEC,
//     TIMER_DELAY_MS, __STARTDELIVERTIME) or a DELAY level is decided by the default scheduler
//     (the first one without topics) and waits in the timing wheel, except that DELAY levels
//     decided by the built-in levels scheduler (the default manifest's, or no scheduler at all)
//     wait in SCHEDULE_TOPIC_XXXX's level queues, as in RocketMQ;
//   - a consumer retry waits the Backoff of the scheduler of its original topic, or of the
//     default scheduler; with the built-in levels (or none) it is a DELAY level, RocketMQ's
//     3 + reconsume times.

// routed returns the scheduler whose topics name topic.
func (b *Broker) routed(topic string) Scheduler {
	for _, s := range b.cfg.Schedulers {
		if s.Decides(topic) {
			return s
		}
	}
	return nil
}

// defaultScheduler returns the first scheduler without topics, nil if none.
func (b *Broker) defaultScheduler() Scheduler {
	for _, s := range b.cfg.Schedulers {
		if len(s.Topics()) == 0 {
			return s
		}
	}
	return nil
}

// schedulerFor returns the scheduler that decides for topic (nil: the built-in rules).
func (b *Broker) schedulerFor(topic string) Scheduler {
	if s := b.routed(topic); s != nil {
		return s
	}
	return b.defaultScheduler()
}

// levelQueues reports whether DELAY levels decided by s wait in the level queues.
func levelQueues(s Scheduler) bool { return s == nil || s.Builtin() == "levels" }

// park turns a record that must wait (see the routing above) into a waiting one, in the level
// queues or the timer's inbox, and reports whether it did. Errors are the producer's.
func (b *Broker) park(r *message.Record) (bool, error) {
	tx := message.TxType(r.SysFlag)
	if tx != message.TxNotType && tx != message.TxCommit {
		return false, nil
	}
	now := b.now().UnixMilli()
	asks, err := timer.Scan([]byte(r.Properties), now)
	if err != nil {
		return false, err
	}
	at, timed := asks.At, asks.Timed
	if horizon := b.timer.Horizon(); timed && at > now+horizon.Milliseconds() {
		return false, fmt.Errorf("the delivery time %s is more than timerMaxDelaySec (%v) ahead", time.UnixMilli(at).UTC().Format(time.RFC3339), horizon)
	}
	level := 0
	if asks.Level != nil {
		if level, err = strconv.Atoi(string(asks.Level)); err != nil {
			return false, fmt.Errorf("DELAY property %q is not a level number", asks.Level)
		}
	}
	routed := b.routed(r.Topic)
	switch {
	case routed != nil, timed:
	case level > 0 && levelQueues(b.defaultScheduler()):
		return b.levels.Rewrite(r)
	case level > 0:
	default:
		return false, nil
	}
	return true, b.toInbox(r, 0)
}

// toInbox moves a record to the timer's inbox, with at as its decided delivery time (0: the
// scheduler decides when the timer reads it). The record keeps a UNIQ_KEY, which cancelling
// and the timer's crash recovery find it by.
func (b *Broker) toInbox(r *message.Record, at int64) error {
	var set []string
	if _, ok := message.Property([]byte(r.Properties), message.PropertyUniqKey); !ok {
		set = append(set, message.PropertyUniqKey, b.uniqIDs.Next())
	}
	if at > 0 {
		set = append(set, timer.PropertyAt, strconv.FormatInt(at, 10))
	}
	return message.Park(r, timer.Topic, 0, []string{timer.PropertyAt}, set...)
}

// decide is the timer's DecideFunc: each inbox message's scheduler decides, in one batch per
// scheduler; a scheduler that failed open, or none, leaves the broker's default.
func (b *Broker) decide(ctx context.Context, msgs []timer.Message) ([]int64, error) {
	out := make([]int64, len(msgs))
	groups := map[Scheduler][]int{}
	for i, m := range msgs {
		out[i] = b.defaultTime(m)
		if s := b.schedulerFor(m.Topic); s != nil {
			groups[s] = append(groups[s], i)
		}
	}
	for s, idx := range groups {
		batch := make([]scheduler.Message, len(idx))
		for j, i := range idx {
			m := msgs[i]
			batch[j] = scheduler.Message{Topic: m.Topic, Properties: m.Properties, BornTimestamp: m.BornTimestamp,
				StoreTimestamp: m.StoreTimestamp, DelayLevel: m.DelayLevel, DeliverTime: m.DeliverTime}
		}
		sctx, span := b.traceSchedule(ctx, s, msgs, idx)
		ats, err := s.Schedule(sctx, batch)
		traceEnd(span, err)
		if err != nil {
			return nil, fmt.Errorf("scheduler %s: %w", s.Name(), err)
		}
		for j, at := range ats { // nil when it failed open
			out[idx[j]] = at
		}
	}
	return out, nil
}

// defaultTime is the delivery time without a scheduler: the requested time, else the DELAY
// level's delay after the message was stored, else now.
func (b *Broker) defaultTime(m timer.Message) int64 {
	switch {
	case m.DeliverTime > 0:
		return m.DeliverTime
	case m.DelayLevel > 0:
		return m.StoreTimestamp + b.levelDelay(int(m.DelayLevel)).Milliseconds()
	}
	return b.now().UnixMilli()
}

// levelDelay returns a DELAY level's delay (levels past the last mean the last).
func (b *Broker) levelDelay(level int) time.Duration {
	if level <= 0 || len(b.delayLevels) == 0 {
		return 0
	}
	return b.delayLevels[min(level, len(b.delayLevels))-1]
}

// retryDelay decides how long a consumer retry waits: level > 0 is a DELAY level for the level
// queues; otherwise the delay is for the timer. The original topic's scheduler decides; the
// built-in levels (or none) give RocketMQ's level 3 + reconsume times, or the level the
// consumer asked for.
func (b *Broker) retryDelay(ctx context.Context, group, topic string, reconsumed, maxTimes, asked int32) (level int, d time.Duration) {
	s := b.schedulerFor(topic)
	rocketmq := int(asked)
	if rocketmq <= 0 {
		rocketmq = retryBaseLevel + int(reconsumed)
	}
	if levelQueues(s) {
		return rocketmq, 0
	}
	ds, err := s.Backoff(ctx, []scheduler.Retry{{Group: group, Topic: topic, ReconsumeTimes: reconsumed, MaxReconsumeTimes: maxTimes, DelayLevel: asked}})
	if err != nil || len(ds) != 1 {
		if err != nil {
			b.log.Warn("scheduler backoff failed; using the delay levels", "scheduler", s.Name(), "group", group, "err", err)
		}
		return 0, b.levelDelay(rocketmq)
	}
	return 0, max(ds[0], 0)
}

// cancelTimer serves a send carrying TIMER_DEL_UNIQKEY: it cancels the scheduled message of
// the topic with that id ("TOPIC+ID", RocketMQ 5's form, or just the id) instead of storing
// anything.
func (b *Broker) cancelTimer(ctx context.Context, req *remoting.Command, topic string, key []byte) *remoting.Command {
	id := string(key)
	if t, rest, ok := strings.Cut(id, "+"); ok {
		if t != topic {
			return remoting.ErrorResponse(req, fmt.Errorf("%w: %s names topic %s, the send is to %s", remoting.ErrMessageIllegal, timer.PropertyDelUniqKey, t, topic))
		}
		id = rest
	}
	switch err := b.timer.Cancel(ctx, topic, id); {
	case errors.Is(err, timer.ErrNotFound), errors.Is(err, timer.ErrDelivered):
		return remoting.NewResponse(req, int16(remoting.QueryNotFound), err.Error())
	case err != nil:
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
	}
	b.log.Info("scheduled message cancelled", "topic", topic, "msg_id", id)
	resp := ok(req)
	rh := protocol.SendMessageResponseHeader{MsgID: id, MsgRegion: protocol.DefaultRegion}
	resp.ExtFields = rh.Encode() // a send's answer: clients parse it as one
	return resp
}

// newUniqIDs returns the generator of the ids the broker gives timers that arrive without one.
func newUniqIDs(host netip.AddrPort, now func() time.Time) *message.UniqIDGenerator {
	return message.NewUniqIDGenerator(host.Addr(), os.Getpid(), now)
}
