package client

import (
	"errors"

	"github.com/ternmq/tern/core/remoting"
)

// Errors answered by brokers and NameServers. A failed call returns an error that matches one of
// these with errors.Is and carries the peer's remark in its message.
var (
	ErrTopicNotExist         = remoting.ErrTopicNotExist
	ErrBrokerBusy            = remoting.ErrSystemBusy
	ErrFlushTimeout          = remoting.ErrFlushDiskTimeout
	ErrSlaveNotAvailable     = remoting.ErrSlaveNotAvailable
	ErrFlushSlaveTimeout     = remoting.ErrFlushSlaveTimeout
	ErrNoPermission          = remoting.ErrNoPermission
	ErrMessageIllegal        = remoting.ErrMessageIllegal
	ErrServiceNotAvailable   = remoting.ErrServiceNotAvailable
	ErrSubscriptionParse     = remoting.ErrSubscriptionParseFailed
	ErrSubscriptionNotExist  = remoting.ErrSubscriptionNotExist
	ErrSystemError           = remoting.ErrSystemError
	ErrRequestCodeNotSupport = remoting.ErrRequestCodeNotSupported
	ErrQueryNotFound         = remoting.ErrQueryNotFound
)

// Client-side errors.
var (
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("client: closed")
	// ErrNoNameServer: no NameServer address is configured.
	ErrNoNameServer = errors.New("client: no name server address")
	// ErrNoRoute: the NameServers know no route for the topic, or it has no queue usable for the call.
	ErrNoRoute = errors.New("client: no route")
	// ErrMessageTooLarge: a message or batch body exceeds the limit.
	ErrMessageTooLarge = errors.New("client: message too large")
	// ErrInvalidMessage: a message is not valid (empty topic or body, bad topic name, bad property).
	ErrInvalidMessage = errors.New("client: invalid message")
	// ErrInvalidOption: an option has an invalid value.
	ErrInvalidOption = errors.New("client: invalid option")
)

// brokerError turns a non-success response into an error matching the code's sentinel.
func brokerError(resp *remoting.Command) error { return remoting.ResponseErr(resp) }
