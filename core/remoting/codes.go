package remoting

import (
	"errors"
	"fmt"
)

// Request codes (wire format, never change). RocketMQ 4.x RequestCode values.
const (
	SendMessage                   int16 = 10
	PullMessage                   int16 = 11
	QueryMessage                  int16 = 12
	QueryBrokerOffset             int16 = 13
	QueryConsumerOffset           int16 = 14
	UpdateConsumerOffset          int16 = 15
	UpdateAndCreateTopic          int16 = 17
	GetAllTopicConfig             int16 = 21
	GetTopicNameList              int16 = 23
	GetBrokerConfig               int16 = 26
	GetBrokerRuntimeInfo          int16 = 28
	SearchOffsetByTimestamp       int16 = 29
	GetMaxOffset                  int16 = 30
	GetMinOffset                  int16 = 31
	GetEarliestMsgStoretime       int16 = 32
	ViewMessageByID               int16 = 33
	HeartBeat                     int16 = 34
	UnregisterClient              int16 = 35
	ConsumerSendMsgBack           int16 = 36
	EndTransaction                int16 = 37
	GetConsumerListByGroup        int16 = 38
	CheckTransactionState         int16 = 39
	NotifyConsumerIdsChanged      int16 = 40
	LockBatchMQ                   int16 = 41
	UnlockBatchMQ                 int16 = 42
	GetAllConsumerOffset          int16 = 43
	GetAllDelayOffset             int16 = 45
	CheckClientConfig             int16 = 46
	RegisterBroker                int16 = 103
	UnregisterBroker              int16 = 104
	GetRouteInfoByTopic           int16 = 105
	GetBrokerClusterInfo          int16 = 106
	UpdateAndCreateSubscription   int16 = 200
	GetAllSubscriptionGroupConfig int16 = 201
	GetTopicStatsInfo             int16 = 202
	GetConsumerConnectionList     int16 = 203
	GetProducerConnectionList     int16 = 204
	GetAllTopicListFromNameServer int16 = 206
	DeleteSubscriptionGroup       int16 = 207
	GetConsumeStats               int16 = 208
	DeleteTopicInBroker           int16 = 215
	DeleteTopicInNamesrv          int16 = 216
	RegisterTopicInNamesrv        int16 = 217
	ResetConsumerClientOffset     int16 = 220
	GetConsumerStatusFromClient   int16 = 221
	GetTopicsByCluster            int16 = 224
	QueryTopicConsumeByWho        int16 = 300
	GetConsumerRunningInfo        int16 = 307
	ConsumeMessageDirectly        int16 = 309
	SendMessageV2                 int16 = 310
	SendBatchMessage              int16 = 320
	SendReplyMessage              int16 = 324
	SendReplyMessageV2            int16 = 325
	PushReplyMessageToClient      int16 = 326
)

// Tern's own request codes (wire format, never change), numbered from 10000, well away from
// RocketMQ's; a RocketMQ broker answers them REQUEST_CODE_NOT_SUPPORTED.
const (
	// TraceMessage asks a broker for the life of a message: protocol.TraceMessageHeader in,
	// a protocol.MessageTrace JSON body out.
	TraceMessage int16 = 10001
	// HAStatus asks a broker for its replication state: a broker.HAStatus JSON body out
	// (`tern admin replicas`).
	HAStatus int16 = 10002
)

// Code is a response code. Its sentinel error (Err) lets callers use errors.Is across the wire:
// a handler returns an error wrapping a sentinel and the response carries its code; a client
// turns a response code back into the same sentinel.
type Code int16

// Response codes (wire format, never change): RocketMQ's RemotingSysResponseCode and
// ResponseCode.
const (
	Success                    Code = 0
	SystemError                Code = 1
	SystemBusy                 Code = 2
	RequestCodeNotSupported    Code = 3
	TransactionFailed          Code = 4
	FlushDiskTimeout           Code = 10
	SlaveNotAvailable          Code = 11
	FlushSlaveTimeout          Code = 12
	MessageIllegal             Code = 13
	ServiceNotAvailable        Code = 14
	VersionNotSupported        Code = 15
	NoPermission               Code = 16
	TopicNotExist              Code = 17
	TopicExistAlready          Code = 18
	PullNotFound               Code = 19
	PullRetryImmediately       Code = 20
	PullOffsetMoved            Code = 21
	QueryNotFound              Code = 22
	SubscriptionParseFailed    Code = 23
	SubscriptionNotExist       Code = 24
	SubscriptionNotLatest      Code = 25
	SubscriptionGroupNotExist  Code = 26
	FilterDataNotExist         Code = 27
	FilterDataNotLatest        Code = 28
	FlushDiskFailed            Code = 29
	TransactionShouldCommit    Code = 200
	TransactionShouldRollback  Code = 201
	TransactionStateUnknown    Code = 202
	TransactionStateGroupWrong Code = 203
	NoBuyerID                  Code = 204
	NotInCurrentUnit           Code = 205
	ConsumerNotOnline          Code = 206
	ConsumeMsgTimeout          Code = 207
	NoMessage                  Code = 208
)

// codeError is the sentinel error of a response code.
type codeError struct {
	code Code
	name string
}

func (e *codeError) Error() string { return "remoting: " + e.name }

// The one table of response codes: each code's name and sentinel.
var codeTable = map[Code]*codeError{}

func def(c Code, name string) error {
	e := &codeError{code: c, name: name}
	codeTable[c] = e
	return e
}

// Sentinel errors, one per response code. Compare with errors.Is.
var (
	ErrSystemError                = def(SystemError, "SYSTEM_ERROR")
	ErrSystemBusy                 = def(SystemBusy, "SYSTEM_BUSY")
	ErrRequestCodeNotSupported    = def(RequestCodeNotSupported, "REQUEST_CODE_NOT_SUPPORTED")
	ErrTransactionFailed          = def(TransactionFailed, "TRANSACTION_FAILED")
	ErrFlushDiskTimeout           = def(FlushDiskTimeout, "FLUSH_DISK_TIMEOUT")
	ErrSlaveNotAvailable          = def(SlaveNotAvailable, "SLAVE_NOT_AVAILABLE")
	ErrFlushSlaveTimeout          = def(FlushSlaveTimeout, "FLUSH_SLAVE_TIMEOUT")
	ErrMessageIllegal             = def(MessageIllegal, "MESSAGE_ILLEGAL")
	ErrServiceNotAvailable        = def(ServiceNotAvailable, "SERVICE_NOT_AVAILABLE")
	ErrVersionNotSupported        = def(VersionNotSupported, "VERSION_NOT_SUPPORTED")
	ErrNoPermission               = def(NoPermission, "NO_PERMISSION")
	ErrTopicNotExist              = def(TopicNotExist, "TOPIC_NOT_EXIST")
	ErrTopicExistAlready          = def(TopicExistAlready, "TOPIC_EXIST_ALREADY")
	ErrPullNotFound               = def(PullNotFound, "PULL_NOT_FOUND")
	ErrPullRetryImmediately       = def(PullRetryImmediately, "PULL_RETRY_IMMEDIATELY")
	ErrPullOffsetMoved            = def(PullOffsetMoved, "PULL_OFFSET_MOVED")
	ErrQueryNotFound              = def(QueryNotFound, "QUERY_NOT_FOUND")
	ErrSubscriptionParseFailed    = def(SubscriptionParseFailed, "SUBSCRIPTION_PARSE_FAILED")
	ErrSubscriptionNotExist       = def(SubscriptionNotExist, "SUBSCRIPTION_NOT_EXIST")
	ErrSubscriptionNotLatest      = def(SubscriptionNotLatest, "SUBSCRIPTION_NOT_LATEST")
	ErrSubscriptionGroupNotExist  = def(SubscriptionGroupNotExist, "SUBSCRIPTION_GROUP_NOT_EXIST")
	ErrFilterDataNotExist         = def(FilterDataNotExist, "FILTER_DATA_NOT_EXIST")
	ErrFilterDataNotLatest        = def(FilterDataNotLatest, "FILTER_DATA_NOT_LATEST")
	ErrFlushDiskFailed            = def(FlushDiskFailed, "FLUSH_DISK_FAILED")
	ErrTransactionShouldCommit    = def(TransactionShouldCommit, "TRANSACTION_SHOULD_COMMIT")
	ErrTransactionShouldRollback  = def(TransactionShouldRollback, "TRANSACTION_SHOULD_ROLLBACK")
	ErrTransactionStateUnknown    = def(TransactionStateUnknown, "TRANSACTION_STATE_UNKNOW")
	ErrTransactionStateGroupWrong = def(TransactionStateGroupWrong, "TRANSACTION_STATE_GROUP_WRONG")
	ErrNoBuyerID                  = def(NoBuyerID, "NO_BUYER_ID")
	ErrNotInCurrentUnit           = def(NotInCurrentUnit, "NOT_IN_CURRENT_UNIT")
	ErrConsumerNotOnline          = def(ConsumerNotOnline, "CONSUMER_NOT_ONLINE")
	ErrConsumeMsgTimeout          = def(ConsumeMsgTimeout, "CONSUME_MSG_TIMEOUT")
	ErrNoMessage                  = def(NoMessage, "NO_MESSAGE")
)

// String returns the code's RocketMQ name, or its number.
func (c Code) String() string {
	if c == Success {
		return "SUCCESS"
	}
	if e := codeTable[c]; e != nil {
		return e.name
	}
	return fmt.Sprintf("CODE_%d", int16(c))
}

// Err returns the sentinel error of a non-success code (an unknown code gets a *ResponseError
// that matches no sentinel), or nil for Success.
func (c Code) Err() error {
	if c == Success {
		return nil
	}
	if e := codeTable[c]; e != nil {
		return e
	}
	return &ResponseError{Code: c}
}

// ResponseError is a non-success response: its code and the peer's remark. It matches the
// code's sentinel with errors.Is.
type ResponseError struct {
	Code   Code
	Remark string
}

func (e *ResponseError) Error() string {
	if e.Remark == "" {
		return fmt.Sprintf("remoting: response %s", e.Code)
	}
	return fmt.Sprintf("remoting: response %s: %s", e.Code, e.Remark)
}

// Is matches the sentinel of the same code.
func (e *ResponseError) Is(target error) bool {
	ce, ok := target.(*codeError)
	return ok && ce.code == e.Code
}

// ResponseErr turns a response into an error: nil for Success, else a *ResponseError.
func ResponseErr(resp *Command) error {
	if Code(resp.Code) == Success {
		return nil
	}
	return &ResponseError{Code: Code(resp.Code), Remark: resp.Remark}
}

// CodeOf returns the response code for err: the code of the sentinel it wraps (or of a
// *ResponseError it wraps), SystemError for any other error, Success for nil.
func CodeOf(err error) Code {
	if err == nil {
		return Success
	}
	var re *ResponseError
	if errors.As(err, &re) {
		return re.Code
	}
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	return SystemError
}
