package ha

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/core/message"
)

// TestReplicationUnderLoad: several producers write records of mixed sizes (crossing many
// segment ends) while a slave follows; afterwards both CommitLogs are byte-identical and the
// ConsumeQueues serve the same messages.
func TestReplicationUnderLoad(t *testing.T) {
	m, s := newReplica(t), newReplica(t)
	master := startMaster(t, m, nil)
	slave := startSlave(t, s.st, s.epochs, fixedAddr(master.addr()))
	waitFor(t, "slave to connect", master.anyInSync)

	const producers, perProducer = 8, 150
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				seq := p*perProducer + i
				topic := fmt.Sprintf("Topic%d", p%3)
				var err error
				if i%10 == 9 { // a batch now and then
					recs := []*message.Record{newRecord(topic, int32(seq%4), seq, 500), newRecord(topic, int32(seq%4), seq+1, 700)}
					_, err = m.st.PutMessages(context.Background(), recs)
				} else {
					_, err = m.st.PutMessage(context.Background(), newRecord(topic, int32(seq%4), seq, 100+(seq*797)%9000))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	end := m.st.CommitLogMaxOffset()
	if end < 8*testSegment {
		t.Fatalf("load wrote only %d bytes", end)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := master.WaitReplicated(ctx, end); err != nil {
		t.Fatalf("WaitReplicated(%d): %v", end, err)
	}
	waitCaughtUp(t, m.st, s.st)
	sameLogs(t, m.st, s.st, 0, end)
	sameQueues(t, m.st, s.st)

	st := master.Status()
	if len(st.Slaves) != 1 || !st.Slaves[0].InSync || st.Slaves[0].AckedOffset != end || st.ConfirmOffset != end {
		t.Fatalf("master status %+v", st)
	}
	ss := slave.Status()
	if !ss.Connected || ss.Lag != 0 || ss.MasterMaxOffset != end {
		t.Fatalf("slave status %+v", ss)
	}
}

// TestWaitReplicated: ErrNoReplica without a slave, success once the slave acks, group commit
// (many waiters, few ack rounds) and ErrReplicaTimeout while the slave is stalled.
func TestWaitReplicated(t *testing.T) {
	m, s := newReplica(t), newReplica(t)
	master := startMaster(t, m, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	end := put(t, m.st, newRecord("TopicA", 0, 0, 100))
	if err := master.WaitReplicated(ctx, end); !errors.Is(err, ErrNoReplica) {
		t.Fatalf("without a slave: %v", err)
	}

	gl := &gatedLog{Log: s.st}
	defer gl.open()
	startSlave(t, gl, s.epochs, fixedAddr(master.addr()))
	waitFor(t, "slave in sync", func() bool { return master.ConfirmOffset() >= end })
	if err := master.WaitReplicated(ctx, end); err != nil {
		t.Fatal(err)
	}
	end = put(t, m.st, newRecord("TopicA", 0, 1, 100))
	if err := master.WaitReplicated(ctx, end); err != nil {
		t.Fatalf("after one put: %v", err)
	}

	// Group commit: 64 producers wait while the slave is stalled, then one release serves them.
	gl.close()
	const waiters = 64
	before := master.Status().AckAdvances
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			end := put(t, m.st, newRecord("TopicB", int32(i%4), i, 200))
			if err := master.WaitReplicated(ctx, end); err != nil {
				t.Errorf("waiter %d: %v", i, err)
				failed.Add(1)
			}
		}()
	}
	waitFor(t, "every producer to wait", func() bool { return master.waiting.Load() == waiters })
	gl.open()
	wg.Wait()
	rounds := master.Status().AckAdvances - before
	t.Logf("%d waiters served by %d ack advances", waiters, rounds)
	if failed.Load() > 0 || rounds == 0 || rounds > waiters/4 {
		t.Fatalf("%d waiters, %d failed, %d ack advances", waiters, failed.Load(), rounds)
	}

	// Stalled slave: the wait times out and the write stays.
	gl.close()
	end = put(t, m.st, newRecord("TopicA", 0, 2, 100))
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if err := master.WaitReplicated(short, end); !errors.Is(err, ErrReplicaTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled slave: %v", err)
	}
	gl.open()
	if err := master.WaitReplicated(ctx, end); err != nil {
		t.Fatalf("after the stall: %v", err)
	}
}

// TestWaitReplicatedClose: waiters blocked on a stalled slave return ErrClosed when the master
// closes.
func TestWaitReplicatedClose(t *testing.T) {
	m, s := newReplica(t), newReplica(t)
	master := startMaster(t, m, nil)
	gl := &gatedLog{Log: s.st}
	defer gl.open()
	startSlave(t, gl, s.epochs, fixedAddr(master.addr()))
	waitFor(t, "slave in sync", master.anyInSync)
	gl.close()
	end := put(t, m.st, newRecord("TopicA", 0, 0, 100))
	errc := make(chan error, 1)
	go func() { errc <- master.WaitReplicated(context.Background(), end) }()
	waitFor(t, "the waiter", func() bool { return master.waiting.Load() == 1 })
	gl.open() // lets the slave stop: Close waits for the connection
	master.Close()
	if err := <-errc; err != nil && !errors.Is(err, ErrClosed) {
		t.Fatalf("waiter got %v", err)
	}
}

// TestSlaveReconnectsAfterMasterRestart: the master closes and comes back on another port over
// the same store; the slave reconnects and continues where it stopped.
func TestSlaveReconnectsAfterMasterRestart(t *testing.T) {
	m, s := newReplica(t), newReplica(t)
	master := startMaster(t, m, nil)
	var addr atomic.Value
	addr.Store(master.addr())
	slave := startSlave(t, s.st, s.epochs, func() string { return addr.Load().(string) })
	waitFor(t, "slave to connect", master.anyInSync) // an empty slave joining later starts at the last segment
	putN(t, m.st, 300, 1000)
	waitCaughtUp(t, m.st, s.st)
	first := s.st.CommitLogMaxOffset()

	master.Close()
	addr.Store("") // no master known for a while
	waitFor(t, "slave to notice", func() bool { return !slave.Status().Connected })
	end := putN(t, m.st, 300, 1000)

	master2 := startMaster(t, m, nil)
	addr.Store(master2.addr())
	waitCaughtUp(t, m.st, s.st)
	if s.st.CommitLogMinOffset() != 0 || end <= first {
		t.Fatalf("slave log [%d,%d), first session ended at %d", s.st.CommitLogMinOffset(), s.st.CommitLogMaxOffset(), first)
	}
	sameLogs(t, m.st, s.st, 0, end)
	sameQueues(t, m.st, s.st)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := master2.WaitReplicated(ctx, end); err != nil {
		t.Fatal(err)
	}
	if st := slave.Status(); !st.Connected || st.MasterAddr != master2.addr() || st.Lag != 0 {
		t.Fatalf("slave status %+v", st)
	}
}

// TestEmptySlaveJoinsTrimmedMaster: a master whose first segments were deleted by retention
// streams an empty slave its last segment on; a slave whose log ends below the master's start
// empties its log and does the same.
func TestEmptySlaveJoinsTrimmedMaster(t *testing.T) {
	m, behind := newReplica(t), newReplica(t)
	master := startMaster(t, m, nil)
	old := startSlave(t, behind.st, behind.epochs, fixedAddr(master.addr()))
	waitFor(t, "slave to connect", master.anyInSync)
	putN(t, m.st, 100, 1000)
	waitCaughtUp(t, m.st, behind.st)
	old.stop()
	putN(t, m.st, 1500, 1000) // about 6 segments
	m.usage.Store(0.87)       // above diskSpaceCleanForciblyRatio: the oldest segments go
	res, err := m.st.Clean()
	m.usage.Store(0.1)
	m.st.Clean()
	if err != nil || res.SegmentsDeleted == 0 {
		t.Fatalf("retention: %+v, %v", res, err)
	}
	putN(t, m.st, 400, 1000) // more segments after the minimum
	masterMin, masterMax := m.st.CommitLogMinOffset(), m.st.CommitLogMaxOffset()
	lastSeg := masterMax - masterMax%testSegment
	if masterMin <= behind.st.CommitLogMaxOffset() || lastSeg == masterMin {
		t.Fatalf("retention left [%d,%d); the old slave ends at %d", masterMin, masterMax, behind.st.CommitLogMaxOffset())
	}

	empty := newReplica(t)
	for name, r := range map[string]*replica{"empty": empty, "behind": behind} {
		t.Run(name, func(t *testing.T) {
			startSlave(t, r.st, r.epochs, fixedAddr(master.addr()))
			waitCaughtUp(t, m.st, r.st)
			if got := r.st.CommitLogMinOffset(); got != lastSeg {
				t.Fatalf("slave log starts at %d, want the master's last segment %d", got, lastSeg)
			}
			sameLogs(t, m.st, r.st, lastSeg, masterMax)
			end := put(t, m.st, newRecord("TopicA", 1, 1, 100))
			waitCaughtUp(t, m.st, r.st)
			sameLogs(t, m.st, r.st, lastSeg, end)
		})
	}
}

// TestIdleHeartbeats: with nothing to send the master sends empty frames and the slave keeps
// reporting, so both sides see the other alive.
func TestIdleHeartbeats(t *testing.T) {
	m, s := newReplica(t), newReplica(t)
	end := put(t, m.st, newRecord("TopicA", 0, 0, 100))
	master := startMaster(t, m, nil)
	slave := startSlave(t, s.st, s.epochs, fixedAddr(master.addr()))
	waitCaughtUp(t, m.st, s.st)
	first := slave.Status().LastFrame
	var firstAck time.Time
	waitFor(t, "a status", func() bool {
		st := master.Status()
		if len(st.Slaves) == 1 {
			firstAck = st.Slaves[0].LastAck
		}
		return !firstAck.IsZero()
	})
	waitFor(t, "a heartbeat and a report", func() bool {
		st := master.Status()
		return slave.Status().LastFrame.After(first) && len(st.Slaves) == 1 && st.Slaves[0].LastAck.After(firstAck)
	})
	if st := slave.Status(); st.MasterMaxOffset != end || st.Lag != 0 || !st.Connected {
		t.Fatalf("slave status %+v", st)
	}
}
