package client

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Defaults of the consumer options (RocketMQ's, unless noted).
const (
	DefaultPullBatchSize        = 32
	DefaultPendingMessages      = 1000      // per queue
	DefaultPendingBytes         = 100 << 20 // per queue
	DefaultLongPollTimeout      = 20 * time.Second
	DefaultConsumeGoroutines    = 20
	DefaultConsumeBatchSize     = 1
	DefaultMaxReconsumeTimes    = 16
	DefaultRebalanceInterval    = 20 * time.Second
	DefaultOffsetCommitInterval = 5 * time.Second
	DefaultSuspendDuration      = time.Second
	DefaultPollLimit            = 1024
)

// consumerSettings are the options both consumer kinds have.
type consumerSettings struct {
	pullBatchSize int
	consumeFrom   ConsumeFrom
	pendingMsgs   int
	pendingBytes  int64
	longPoll      time.Duration
}

// pushSettings are a PushConsumer's own options.
type pushSettings struct {
	goroutines        int
	batchSize         int
	orderly           bool
	model             MessageModel
	allocate          AllocateStrategy
	maxReconsume      int
	offsetDir         string
	rebalanceInterval time.Duration
	commitInterval    time.Duration
	suspend           time.Duration
}

// pullSettings are a PullConsumer's own options.
type pullSettings struct {
	pollLimit int
}

func defaultConsumerConfig() consumerConfig {
	return consumerConfig{
		common: defaultCommon(),
		consumerSettings: consumerSettings{
			pullBatchSize: DefaultPullBatchSize,
			consumeFrom:   ConsumeFromLastOffset,
			pendingMsgs:   DefaultPendingMessages,
			pendingBytes:  DefaultPendingBytes,
			longPoll:      DefaultLongPollTimeout,
		},
	}
}

func defaultPushConfig() pushConfig {
	return pushConfig{
		consumer: defaultConsumerConfig(),
		pushSettings: pushSettings{
			goroutines:        DefaultConsumeGoroutines,
			batchSize:         DefaultConsumeBatchSize,
			model:             Clustering,
			allocate:          AllocateAverage,
			maxReconsume:      DefaultMaxReconsumeTimes,
			rebalanceInterval: DefaultRebalanceInterval,
			commitInterval:    DefaultOffsetCommitInterval,
			suspend:           DefaultSuspendDuration,
		},
	}
}

func defaultPullConfig() pullConfig {
	return pullConfig{consumer: defaultConsumerConfig(), pullSettings: pullSettings{pollLimit: DefaultPollLimit}}
}

// validate reports the first invalid consumer setting.
func (c *consumerConfig) validate() error {
	switch {
	case c.pullBatchSize <= 0 || c.pullBatchSize > 1024:
		return fmt.Errorf("%w: pull batch size %d not in 1..1024", ErrInvalidOption, c.pullBatchSize)
	case c.pendingMsgs <= 0 || c.pendingBytes <= 0:
		return fmt.Errorf("%w: pending limits %d messages / %d bytes must be positive", ErrInvalidOption, c.pendingMsgs, c.pendingBytes)
	case c.longPoll <= 0 || c.longPoll > 25*time.Second:
		return fmt.Errorf("%w: long-poll timeout %v not in (0, 25s]", ErrInvalidOption, c.longPoll)
	case c.consumeFrom < ConsumeFromFirstOffset:
		return fmt.Errorf("%w: consume-from %d", ErrInvalidOption, c.consumeFrom)
	}
	return nil
}

// validate reports the first invalid push setting and fills the offset directory.
func (c *pushConfig) validate() error {
	if err := c.consumer.validate(); err != nil {
		return err
	}
	switch {
	case c.goroutines <= 0 || c.batchSize <= 0:
		return fmt.Errorf("%w: consume goroutines %d and batch size %d must be positive", ErrInvalidOption, c.goroutines, c.batchSize)
	case c.allocate == nil:
		return fmt.Errorf("%w: nil allocate strategy", ErrInvalidOption)
	case c.maxReconsume < 0:
		return fmt.Errorf("%w: max reconsume times %d is negative", ErrInvalidOption, c.maxReconsume)
	case c.rebalanceInterval <= 0 || c.commitInterval <= 0 || c.suspend <= 0:
		return fmt.Errorf("%w: rebalance interval %v, commit interval %v and suspend duration %v must be positive",
			ErrInvalidOption, c.rebalanceInterval, c.commitInterval, c.suspend)
	case c.model != Clustering && c.model != Broadcasting:
		return fmt.Errorf("%w: message model %d", ErrInvalidOption, c.model)
	}
	if c.model == Broadcasting && c.offsetDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("%w: no offset store directory (WithOffsetStoreDir): %w", ErrInvalidOption, err)
		}
		c.offsetDir = filepath.Join(dir, "tern", "offsets")
	}
	return nil
}

func (c *pullConfig) validate() error {
	if err := c.consumer.validate(); err != nil {
		return err
	}
	if c.pollLimit <= 0 {
		return fmt.Errorf("%w: poll limit %d must be positive", ErrInvalidOption, c.pollLimit)
	}
	return nil
}

// consumerOption is a ConsumerOption: it edits the settings both consumer kinds have.
type consumerOption func(*consumerConfig)

func (o consumerOption) applyPush(c *pushConfig) { o(&c.consumer) }
func (o consumerOption) applyPull(c *pullConfig) { o(&c.consumer) }

// pushOption is a PushConsumerOption.
type pushOption func(*pushConfig)

func (o pushOption) applyPush(c *pushConfig) { o(c) }

// pullOption is a PullConsumerOption.
type pullOption func(*pullConfig)

func (o pullOption) applyPull(c *pullConfig) { o(c) }

// WithPullBatchSize sets how many messages one pull asks a broker for (DefaultPullBatchSize,
// at most 1024; brokers cap it further by size).
func WithPullBatchSize(n int) ConsumerOption {
	return consumerOption(func(c *consumerConfig) { c.pullBatchSize = n })
}

// WithConsumeFrom sets where a consumer group starts on a queue it has no committed offset for
// (default ConsumeFromLastOffset). It does not apply to queues with a committed offset.
func WithConsumeFrom(from ConsumeFrom) ConsumerOption {
	return consumerOption(func(c *consumerConfig) { c.consumeFrom = from })
}

// WithPendingLimits bounds, per queue, the messages pulled but not yet acknowledged (push) or
// not yet returned by Poll (pull), in count and body bytes (DefaultPendingMessages,
// DefaultPendingBytes). A queue over either limit is not pulled until it drains, so at most one
// pull batch more than the limit is ever pending.
func WithPendingLimits(messages int, bytes int64) ConsumerOption {
	return consumerOption(func(c *consumerConfig) { c.pendingMsgs, c.pendingBytes = messages, bytes })
}

// WithLongPollTimeout sets how long a broker may hold a pull that finds no message
// (DefaultLongPollTimeout, at most 25 s).
func WithLongPollTimeout(d time.Duration) ConsumerOption {
	return consumerOption(func(c *consumerConfig) { c.longPoll = d })
}

// WithConsumeGoroutines sets how many handler calls may run at once (DefaultConsumeGoroutines).
// Concurrent consumers run that many goroutines; orderly consumers run one goroutine per
// queue, at most this many of them inside the handler at a time.
func WithConsumeGoroutines(n int) PushConsumerOption {
	return pushOption(func(c *pushConfig) { c.goroutines = n })
}

// WithConsumeBatchSize sets the most messages one handler call receives
// (DefaultConsumeBatchSize). A batch holds messages of one queue only.
func WithConsumeBatchSize(n int) PushConsumerOption {
	return pushOption(func(c *pushConfig) { c.batchSize = n })
}

// WithOrderly makes the consumer orderly: each queue is consumed by one goroutine, in queue
// order, while the consumer holds the queue's lock on its broker (clustering).
func WithOrderly(orderly bool) PushConsumerOption {
	return pushOption(func(c *pushConfig) { c.orderly = orderly })
}

// WithMessageModel sets how the group shares messages (default Clustering).
func WithMessageModel(m MessageModel) PushConsumerOption {
	return pushOption(func(c *pushConfig) { c.model = m })
}

// WithBroadcasting is WithMessageModel(Broadcasting): every consumer of the group gets every
// message, and offsets are kept in a local file (WithOffsetStoreDir).
func WithBroadcasting() PushConsumerOption { return WithMessageModel(Broadcasting) }

// WithAllocateStrategy sets how a clustering group's queues are shared among its consumers
// (default AllocateAverage). Every consumer of a group must use the same strategy.
func WithAllocateStrategy(s AllocateStrategy) PushConsumerOption {
	return pushOption(func(c *pushConfig) { c.allocate = s })
}

// WithMaxReconsumeTimes sets how many times a message is redelivered after failures before it
// goes to the group's dead-letter topic %DLQ%<group> (DefaultMaxReconsumeTimes).
func WithMaxReconsumeTimes(n int) PushConsumerOption {
	return pushOption(func(c *pushConfig) { c.maxReconsume = n })
}

// WithOffsetStoreDir sets the directory of a broadcasting consumer's offset file
// <dir>/<group>.json (default <os.UserCacheDir()>/tern/offsets). Consumers of one group that
// share a directory share the file: give each its own directory.
func WithOffsetStoreDir(dir string) PushConsumerOption {
	return pushOption(func(c *pushConfig) { c.offsetDir = dir })
}

// WithRebalanceInterval sets how often queues are re-allocated (DefaultRebalanceInterval), on
// top of the broker's notifications that the group changed.
func WithRebalanceInterval(d time.Duration) PushConsumerOption {
	return pushOption(func(c *pushConfig) { c.rebalanceInterval = d })
}

// WithOffsetCommitInterval sets how often consumed offsets are committed to the brokers, or
// written to the offset file when broadcasting (DefaultOffsetCommitInterval). Offsets are also
// committed when a queue is re-allocated and at Close.
func WithOffsetCommitInterval(d time.Duration) PushConsumerOption {
	return pushOption(func(c *pushConfig) { c.commitInterval = d })
}

// WithSuspendDuration sets how long an orderly consumer waits before redelivering the messages
// a handler answered SuspendCurrentQueue (or an error) for (DefaultSuspendDuration).
func WithSuspendDuration(d time.Duration) PushConsumerOption {
	return pushOption(func(c *pushConfig) { c.suspend = d })
}

// WithPollLimit sets the most messages one PullConsumer.Poll returns (DefaultPollLimit).
func WithPollLimit(n int) PullConsumerOption {
	return pullOption(func(c *pullConfig) { c.pollLimit = n })
}
