// Package timer is the built-in scheduler "timer": every delayed message is delivered at the
// time it asks for, to the millisecond, through the broker's timing wheel (core/broker/timer).
// A requested time (TIMER_DELIVER_MS, TIMER_DELAY_SEC, TIMER_DELAY_MS or __STARTDELIVERTIME)
// is kept as it is; a DELAY level becomes the level's delay after the message was stored; a
// consumer's retry waits the delay of level 3 + its earlier redeliveries, as in RocketMQ.
//
// It decides like the built-in "levels" scheduler; the difference is where the broker parks
// the messages. With "levels" as the default scheduler, DELAY levels wait in
// SCHEDULE_TOPIC_XXXX's per-level queues, as RocketMQ 4 does; with "timer" they wait in the
// timing wheel with everything else. Requested times always use the wheel.
//
// Config: messageDelayLevel, as for levels.
package timer

import (
	"context"
	"time"

	"github.com/ternmq/tern/schedulers/levels"
	"github.com/ternmq/tern/sdk/plugin/scheduler"
)

// Name and Version identify the built-in.
const (
	Name    = "timer"
	Version = "1.0.0"
)

// Timer implements scheduler.Scheduler. It is safe for concurrent use.
type Timer struct {
	l *levels.Levels
}

var _ scheduler.Scheduler = (*Timer)(nil)

// New returns the scheduler with RocketMQ's default levels.
func New() *Timer { return &Timer{l: levels.New()} }

// Init reads messageDelayLevel from config.
func (t *Timer) Init(ctx context.Context, config map[string]any) (scheduler.Info, error) {
	if _, err := t.l.Init(ctx, config); err != nil {
		return scheduler.Info{}, err
	}
	return scheduler.Info{Name: Name, Version: Version}, nil
}

// Schedule delivers each message at its requested time, else its level's delay after it was
// stored, else at once.
func (t *Timer) Schedule(ctx context.Context, msgs []scheduler.Message) ([]int64, error) {
	return t.l.Schedule(ctx, msgs)
}

// Backoff waits the delay of the level the consumer asked for, else of level 3 + the earlier
// redeliveries.
func (t *Timer) Backoff(ctx context.Context, retries []scheduler.Retry) ([]time.Duration, error) {
	return t.l.Backoff(ctx, retries)
}
