// Package filter is the Go interface of filter plugins: given a consumer group's subscription
// (an expression type and an expression) and a batch of messages, a filter says which messages
// the group receives.
//
// The broker calls Compile when a consumer subscribes (heartbeat or pull), so a bad expression is
// refused to the client with the filter's message, and Match on the pull path with batches of
// messages that already passed the tag-hash step. A filter keeps whatever it compiled (a cache
// keyed by group, topic and expression); Match may be called for a subscription whose Compile
// happened in an earlier process of the plugin, so it compiles on a cache miss.
//
// Built-in filters implement this interface in process; Serve runs any implementation as an
// out-of-process plugin, and the host's gRPC client implements it again, so the broker cannot
// tell the two apart.
package filter

import "context"

// Info describes a filter, answered by Init.
type Info struct {
	// Name and Version identify the implementation (for `tern plugins list`).
	Name    string
	Version string
	// ExpressionTypes are the subscription expression types the filter evaluates ("CEL",
	// "SQL92"). Empty means the manifest name of the plugin, upper-cased.
	ExpressionTypes []string
	// NeedsBody asks for message bodies in Match; without it Message.Body is nil, which keeps
	// batches small on the wire.
	NeedsBody bool
	// OmitProperties says the filter never reads Message.Properties, which then stays nil
	// (Tags and Keys are always set). Properties are most of what crosses the process boundary
	// for a plugin that reads only bodies, tags or keys: such a filter should set it.
	OmitProperties bool
}

// Subscription is one consumer group's subscription to a topic.
type Subscription struct {
	Group          string
	Topic          string
	ExpressionType string
	Expression     string
}

// Message is what a filter sees of one stored message.
type Message struct {
	Topic          string
	QueueID        int32
	QueueOffset    int64
	Tags           []string          // the TAGS property, split on "||" (a message may carry several)
	Keys           []string          // the KEYS property, split on spaces
	Properties     map[string]string // nil if Info.OmitProperties
	BornTimestamp  int64             // milliseconds since the epoch
	StoreTimestamp int64             // milliseconds since the epoch
	ReconsumeTimes int32
	Body           []byte // only when Info.NeedsBody; the filter must not keep or modify it
}

// Filter is implemented by filter plugins. Its methods are called concurrently.
type Filter interface {
	// Init hands the plugin its manifest config (decoded YAML: maps, lists, strings, numbers,
	// bools) once after start and after every restart, and returns what the plugin is.
	Init(ctx context.Context, config map[string]any) (Info, error)
	// Compile checks a subscription. A bad expression returns an error wrapping
	// plugin.ErrInvalidArgument whose message says what is wrong (the compiler's message).
	Compile(ctx context.Context, sub Subscription) error
	// Match returns one result per message, in order: true if sub selects it. An error fails
	// the whole batch.
	Match(ctx context.Context, sub Subscription, msgs []Message) ([]bool, error)
}
