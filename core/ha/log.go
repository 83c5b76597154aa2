package ha

import (
	"context"
	"time"
)

// Log is what replication needs from the CommitLog; *store.Store implements it.
type Log interface {
	// ReadCommitLog returns whole records from from, at most max bytes (or one record) and never
	// across a segment end; at a segment's blank marker, the bytes to the segment end. from ==
	// CommitLogMaxOffset returns no data. The bytes alias the log until release.
	ReadCommitLog(from int64, max int) (data []byte, release func(), err error)
	// AppendReplicated appends a master's CommitLog bytes at offset, which must be the log's end
	// (an empty log accepts any segment boundary).
	AppendReplicated(offset int64, data []byte) error
	// Truncate cuts the CommitLog, ConsumeQueues and index at offset.
	Truncate(offset int64) error
	// WaitCommitLog returns once CommitLogMaxOffset > offset, or with ctx's error.
	WaitCommitLog(ctx context.Context, offset int64) error
	// CommitLogMaxOffset is the log's end.
	CommitLogMaxOffset() int64
	// CommitLogMinOffset is the log's start.
	CommitLogMinOffset() int64
	// CommitLogSegmentSize is the size of a CommitLog segment.
	CommitLogSegmentSize() int64
}

// Protocol timing (not configurable: the peers announce their periods to each other).
const (
	// handshakeTimeout bounds the hello, the answer and the start request.
	handshakeTimeout = 10 * time.Second
	// silenceSlack is added to three periods of a peer's heartbeat or report before the
	// connection is declared dead.
	silenceSlack = 2 * time.Second
)

// silenceTimeout is how long a peer that speaks every period may stay silent.
func silenceTimeout(period time.Duration) time.Duration {
	if period <= 0 {
		period = time.Second
	}
	return 3*period + silenceSlack
}
