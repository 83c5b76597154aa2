package protocol

// Permission bits of a topic or queue set (wire format, never change). A normal topic has
// PermRead|PermWrite (6); TBW102 also has PermInherit (7).
const (
	PermPriority int32 = 8
	PermRead     int32 = 4
	PermWrite    int32 = 2
	PermInherit  int32 = 1
)

// IsReadable reports whether perm has the read bit.
func IsReadable(perm int32) bool { return perm&PermRead != 0 }

// IsWriteable reports whether perm has the write bit.
func IsWriteable(perm int32) bool { return perm&PermWrite != 0 }

// IsInherited reports whether perm has the inherit bit (a template for auto-created topics).
func IsInherited(perm int32) bool { return perm&PermInherit != 0 }

// MasterID is the broker id of a master; slaves have ids > 0.
const MasterID int64 = 0

// TopicFilterType is a topic's tag layout (TopicConfig.topicFilterType).
type TopicFilterType string

// Topic filter types.
const (
	SingleTag TopicFilterType = "SINGLE_TAG"
	MultiTag  TopicFilterType = "MULTI_TAG"
)

// Topic system flags (TopicConfig.topicSysFlag, QueueData.topicSysFlag).
const (
	TopicSysFlagUnit    int32 = 1 << 0
	TopicSysFlagUnitSub int32 = 1 << 1
)

// MessageModel is how a consumer group shares messages.
type MessageModel string

// Message models.
const (
	Clustering   MessageModel = "CLUSTERING"
	Broadcasting MessageModel = "BROADCASTING"
)

// ConsumeType is how a consumer fetches: a pull consumer consumes actively, a push consumer
// passively.
type ConsumeType string

// Consume types.
const (
	ConsumeActively  ConsumeType = "CONSUME_ACTIVELY"
	ConsumePassively ConsumeType = "CONSUME_PASSIVELY"
)

// ConsumeFromWhere is where a consumer group without a committed offset starts (§6.5).
type ConsumeFromWhere string

// Where consumption starts. The last three are deprecated Java values, kept so that old
// clients' heartbeats decode.
const (
	ConsumeFromLastOffset                        ConsumeFromWhere = "CONSUME_FROM_LAST_OFFSET"
	ConsumeFromFirstOffset                       ConsumeFromWhere = "CONSUME_FROM_FIRST_OFFSET"
	ConsumeFromTimestamp                         ConsumeFromWhere = "CONSUME_FROM_TIMESTAMP"
	ConsumeFromLastOffsetAndFromMinWhenBootFirst ConsumeFromWhere = "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST"
	ConsumeFromMinOffset                         ConsumeFromWhere = "CONSUME_FROM_MIN_OFFSET"
	ConsumeFromMaxOffset                         ConsumeFromWhere = "CONSUME_FROM_MAX_OFFSET"
)

// Subscription expression types. CEL is a Tern extension; RocketMQ 4.x knows TAG and SQL92.
const (
	ExpressionTag   = "TAG"
	ExpressionSQL92 = "SQL92"
	ExpressionCEL   = "CEL"
)

// SubAll is the tag expression that matches every message.
const SubAll = "*"

// Pull request sysFlag bits (PULL_MESSAGE header sysFlag).
const (
	PullFlagCommitOffset int32 = 1 << 0 // store commitOffset for the group
	PullFlagSuspend      int32 = 1 << 1 // long-poll when nothing is found
	PullFlagSubscription int32 = 1 << 2 // subscription/expressionType in the header apply
	PullFlagClassFilter  int32 = 1 << 3
	PullFlagLitePull     int32 = 1 << 4
)

// END_TRANSACTION commitOrRollback values (the transaction bits of a record's sysFlag).
const (
	TransactionNotType  int32 = 0  // unknown: wait for a check
	TransactionCommit   int32 = 8  // 0x8
	TransactionRollback int32 = 12 // 0xC
)

// Response extFields the Java broker adds to every send response.
const (
	FieldMsgRegion = "MSG_REGION"
	FieldTraceOn   = "TRACE_ON"
)

// DefaultRegion is the Java broker's default MSG_REGION.
const DefaultRegion = "DefaultRegion"
