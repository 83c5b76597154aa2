package ha

import (
	"errors"
	"fmt"
)

// Errors of the package. The refusal ones travel in a refusal's code (refusalCodes) and come
// back wrapped, with the master's reason, from the slave's connection attempt.
var (
	// ErrNoReplica: no slave is in sync, so a write cannot be replicated (RocketMQ
	// SLAVE_NOT_AVAILABLE).
	ErrNoReplica = errors.New("ha: no slave in sync")
	// ErrReplicaTimeout: no slave acknowledged the write before the context ended (RocketMQ
	// FLUSH_SLAVE_TIMEOUT). The write stays in the master's log.
	ErrReplicaTimeout = errors.New("ha: replication timed out")
	// ErrFenced: a replica showed a higher epoch than this master's; the master is deposed and
	// must stop accepting writes.
	ErrFenced = errors.New("ha: fenced by a higher epoch")
	// ErrClosed: the Master is closed.
	ErrClosed = errors.New("ha: closed")
	// ErrWrongBroker: the slave belongs to another broker name.
	ErrWrongBroker = errors.New("ha: slave of another broker")
	// ErrSegmentSize: master and slave have different CommitLog segment sizes.
	ErrSegmentSize = errors.New("ha: commitlog segment size mismatch")
	// ErrBadHello: the master could not decode the slave's hello.
	ErrBadHello = errors.New("ha: bad hello")
	// ErrRefused: the master refused the slave for a reason this version does not know.
	ErrRefused = errors.New("ha: refused")
	// ErrStaleEpoch: the master's epoch is below the slave's last epoch; the slave does not
	// follow it.
	ErrStaleEpoch = errors.New("ha: master epoch below ours")
	// ErrProtocol: a peer sent something malformed or out of order; the connection is closed.
	ErrProtocol = errors.New("ha: protocol error")
	// ErrEpochOrder: Epochs.Begin was given an epoch below the last one, or a start offset below
	// the last entry's.
	ErrEpochOrder = errors.New("ha: epoch out of order")
)

// refusalCodes is the one table of refusal codes (wire format, never change): encodeRefusal
// looks errors up in it and refusalError maps codes back.
var refusalCodes = [...]struct {
	code byte
	err  error
}{
	{1, ErrWrongBroker},
	{2, ErrSegmentSize},
	{3, ErrFenced},
	{4, ErrBadHello},
	{5, ErrClosed},
}

// refusalCode returns the code of err, or 0 when err matches no table entry.
func refusalCode(err error) byte {
	for _, c := range refusalCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return 0
}

// refusalError returns the error a refusal with code and reason stands for.
func refusalError(code byte, reason string) error {
	for _, c := range refusalCodes {
		if c.code == code {
			return fmt.Errorf("%w (master says: %s)", c.err, reason)
		}
	}
	return fmt.Errorf("%w: code %d (master says: %s)", ErrRefused, code, reason)
}

// protoErr returns an ErrProtocol with details.
func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}
