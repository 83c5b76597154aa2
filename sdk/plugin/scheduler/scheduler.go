// Package scheduler is the Go interface of scheduler plugins, which decide when delayed
// messages are delivered and how long a consumer's retry waits.
//
// The broker calls Schedule with batches of messages put with a delay (a DELAY level, or a
// requested delivery time from __STARTDELIVERTIME, TIMER_DELIVER_MS or TIMER_DELAY_*), and
// delivers each at the time the scheduler answers; it calls Backoff with batches of messages
// consumers sent back (CONSUMER_SEND_MSG_BACK) and redelivers each after the delay answered.
// The broker still decides when a message goes to the dead-letter queue
// (MaxReconsumeTimes), and stores the messages: a scheduler only computes times.
//
// Times are milliseconds since the epoch (int64), as in the message format; delays are
// time.Duration, carried as whole milliseconds (anything finer is truncated).
//
// Built-in schedulers implement Scheduler in process; Serve runs any implementation as an
// out-of-process plugin, and the host's gRPC client implements it again.
package scheduler

import (
	"context"
	"time"
)

// DeliverNow is the delivery time that means at once; so does any time not after now.
const DeliverNow int64 = 0

// Info describes a scheduler, answered by Init.
type Info struct {
	// Name and Version identify the implementation (for `tern plugins list`).
	Name    string
	Version string
}

// Message is what a scheduler sees of a delayed message.
type Message struct {
	Topic          string
	Properties     map[string]string
	BornTimestamp  int64 // ms since the epoch
	StoreTimestamp int64 // ms since the epoch
	// DelayLevel is the RocketMQ delay level (the DELAY property), 0 if none.
	DelayLevel int32
	// DeliverTime is the requested delivery time in ms since the epoch, 0 if none.
	DeliverTime int64
}

// Retry is a message a consumer sent back.
type Retry struct {
	Group string
	Topic string
	// ReconsumeTimes counts earlier redeliveries (0 on the first failure).
	ReconsumeTimes int32
	// MaxReconsumeTimes is the consumer's limit before the dead-letter queue.
	MaxReconsumeTimes int32
	// DelayLevel is the level the consumer asked for, 0 if it left it to the broker.
	DelayLevel int32
}

// Scheduler is implemented by scheduler plugins. Its methods are called concurrently.
type Scheduler interface {
	// Init hands the plugin its manifest config once after every start and returns what the
	// plugin is.
	Init(ctx context.Context, config map[string]any) (Info, error)
	// Schedule returns one delivery time per message, in order: ms since the epoch, or
	// DeliverNow. An error fails the whole batch.
	Schedule(ctx context.Context, msgs []Message) ([]int64, error)
	// Backoff returns one delay per retry, in order (0: redeliver at once). An error fails the
	// whole batch.
	Backoff(ctx context.Context, retries []Retry) ([]time.Duration, error)
}
