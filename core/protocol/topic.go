package protocol

import (
	"fmt"
	"strings"

	"github.com/ternmq/tern/core/message"
)

// System topic names and prefixes (§6.1; wire format, never change).
const (
	// AutoCreateTopic (TBW102) is the template of topics the broker auto-creates.
	AutoCreateTopic = "TBW102"
	// ScheduleTopic holds delayed messages, one queue per delay level.
	ScheduleTopic = "SCHEDULE_TOPIC_XXXX"
	// RetryTopicPrefix + group is a consumer group's retry topic.
	RetryTopicPrefix = "%RETRY%"
	// DLQTopicPrefix + group is a consumer group's dead-letter topic.
	DLQTopicPrefix = "%DLQ%"
	// TransHalfTopic holds prepared (half) transaction messages.
	TransHalfTopic = "RMQ_SYS_TRANS_HALF_TOPIC"
	// TransOpHalfTopic records commits and rollbacks of half messages.
	TransOpHalfTopic = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	// TransCheckMaxTimeTopic receives half messages checked too often.
	TransCheckMaxTimeTopic = "TRANS_CHECK_MAX_TIME_TOPIC"
	// TraceTopic is the default message-trace topic.
	TraceTopic = "RMQ_SYS_TRACE_TOPIC"
	// SelfTestTopic is used by broker self tests.
	SelfTestTopic = "SELF_TEST_TOPIC"
	// OffsetMovedEvent records consumer offset corrections.
	OffsetMovedEvent = "OFFSET_MOVED_EVENT"
	// BenchmarkTopic is the benchmark tool's topic.
	BenchmarkTopic = "BenchmarkTest"
	// ReplyTopicSuffix: <cluster>_REPLY_TOPIC carries request/reply replies.
	ReplyTopicSuffix = "_REPLY_TOPIC"
	// SysTopicPrefix marks system topics (custom trace topics are rmq_sys_TRACE_DATA_*).
	SysTopicPrefix = "rmq_sys_"
	// TraceDataTopicPrefix prefixes custom trace topics.
	TraceDataTopicPrefix = "rmq_sys_TRACE_DATA_"
)

// MaxTopicLen is the longest topic name (the record stores its length in a signed byte).
const MaxTopicLen = 127

// RetryTopic returns the retry topic of a consumer group.
func RetryTopic(group string) string { return RetryTopicPrefix + group }

// DLQTopic returns the dead-letter topic of a consumer group.
func DLQTopic(group string) string { return DLQTopicPrefix + group }

// ReplyTopic returns the request/reply topic of a cluster.
func ReplyTopic(cluster string) string { return cluster + ReplyTopicSuffix }

// IsRetryTopic reports whether topic is a %RETRY% topic.
func IsRetryTopic(topic string) bool { return strings.HasPrefix(topic, RetryTopicPrefix) }

// IsDLQTopic reports whether topic is a %DLQ% topic.
func IsDLQTopic(topic string) bool { return strings.HasPrefix(topic, DLQTopicPrefix) }

// GroupOfRetryTopic returns the group of a %RETRY% or %DLQ% topic, or "" for other topics.
func GroupOfRetryTopic(topic string) string {
	if g, ok := strings.CutPrefix(topic, RetryTopicPrefix); ok {
		return g
	}
	if g, ok := strings.CutPrefix(topic, DLQTopicPrefix); ok {
		return g
	}
	return ""
}

// IsSystemTopic reports whether topic is one of RocketMQ's system topics (Java's
// TopicValidator.isSystemTopic): the fixed names above, any rmq_sys_ topic, and
// <cluster>_REPLY_TOPIC. Retry and DLQ topics are not system topics; the broker's own cluster
// and broker names, which Java also registers as topics, are up to the broker.
func IsSystemTopic(topic string) bool {
	switch topic {
	case AutoCreateTopic, BenchmarkTopic, TransHalfTopic, TransOpHalfTopic, TransCheckMaxTimeTopic,
		ScheduleTopic, OffsetMovedEvent, SelfTestTopic, TraceTopic:
		return true
	}
	return strings.HasPrefix(topic, SysTopicPrefix) || strings.HasSuffix(topic, ReplyTopicSuffix)
}

// IsNotAllowedSendTopic reports whether producers may not send to topic directly (Java's
// TopicValidator.isNotAllowedSendTopic): the broker-internal schedule, transaction and
// offset-moved topics.
func IsNotAllowedSendTopic(topic string) bool {
	switch topic {
	case ScheduleTopic, TransHalfTopic, TransOpHalfTopic, TransCheckMaxTimeTopic, OffsetMovedEvent:
		return true
	}
	return false
}

// ValidateTopic checks a topic name as the Java broker does: not empty, at most MaxTopicLen
// bytes, only [%|a-zA-Z0-9_-].
func ValidateTopic(topic string) error {
	if err := message.ValidateTopic(topic); err != nil {
		return fmt.Errorf("protocol: %w", err)
	}
	return nil
}
