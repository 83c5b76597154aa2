// Package levels is the built-in scheduler "levels": RocketMQ's delay levels. A message put
// with delay level L (the DELAY property) is delivered the level's delay after it was stored;
// a message with a requested delivery time (TIMER_DELIVER_MS and the like) at that time. A
// consumer's retry waits the delay of level 3 + the number of earlier redeliveries, as RocketMQ
// does, or of the level the consumer asked for; levels past the last mean the last.
//
// Config: messageDelayLevel, a string of delays in RocketMQ's form ("1s 5s 10s 30s 1m …",
// default RocketMQ's 18 levels).
package levels

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ternmq/tern/core/broker/schedule"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/scheduler"
)

// Name and Version identify the built-in.
const (
	Name    = "levels"
	Version = "1.0.0"
)

// retryBaseLevel is the level of a consumer's first retry (RocketMQ: 3 + reconsume times).
const retryBaseLevel = 3

// Levels implements scheduler.Scheduler. It is safe for concurrent use.
type Levels struct {
	levels atomic.Pointer[[]time.Duration]
}

var _ scheduler.Scheduler = (*Levels)(nil)

// New returns the scheduler with RocketMQ's default levels (Init may change them).
func New() *Levels {
	l := &Levels{}
	d, _ := schedule.ParseLevels(schedule.DefaultLevels)
	l.levels.Store(&d)
	return l
}

// Init reads messageDelayLevel from config.
func (l *Levels) Init(_ context.Context, config map[string]any) (scheduler.Info, error) {
	if v, ok := config["messageDelayLevel"]; ok {
		s, ok := v.(string)
		if !ok {
			return scheduler.Info{}, fmt.Errorf("%w: levels: messageDelayLevel must be a string, got %T", plugin.ErrInvalidArgument, v)
		}
		d, err := schedule.ParseLevels(s)
		if err != nil {
			return scheduler.Info{}, fmt.Errorf("%w: levels: %v", plugin.ErrInvalidArgument, err)
		}
		l.levels.Store(&d)
	}
	for k := range config {
		if k != "messageDelayLevel" {
			return scheduler.Info{}, fmt.Errorf("%w: levels: unknown config key %q", plugin.ErrInvalidArgument, k)
		}
	}
	return scheduler.Info{Name: Name, Version: Version}, nil
}

// delay returns level's delay, clamping past the last level; 0 for level ≤ 0.
func (l *Levels) delay(level int32) time.Duration {
	d := *l.levels.Load()
	if level <= 0 || len(d) == 0 {
		return 0
	}
	return d[min(int(level), len(d))-1]
}

// Schedule delivers a message at its requested time, else its level's delay after it was
// stored, else at once.
func (l *Levels) Schedule(ctx context.Context, msgs []scheduler.Message) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		switch {
		case m.DeliverTime > 0:
			out[i] = m.DeliverTime
		case m.DelayLevel > 0:
			out[i] = m.StoreTimestamp + l.delay(m.DelayLevel).Milliseconds()
		default:
			out[i] = scheduler.DeliverNow
		}
	}
	return out, nil
}

// Backoff waits the delay of the level the consumer asked for, else of level 3 + the earlier
// redeliveries.
func (l *Levels) Backoff(ctx context.Context, retries []scheduler.Retry) ([]time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]time.Duration, len(retries))
	for i, r := range retries {
		level := r.DelayLevel
		if level <= 0 {
			level = retryBaseLevel + r.ReconsumeTimes
		}
		out[i] = l.delay(level)
	}
	return out, nil
}
