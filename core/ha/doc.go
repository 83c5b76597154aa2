// Package ha replicates a master broker's CommitLog to its slaves over a dedicated TCP port (the
// HA port), as RocketMQ 4.x's HAService does: a slave reports how far its log goes, the master
// streams CommitLog bytes from there, and the slave appends them unchanged, so both logs are
// byte-identical and each replica builds its own ConsumeQueues and index from them. On top of
// RocketMQ's design, every replica keeps an epoch history (Epochs) so that a slave that went
// astray under an old master cuts its divergent tail, and a deposed master learns that it is.
//
// # Epochs
//
// An epoch is a fencing token chosen by whoever makes a broker master: an etcd revision from the
// election, or 0 for a static master/slave pair. The history is the ordered list of
// {Epoch, StartOffset}: epoch E's data begins at StartOffset. A broker that becomes master calls
// Epochs.Begin(epoch, Log.CommitLogMaxOffset()) before NewMaster; the Master reads its epoch from
// the history (Epochs.Last, 0 for an empty history) on every handshake and frame. Data below the
// first entry belongs to no epoch and is assumed common to every replica (a history may start
// empty and get its first entry late).
//
// A slave copies the master's entries it lacks as their start offsets are reached: an entry is
// begun just before the frame whose bytes reach past its StartOffset is appended (entries that
// start at or below where the transfer starts are begun at once), so a slave's history always
// describes the data it holds, and a crash between the two leaves an entry at most one frame
// early, which the divergence rule below tolerates.
//
// # Connection
//
// The slave connects, sends a hello and reads the master's answer: a welcome or a refusal. After
// a welcome the slave truncates if it diverged (below), then sends an ack with its log end: the
// start request. The master then streams data frames from there and the slave acks them.
// Afterwards the master sends only frames and the slave only acks; either side closes the
// connection on any error, and the slave reconnects with a backoff of 100 ms doubling to 3 s.
//
// All integers are big-endian; offsets and epochs are int64 and never negative (wire format,
// never change).
//
// Hello, slave → master:
//
//	offset  size  field
//	0       8     magic           "TERNHA1\x00"
//	8       2     length          uint16: bytes after this field, 38+n..1024 (trailing bytes ignored)
//	10      2     nameLen         uint16: n, 1..255
//	12      n     brokerName
//	12+n    8     brokerId
//	20+n    8     segmentSize     the slave's CommitLog segment size, > 0
//	28+n    8     maxOffset       the slave's CommitLog end
//	36+n    8     lastEpoch       Epochs.Last().Epoch
//	44+n    4     reportMillis    uint32: how often the slave acks when idle (the master times out
//	                              a slave silent for 3×reportMillis + 2 s)
//
// Answer, master → slave:
//
//	0       4     length          uint32: bytes after this field, ≤ 1 MiB
//	4       1     kind            1 = welcome, 2 = refusal
//
// A welcome continues with
//
//	5       8     epoch           the master's epoch: the last history entry's, 0 when empty
//	13      8     minOffset       the master's CommitLog start
//	21      8     maxOffset       the master's CommitLog end, ≥ minOffset
//	29      4     heartbeatMillis uint32: the master's idle heartbeat period (the slave times out a
//	                              master silent for 3×heartbeatMillis + 2 s)
//	33      4     count           uint32: history entries, count×16 ≤ length-33 (trailing bytes ignored)
//	37      16×n  entries         epoch int64, startOffset int64; epochs strictly increasing,
//	                              start offsets non-decreasing
//
// and a refusal with
//
//	5       1     code            the refusal table below
//	6       2     reasonLen       uint16
//	8       r     reason          UTF-8 text for the logs
//
// Refusal codes (each is a sentinel error on the slave, errors.Is works across the wire):
//
//	1  ErrWrongBroker     the hello's brokerName is not the master's
//	2  ErrSegmentSize     the segment sizes differ: the logs could not be byte-identical
//	3  ErrFenced          the slave's lastEpoch is above the master's: the master is deposed
//	4  ErrBadHello        the hello is malformed
//	5  ErrClosed          the master is closing
//	other                 ErrRefused
//
// Data frame, master → slave; a heartbeat is a frame with bodyLen 0, sent when the master has
// had nothing to send for heartbeatMillis:
//
//	0       4     bodyLen         uint32, ≤ MaxFrameBody (64 MiB)
//	4       8     epoch           the master's epoch
//	12      8     offset          CommitLog offset of the body's first byte (of a heartbeat: where
//	                              the next body will start)
//	20      8     masterMax       the master's CommitLog end when the frame was sent, ≥ offset+bodyLen
//	28      n     body            CommitLog bytes: whole records, or at a segment's end the blank
//	                              marker and the rest of the segment
//
// The body is the mapped CommitLog itself: the master writes header and body with one writev and
// releases the mapping afterwards. Ack, slave → master, 16 bytes:
//
//	0       8     epoch           the slave's Epochs.Last().Epoch
//	8       8     maxOffset       the slave's CommitLog end
//
// The slave acks after applying frames, once per burst: while more bytes are already buffered
// it keeps applying, up to 256 KiB without an ack; and every reportMillis.
//
// # Where the transfer starts, and divergence
//
// With the welcome's history H and its own history S, the slave finds the last master entry
// whose epoch is ≤ its lastEpoch (F; none: the data before H's first entry) and cuts its log at
//
//	min(end of F in H, end of F in S)
//
// where the end of an epoch in a history is the StartOffset of the history's first entry with a
// higher epoch, or that replica's log end when there is none (Kafka's leader-epoch rule). If its
// log ends beyond the cut it calls Log.Truncate, and it always drops its own history entries that
// start at or beyond the cut (they describe data that is gone). Then its start request carries
// its log end.
//
// The master starts at the requested offset, except that a request of 0 or one below the
// master's minOffset starts at the beginning of the master's last segment (RocketMQ's rule for a
// new slave). A slave whose log is not empty and ends below the master's minOffset first empties
// its log (Truncate at its own minimum). An empty slave log accepts the first frame at any
// segment boundary. A start request above the master's maxOffset is a protocol error.
//
// # Fencing
//
// A hello whose lastEpoch is above the master's epoch, or an ack whose epoch is, deposes the
// master: MasterOptions.Deposed is called once with that epoch, every slave connection is closed,
// every later hello is refused with ErrFenced and WaitReplicated returns ErrFenced. A slave
// refuses (closes the connection, logs, reconnects later) a welcome or frame whose epoch is below
// its own last epoch; a frame whose epoch differs from the welcome's makes it reconnect, to
// fetch the new history.
//
// # Replication wait (RocketMQ SYNC_MASTER)
//
// Master.WaitReplicated(ctx, end) returns once a slave acked an offset ≥ end. Acks advance one
// confirm offset (the highest offset any slave acked while this Master runs, RocketMQ's
// push2SlaveMaxOffset); each advance closes one broadcast channel that every waiter below it
// selects on and replaces it, so one ack serves every producer it covers. A call when no slave is
// in sync (connected, with the master's end less than MaxGapNotInSync above its ack) fails at
// once with ErrNoReplica (SLAVE_NOT_AVAILABLE); one that outlives its ctx returns
// ErrReplicaTimeout (FLUSH_SLAVE_TIMEOUT). An ack counts whatever the slave's lag: a slave that
// acked X holds the log up to X.
//
// # Concurrency
//
// Master: Serve's accept loop runs on the caller's goroutine; each slave connection has a
// transfer goroutine (handshake, then frames) and an ack reader, both owned by the Master: Close
// closes the listener and every connection and waits for them. Master.mu guards the connection
// set and the broadcast channel and is never held while blocking or calling out.
// Slave: Run owns one connection at a time, reading frames on Run's goroutine with one ack
// writer goroutine; it returns after both stop. Slave.mu guards only the status fields.
// Callbacks (Deposed) run on a connection goroutine with no lock held and must not call Close.
package ha
