// Command businesshours-scheduler is an example Tern scheduler plugin: it holds delayed
// messages, and the retries of consumers, until the next business-hours window of its config
// (Monday to Friday, 09:00-17:00 in a time zone, minus holidays). See README.md for the config
// and for how to install it.
//
// The binary is started by the broker (plugins of kind scheduler in the manifest), never by
// hand. It carries its own time zone data, so the host needs none.
package main

import (
	"context"
	"sync/atomic"
	"time"
	_ "time/tzdata" // zone data built in: the plugin's environment may have none

	"github.com/ternmq/tern/sdk/plugin/scheduler"
)

// Name and Version identify the plugin in Init's answer.
const (
	Name    = "businesshours"
	Version = "1.0.0"
)

// retryBaseLevel is the delay level of a consumer's first retry (RocketMQ: 3 + reconsume times).
const retryBaseLevel = 3

func main() {
	scheduler.Serve(newScheduler(time.Now))
}

// businessHours implements scheduler.Scheduler. Its methods are safe for concurrent use.
type businessHours struct {
	now   func() time.Time      // the clock Backoff counts from
	hours atomic.Pointer[hours] // the windows; replaced as a whole by Init
}

var _ scheduler.Scheduler = (*businessHours)(nil)

// newScheduler returns the scheduler with the default windows (Init may change them); now is
// its clock, time.Now outside tests.
func newScheduler(now func() time.Time) *businessHours {
	b := &businessHours{now: now}
	b.hours.Store(defaultHours())
	return b
}

// Init reads the config: timezone, days, open, close and holidays (see README.md). Anything
// wrong, or an unknown key, is an error wrapping plugin.ErrInvalidArgument.
func (b *businessHours) Init(ctx context.Context, config map[string]any) (scheduler.Info, error) {
	if err := ctx.Err(); err != nil {
		return scheduler.Info{}, err
	}
	h, err := parseConfig(config)
	if err != nil {
		return scheduler.Info{}, err
	}
	b.hours.Store(h)
	return scheduler.Info{Name: Name, Version: Version}, nil
}

// Schedule delivers each message at the first business-hours instant at or after the time it
// asks for: its delivery time, else its store time plus its delay level's delay, else its
// store time. A time inside a window is kept as it is.
func (b *businessHours) Schedule(ctx context.Context, msgs []scheduler.Message) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h := b.hours.Load()
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = h.next(time.UnixMilli(requested(m))).UnixMilli()
	}
	return out, nil
}

// requested returns when m asks to be delivered, in ms since the epoch.
func requested(m scheduler.Message) int64 {
	switch {
	case m.DeliverTime > 0:
		return m.DeliverTime
	case m.DelayLevel > 0:
		return m.StoreTimestamp + levelDelay(m.DelayLevel).Milliseconds()
	}
	return m.StoreTimestamp
}

// Backoff waits RocketMQ's retry delay (the level the consumer asked for, else level 3 + the
// earlier redeliveries), then longer if that would redeliver outside business hours: the
// answer is the delay from now to the first business-hours instant at or after now + delay.
func (b *businessHours) Backoff(ctx context.Context, retries []scheduler.Retry) ([]time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h := b.hours.Load()
	now := time.UnixMilli(b.now().UnixMilli()) // whole ms, as delays travel to the broker
	out := make([]time.Duration, len(retries))
	for i, r := range retries {
		level := r.DelayLevel
		if level <= 0 {
			level = retryBaseLevel + r.ReconsumeTimes
		}
		out[i] = h.next(now.Add(levelDelay(level))).Sub(now)
	}
	return out, nil
}

// levelDelay returns the delay of a level of RocketMQ's default messageDelayLevel, "1s 5s 10s
// 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h". Levels past the last mean the last, levels
// below 1 the first.
func levelDelay(level int32) time.Duration {
	const s, m, h = time.Second, time.Minute, time.Hour
	delays := [...]time.Duration{
		1 * s, 5 * s, 10 * s, 30 * s, 1 * m, 2 * m, 3 * m, 4 * m, 5 * m,
		6 * m, 7 * m, 8 * m, 9 * m, 10 * m, 20 * m, 30 * m, 1 * h, 2 * h,
	}
	return delays[min(max(level, 1), int32(len(delays)))-1]
}
