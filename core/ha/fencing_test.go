package ha

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDivergentTailTruncated: the old master comes back as a slave of the new one with a tail
// written under the old epoch that nobody replicated; it cuts the tail at the new epoch's start
// and then matches the new master byte for byte.
func TestDivergentTailTruncated(t *testing.T) {
	a, b := newReplica(t), newReplica(t)
	if err := a.epochs.Begin(1, 0); err != nil {
		t.Fatal(err)
	}
	masterA := startMaster(t, a, nil)
	slaveB := startSlave(t, b.st, b.epochs, fixedAddr(masterA.addr()))
	waitFor(t, "slave to connect", masterA.anyInSync) // an empty slave joining later starts at the last segment
	putN(t, a.st, 200, 1000)
	waitCaughtUp(t, a.st, b.st)
	slaveB.stop()
	if got := b.epochs.All(); !slices.Equal(got, []Epoch{{1, 0}}) {
		t.Fatalf("slave history %v", got)
	}
	putN(t, a.st, 150, 1500) // A's tail: never replicated
	masterA.Close()

	split := b.st.CommitLogMaxOffset()
	if a.st.CommitLogMaxOffset() <= split {
		t.Fatal("no divergent tail")
	}
	if err := b.epochs.Begin(2, split); err != nil {
		t.Fatal(err)
	}
	masterB := startMaster(t, b, nil)
	end := putN(t, b.st, 120, 700)
	startSlave(t, a.st, a.epochs, fixedAddr(masterB.addr()))
	waitFor(t, "old master to follow", func() bool {
		return a.st.CommitLogMaxOffset() == end && masterB.ConfirmOffset() == end
	})
	sameLogs(t, b.st, a.st, 0, end)
	sameQueues(t, b.st, a.st)
	if got, want := a.epochs.All(), []Epoch{{1, 0}, {2, split}}; !slices.Equal(got, want) {
		t.Fatalf("old master's history %v, want %v", got, want)
	}
}

// TestFencedMaster: a master at epoch 5 meets a slave whose last epoch is 7: it is deposed once,
// refuses the slave every time and WaitReplicated fails with ErrFenced.
func TestFencedMaster(t *testing.T) {
	m, s := newReplica(t), newReplica(t)
	if err := m.epochs.Begin(5, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.epochs.Begin(7, 0); err != nil {
		t.Fatal(err)
	}
	var deposedBy atomic.Int64
	var calls atomic.Int32
	master := startMaster(t, m, func(o *MasterOptions) {
		o.Deposed = func(epoch int64) { deposedBy.Store(epoch); calls.Add(1) }
	})
	end := put(t, m.st, newRecord("TopicA", 0, 0, 100))
	var attempts atomic.Int32
	slave := startSlave(t, s.st, s.epochs, func() string { attempts.Add(1); return master.addr() })
	waitFor(t, "three attempts", func() bool { return attempts.Load() >= 3 && slave.Status().LastError != "" })
	if deposedBy.Load() != 7 || calls.Load() != 1 {
		t.Fatalf("Deposed called %d times, with %d", calls.Load(), deposedBy.Load())
	}
	if err := master.WaitReplicated(context.Background(), end); !errors.Is(err, ErrFenced) {
		t.Fatalf("WaitReplicated: %v", err)
	}
	if st := master.Status(); !st.Fenced || st.FencedBy != 7 {
		t.Fatalf("master status %+v", st)
	}
	if st := slave.Status(); st.Connected || !strings.Contains(st.LastError, ErrFenced.Error()) || s.st.CommitLogMaxOffset() != 0 {
		t.Fatalf("slave status %+v, log end %d", st, s.st.CommitLogMaxOffset())
	}
}

// TestDeposedByAck: an ack carrying a higher epoch than the master's deposes it and drops the
// connection.
func TestDeposedByAck(t *testing.T) {
	m := newReplica(t)
	if err := m.epochs.Begin(5, 0); err != nil {
		t.Fatal(err)
	}
	deposed := make(chan int64, 1)
	master := startMaster(t, m, func(o *MasterOptions) { o.Deposed = func(e int64) { deposed <- e } })
	c := dialFake(t, master.addr())
	send(t, c, appendHello(nil, hello{BrokerName: "broker-a", BrokerID: 1, SegmentSize: testSegment, LastEpoch: 5}))
	w, err := readAnswer(c)
	if err != nil || w.Refused || w.Epoch != 5 {
		t.Fatalf("answer %+v, %v", w, err)
	}
	send(t, c, appendAck(nil, ack{Epoch: 5, MaxOffset: 0}))
	send(t, c, appendAck(nil, ack{Epoch: 9, MaxOffset: 0}))
	if e := <-deposed; e != 9 {
		t.Fatalf("deposed by %d", e)
	}
	expectClosed(t, c)
	if err := master.WaitReplicated(context.Background(), 1); !errors.Is(err, ErrFenced) {
		t.Fatalf("WaitReplicated: %v", err)
	}
}

// TestMasterRefuses: hellos the master must refuse get the right code, and bad bytes close the
// connection without an answer the slave would act on.
func TestMasterRefuses(t *testing.T) {
	m := newReplica(t)
	master := startMaster(t, m, nil)
	good := hello{BrokerName: "broker-a", BrokerID: 1, SegmentSize: testSegment}
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"wrong broker", appendHello(nil, hello{BrokerName: "broker-b", SegmentSize: testSegment}), ErrWrongBroker},
		{"segment size", appendHello(nil, hello{BrokerName: "broker-a", SegmentSize: 1 << 30}), ErrSegmentSize},
		{"bad magic", append([]byte("GET / HTTP/1.1\r\n"), make([]byte, 64)...), ErrBadHello},
		{"oversized", put16(appendHello(nil, good), 8, 60000), ErrBadHello},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := dialFake(t, master.addr())
			send(t, conn, c.in)
			a, err := readAnswer(conn)
			if err != nil || !a.Refused || !errors.Is(refusalError(a.Code, a.Reason), c.want) {
				t.Fatalf("answer %+v, %v; want a refusal with %v", a, err, c.want)
			}
			expectClosed(t, conn)
		})
	}
	t.Run("start request beyond the end", func(t *testing.T) {
		conn := dialFake(t, master.addr())
		send(t, conn, appendHello(nil, good))
		if a, err := readAnswer(conn); err != nil || a.Refused {
			t.Fatalf("answer %+v, %v", a, err)
		}
		send(t, conn, appendAck(nil, ack{MaxOffset: 1 << 40}))
		expectClosed(t, conn)
	})
	if master.Status().Fenced {
		t.Fatal("refusals fenced the master")
	}
}

// TestSlaveRefusesBadMaster: a slave at epoch 7 drops a master that welcomes it at epoch 5,
// one that welcomes it at 7 but sends frames of epoch 5 (or 8: it reconnects for the new
// history), an oversized frame, or bytes that are not records; it applies nothing.
func TestSlaveRefusesBadMaster(t *testing.T) {
	w7 := answer{Epoch: 7, MaxOffset: 1000, Heartbeat: time.Second, History: []Epoch{{7, 0}}}
	frame := func(epoch int64, n uint32) []byte {
		return append(appendFrameHeader(nil, frameHeader{BodyLen: n, Epoch: epoch, MasterMax: 1000}), make([]byte, min(n, 100))...)
	}
	for _, c := range []struct {
		name         string
		welcome      answer
		frame        []byte // nil: the slave hangs up after the welcome
		wantInStatus string
	}{
		{"stale welcome", answer{Epoch: 5, MaxOffset: 1000, Heartbeat: time.Second, History: []Epoch{{5, 0}}}, nil, ErrStaleEpoch.Error()},
		{"stale frame", w7, frame(5, 100), ErrStaleEpoch.Error()},
		{"newer frame", w7, frame(8, 100), "reconnecting"},
		{"oversized frame", w7, frame(7, MaxFrameBody+1), ErrProtocol.Error()},
		{"body past master max", w7, frame(7, 1001), ErrProtocol.Error()},
		{"not records", w7, frame(7, 100), "append"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newReplica(t)
			if err := s.epochs.Begin(7, 0); err != nil {
				t.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			result := make(chan error, 1)
			go func() { result <- fakeMaster(l, c.welcome, c.frame) }()
			slave := startSlave(t, s.st, s.epochs, fixedAddr(l.Addr().String()))
			if err := <-result; err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the slave's error", func() bool { return slave.Status().LastError != "" })
			if st := slave.Status(); !strings.Contains(st.LastError, c.wantInStatus) || s.st.CommitLogMaxOffset() != 0 {
				t.Fatalf("status %+v, log end %d", st, s.st.CommitLogMaxOffset())
			}
			if last := s.epochs.Last(); last.Epoch != 7 {
				t.Fatalf("slave history now ends with %+v", last)
			}
		})
	}
}

// fakeMaster serves one connection: it checks the hello, sends welcome and, with a frame, reads
// the start request and sends the frame; then it expects the slave to close the connection.
func fakeMaster(l net.Listener, welcome answer, frame []byte) error {
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitTimeout))
	h, err := readHello(c)
	if err != nil || h.LastEpoch != 7 {
		return errors.Join(err, errors.New("unexpected hello"))
	}
	if _, err := c.Write(appendWelcome(nil, welcome)); err != nil {
		return err
	}
	if frame != nil {
		var buf [ackSize]byte
		if _, err := io.ReadFull(c, buf[:]); err != nil {
			return err
		}
		if _, err := c.Write(frame); err != nil {
			return err
		}
	}
	// The slave hangs up; it may send acks first.
	if _, err := io.Copy(io.Discard, c); err != nil && !strings.Contains(err.Error(), "reset") {
		return err
	}
	return nil
}

func dialFake(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitTimeout))
	return c
}

func send(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// expectClosed reads until the peer closes the connection.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("connection not closed by the peer: %v", err)
	}
}
