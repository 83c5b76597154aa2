// Package txchecker is the Go interface of transaction checker plugins, which resolve half
// (prepared) transactional messages whose producer did not commit or roll back in time.
//
// The broker's transaction check loop calls Check with batches of such half messages and acts
// on each Resolution: Commit delivers the message, Rollback discards it, Unknown keeps it for
// the next check, and AskProducer sends CHECK_TRANSACTION_STATE to a producer of the group,
// which is what the broker does when no checker is configured. The broker still counts
// checks (CheckTimes) and gives up after its limit.
//
// Built-in checkers implement TxChecker in process; Serve runs any implementation as an
// out-of-process plugin, and the host's gRPC client implements it again.
package txchecker

import (
	"context"
	"strconv"
)

// Info describes a checker, answered by Init.
type Info struct {
	// Name and Version identify the implementation (for `tern plugins list`).
	Name    string
	Version string
	// NeedsBody asks for message bodies in Check; without it HalfMessage.Body is nil.
	NeedsBody bool
}

// HalfMessage is what a checker sees of a half message.
type HalfMessage struct {
	Topic         string // the real topic
	ProducerGroup string
	TransactionID string
	MsgID         string
	Properties    map[string]string
	Body          []byte // only when Info.NeedsBody; the checker must not keep or modify it
	// CheckTimes counts the checks so far (TRANSACTION_CHECK_TIMES).
	CheckTimes     int32
	BornTimestamp  int64 // ms since the epoch
	StoreTimestamp int64 // ms since the epoch of the half message
}

// Resolution is what becomes of a half message. The zero value is not a resolution.
type Resolution uint8

// The resolutions. Their values are those of the wire enum tern.plugin.v1.Resolution.
const (
	// Commit delivers the message to consumers.
	Commit Resolution = 1
	// Rollback discards the message.
	Rollback Resolution = 2
	// Unknown keeps the half message; it is checked again later.
	Unknown Resolution = 3
	// AskProducer asks a producer of the group (CHECK_TRANSACTION_STATE).
	AskProducer Resolution = 4
)

// Valid reports whether r is one of the resolutions.
func (r Resolution) Valid() bool { return r >= Commit && r <= AskProducer }

func (r Resolution) String() string {
	switch r {
	case Commit:
		return "COMMIT"
	case Rollback:
		return "ROLLBACK"
	case Unknown:
		return "UNKNOWN"
	case AskProducer:
		return "ASK_PRODUCER"
	}
	return "Resolution(" + strconv.Itoa(int(r)) + ")"
}

// TxChecker is implemented by transaction checker plugins. Its methods are called
// concurrently.
type TxChecker interface {
	// Init hands the plugin its manifest config once after every start and returns what the
	// plugin is.
	Init(ctx context.Context, config map[string]any) (Info, error)
	// Check returns one valid Resolution per message, in order. An error, or an invalid
	// resolution, fails the whole batch.
	Check(ctx context.Context, msgs []HalfMessage) ([]Resolution, error)
}
