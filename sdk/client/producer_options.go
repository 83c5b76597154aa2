package client

import (
	"compress/zlib"
	"fmt"
	"time"
)

// Defaults of the producer options.
const (
	// DefaultSendRetries is the number of extra attempts of a load-balanced send (RocketMQ's
	// retryTimesWhenSendFailed): 3 attempts in all.
	DefaultSendRetries = 2
	// DefaultSendTimeout bounds one send, retries included (RocketMQ's sendMsgTimeout).
	DefaultSendTimeout = 3 * time.Second
	// DefaultRequestTimeout bounds Request when its ctx has no deadline.
	DefaultRequestTimeout = 3 * time.Second
	// DefaultCompressOver is the body size from which bodies are compressed (RocketMQ's
	// compressMsgBodyOverHowmuch).
	DefaultCompressOver = 4 << 10
	// DefaultCompressLevel is the zlib level of compressed bodies (RocketMQ's default).
	DefaultCompressLevel = 5
	// DefaultMaxMessageSize is the largest body, and the largest encoded batch (RocketMQ's
	// maxMessageSize).
	DefaultMaxMessageSize = 4 << 20
	// DefaultMaxAsyncInflight bounds the SendAsync calls in flight at once.
	DefaultMaxAsyncInflight = 1024
	// DefaultCheckWorkers is the number of goroutines of a TransactionProducer that answer the
	// brokers' transaction checks.
	DefaultCheckWorkers = 4
)

func defaultProducerConfig() producerConfig {
	return producerConfig{
		common:           defaultCommon(),
		sendRetries:      DefaultSendRetries,
		sendTimeout:      DefaultSendTimeout,
		requestTimeout:   DefaultRequestTimeout,
		compressOver:     DefaultCompressOver,
		compressLevel:    DefaultCompressLevel,
		maxMessageSize:   DefaultMaxMessageSize,
		maxAsyncInflight: DefaultMaxAsyncInflight,
		faultAvoidance:   true,
		checkWorkers:     DefaultCheckWorkers,
	}
}

// validate reports the first invalid setting.
func (c *producerConfig) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOption, fmt.Sprintf(format, a...))
	}
	switch {
	case c.sendRetries < 0:
		return bad("send retries %d is negative", c.sendRetries)
	case c.sendTimeout <= 0:
		return bad("send timeout %v is not positive", c.sendTimeout)
	case c.requestTimeout <= 0:
		return bad("request timeout %v is not positive", c.requestTimeout)
	case c.compressLevel < zlib.HuffmanOnly || c.compressLevel > zlib.BestCompression:
		return bad("compress level %d is not a zlib level (%d to %d)", c.compressLevel, zlib.HuffmanOnly, zlib.BestCompression)
	case c.maxMessageSize <= 0:
		return bad("max message size %d is not positive", c.maxMessageSize)
	case c.maxAsyncInflight <= 0:
		return bad("max async in-flight %d is not positive", c.maxAsyncInflight)
	case c.checkWorkers <= 0:
		return bad("check workers %d is not positive", c.checkWorkers)
	case c.common.callTimeout <= 0 || c.common.routeRefresh <= 0 || c.common.heartbeatInterval <= 0:
		return bad("call timeout, route refresh and heartbeat interval must be positive")
	}
	return nil
}

// producerOption is a ProducerOption that edits the producer's config.
type producerOption func(*producerConfig)

func (o producerOption) applyProducer(c *producerConfig) { o(c) }

// WithSendRetries sets how many more times a failed send is tried on another broker
// (DefaultSendRetries). Only load-balanced sends are retried: an ordered send (a QueueSelector,
// a ShardingKey) goes to its one queue once. Transport failures and the broker answers that
// mean "try elsewhere" (SYSTEM_ERROR, SYSTEM_BUSY, SERVICE_NOT_AVAILABLE, NO_PERMISSION,
// TOPIC_NOT_EXIST, …) are retried; an invalid message is not. A send that timed out may have
// been stored, so a retry can store the message twice (at-least-once, as RocketMQ).
func WithSendRetries(n int) ProducerOption {
	return producerOption(func(c *producerConfig) { c.sendRetries = n })
}

// WithSendTimeout bounds one send, all its attempts included, when the caller's ctx has no
// earlier deadline (DefaultSendTimeout). Each attempt is also bounded by the call timeout
// (WithCallTimeout).
func WithSendTimeout(d time.Duration) ProducerOption {
	return producerOption(func(c *producerConfig) { c.sendTimeout = d })
}

// WithRequestTimeout bounds Request, the send and the wait for the reply, when its ctx has no
// deadline (DefaultRequestTimeout). The bound travels with the request as its TTL.
func WithRequestTimeout(d time.Duration) ProducerOption {
	return producerOption(func(c *producerConfig) { c.requestTimeout = d })
}

// WithCompressOver sets the body size from which bodies are zlib-compressed before they are
// sent (DefaultCompressOver); size ≤ 0 turns compression off. Compressed bodies carry sysflag
// bit 0x1, which every RocketMQ consumer understands. Batches are never compressed, and a
// body is sent as is when compression does not make it smaller.
func WithCompressOver(size int) ProducerOption {
	return producerOption(func(c *producerConfig) { c.compressOver = size })
}

// WithCompressLevel sets the zlib level of compressed bodies (DefaultCompressLevel).
func WithCompressLevel(level int) ProducerOption {
	return producerOption(func(c *producerConfig) { c.compressLevel = level })
}

// WithMaxMessageSize sets the largest body, and the largest encoded batch, the producer sends
// (DefaultMaxMessageSize); larger ones fail with ErrMessageTooLarge before any network call.
// Brokers enforce their own maxMessageSize as well.
func WithMaxMessageSize(n int) ProducerOption {
	return producerOption(func(c *producerConfig) { c.maxMessageSize = n })
}

// WithMaxAsyncInflight bounds the SendAsync calls in flight at once (DefaultMaxAsyncInflight).
// When the bound is reached SendAsync blocks until a slot frees or its ctx ends.
func WithMaxAsyncInflight(n int) ProducerOption {
	return producerOption(func(c *producerConfig) { c.maxAsyncInflight = n })
}

// WithFaultAvoidance turns latency-based broker avoidance on or off (on by default), as
// RocketMQ's sendLatencyFaultEnable. When on, every send records its broker's latency, and
// load-balanced sends skip a slow broker for a penalty window:
//
//	latency  < 550 ms  ≥ 550 ms  ≥ 1 s  ≥ 2 s  ≥ 3 s  ≥ 15 s, or failed
//	penalty     0        30 s     60 s  120 s  180 s  600 s
//
// A fast send ends a broker's window at once. When every broker of a topic is in its window
// the least bad is used all the same. When off, a retry still avoids the broker that just
// failed.
func WithFaultAvoidance(on bool) ProducerOption {
	return producerOption(func(c *producerConfig) { c.faultAvoidance = on })
}

// WithAutoCreateTopic lets the producer send to topics the NameServers don't know: it then
// sends through the route of the template topic TBW102 (at most 4 queues per broker), and a
// broker with autoCreateTopicEnable creates the topic on the first message, as RocketMQ
// clients do. Off by default: a send to an unknown topic fails with an error matching both
// ErrNoRoute and ErrTopicNotExist, which catches mistyped topic names.
func WithAutoCreateTopic(on bool) ProducerOption {
	return producerOption(func(c *producerConfig) { c.autoCreateTopic = on })
}

// WithCheckWorkers sets how many goroutines of a TransactionProducer run the listener's Check
// for the brokers' transaction checks (DefaultCheckWorkers). Checks wait in a queue of
// checkQueueSize; when it is full a check is dropped, and the broker asks again later.
func WithCheckWorkers(n int) ProducerOption {
	return producerOption(func(c *producerConfig) { c.checkWorkers = n })
}

// SendOption configures one send.
type SendOption interface{ applySend(*sendConfig) }

// sendConfig holds the options of one send.
type sendConfig struct {
	selector QueueSelector
}

// SelectorOption is both a ProducerOption and a SendOption: see WithQueueSelector.
type SelectorOption struct{ sel QueueSelector }

func (o SelectorOption) applyProducer(c *producerConfig) { c.selector = o.sel }
func (o SelectorOption) applySend(c *sendConfig)         { c.selector = o.sel }

// WithQueueSelector makes sends ordered: sel picks the queue of each message among the
// topic's writable queues, and the message goes to that queue only, with no retry on another
// queue (which would break the order). Given to NewProducer it applies to every send of the
// producer; given to one send call it applies to that call (and wins over the producer's).
// Without a selector, messages with a ShardingKey go through ShardingKeySelector and the
// others are load-balanced.
func WithQueueSelector(sel QueueSelector) SelectorOption { return SelectorOption{sel: sel} }
