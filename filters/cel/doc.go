// Package cel is the built-in filter "cel": subscriptions written in CEL (expression type
// "CEL") or in RocketMQ's SQL92 (expression type "SQL92", translated by package sql92 and then
// compiled as CEL), evaluated with cel-go.
//
// # Variables
//
//	topic           string               the message's topic
//	tags            list(string)         its tags: the TAGS property split on "||"
//	keys            list(string)         its keys: the KEYS property split on spaces
//	props           map(string, string)  all its properties, system ones (TAGS, KEYS, ...) included
//	bornTimestamp   int                  milliseconds since the epoch
//	storeTimestamp  int                  milliseconds since the epoch
//	reconsumeTimes  int
//	queueId         int
//	queueOffset     int
//	body            bytes                only with needsBody: true (see below)
//
// Examples:
//
//	"TagA" in tags && "TagB" in tags          several tags, which TAG expressions cannot say
//	props.region == "eu" && int(props.amount) > 100
//	props.?region.orValue("us") == "us"      an absent property as a default
//	has(props.vip) || props["trace-id"] != "" a presence test; any key by index
//	tags.exists(t, t.startsWith("order-"))
//	string(body).contains("refund")           with needsBody: true
//
// Besides the standard library the environment has optional types (x.?f, orValue), the
// strings extension (lowerAscii, split, ...), comparisons across int, uint and double, and
// the sql.* functions of package sql92, which CEL expressions may call too.
//
// # Evaluation errors
//
// A message whose evaluation fails does not match; the rest of the batch is evaluated as usual
// and Stats counts the failures. That covers a missing key (props.nope, where has() or the
// optional form would not fail), a string int() or double() cannot parse, division by zero,
// the exceptions RocketMQ would throw in SQL92, and the runtime cost limit. Only a bad
// expression (plugin.ErrInvalidArgument) or a cancelled context fails a whole Match.
//
// # Compilation
//
// Compile type-checks an expression and refuses, with an error wrapping
// plugin.ErrInvalidArgument that carries the compiler's message: a syntax or type error; a
// result that is not bool; a reference to body without needsBody; an estimated worst-case
// cost above costBudget. The estimate assumes the largest message the store holds: a topic
// of 127 bytes, 32 KiB of properties (and as many tags, keys and entries as fit in them), a
// body of MaxBodySize.
//
// Compiled programs are cached, keyed by group, topic, expression type (in any case) and
// expression, at most cacheSize of them, least recently used first out. Refusals are cached
// too. Match compiles on a miss, so it works for subscriptions compiled before a restart.
//
// # Cost
//
// costLimit bounds the actual cost of one evaluation; past it the evaluation stops and the
// message does not match (Stats.CostLimitExceeded). Tracking the cost makes every call
// allocate, so a program whose estimated worst case is within the limit, and that does not
// read the body (whose size has no hard bound), runs without tracking: it cannot exceed it.
//
// # Configuration (Init)
//
//	costBudget  integer, default 1000000; 0: no budget
//	costLimit   integer, default 100000; 0: no limit
//	needsBody   bool, default false
//	cacheSize   integer, default 4096
//
// Init applies the keys it is given to the configuration of New (DefaultConfig, or the one of
// WithConfig) and empties the cache. An unknown key or a value of the wrong type is an
// error wrapping plugin.ErrInvalidArgument.
//
// # Concurrency
//
// A Filter is safe for concurrent use. Compile and Match load the configuration once per call
// (Init replaces it whole); the cache takes one lock per call; a Match evaluates its batch
// sequentially with one pooled activation, which presents each message without copying its
// properties, tags or keys.
package cel
