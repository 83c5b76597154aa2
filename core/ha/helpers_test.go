package ha

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store"
)

var _ Log = (*store.Store)(nil)

// testSegment is the CommitLog segment size of the test stores: small, so loads cross many
// segment ends.
const testSegment = 256 << 10

// waitTimeout bounds every wait on a condition.
const waitTimeout = 20 * time.Second

// replica is a store, its epoch history and its directory.
type replica struct {
	dir    string
	st     *store.Store
	epochs *Epochs
	usage  atomic.Value // float64: what DiskUsage reports
}

// openReplica opens a store and an epoch history in dir; both are closed when the test ends.
func openReplica(t testing.TB, dir string) *replica {
	t.Helper()
	return openReplicaSeg(t, dir, testSegment)
}

// openReplicaSeg is openReplica with another CommitLog segment size.
func openReplicaSeg(t testing.TB, dir string, segment int64) *replica {
	t.Helper()
	r := &replica{dir: dir}
	r.usage.Store(0.1)
	cfg := store.DefaultConfig(dir)
	cfg.MappedFileSizeCommitLog = segment
	cfg.MappedFileSizeConsumeQueue = 20 * 1000
	cfg.MaxMessageSize = 64 << 10
	cfg.MaxHashSlotNum = 256
	cfg.MaxIndexNum = 4096
	cfg.PreallocateCommitLog = false
	cfg.CleanResourceInterval = config.Millis(time.Hour)
	cfg.DiskUsage = func(string) (float64, error) { return r.usage.Load().(float64), nil }
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	r.st = st
	t.Cleanup(func() { st.Close() })
	r.epochs, err = OpenEpochs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newReplica(t testing.TB) *replica { return openReplica(t, t.TempDir()) }

var bornHost = netip.MustParseAddrPort("10.1.2.3:5555")

// newRecord returns a record of topic/qid with a body of n bytes derived from seq.
func newRecord(topic string, qid int32, seq, n int) *message.Record {
	props, _ := message.AppendProperties(nil, map[string]string{"TAGS": fmt.Sprintf("t%d", seq%3), "KEYS": fmt.Sprintf("k%d", seq)})
	body := bytes.Repeat([]byte{byte('a' + seq%26)}, n)
	copy(body, fmt.Sprintf("seq-%d", seq))
	return &message.Record{Topic: topic, QueueID: qid, Body: body, Properties: string(props),
		BornTimestamp: 1700000000000 + int64(seq), BornHost: bornHost}
}

// put appends one record and returns the CommitLog end after it.
func put(t testing.TB, st *store.Store, r *message.Record) int64 {
	t.Helper()
	res, err := st.PutMessage(context.Background(), r)
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	return res.PhysicalOffset + int64(res.Bytes)
}

// putN appends n records of about size bytes to TopicA/0..3 and returns the last end.
func putN(t testing.TB, st *store.Store, n, size int) int64 {
	t.Helper()
	var end int64
	for i := range n {
		end = put(t, st, newRecord("TopicA", int32(i%4), i, size))
	}
	return end
}

// startMaster serves r on a new 127.0.0.1 port; the master is closed when the test ends.
func startMaster(t testing.TB, r *replica, edit func(*MasterOptions)) *Master {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := MasterOptions{Log: r.st, Epochs: r.epochs, Listener: l, BrokerName: "broker-a",
		HeartbeatInterval: 100 * time.Millisecond}
	if edit != nil {
		edit(&opts)
	}
	m := NewMaster(opts)
	done := make(chan error, 1)
	go func() { done <- m.Serve() }()
	t.Cleanup(func() {
		m.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return m
}

func (m *Master) addr() string { return m.opts.Listener.Addr().String() }

// runningSlave is a Slave running in a goroutine of the test.
type runningSlave struct {
	*Slave
	cancel context.CancelFunc
	done   chan struct{}
}

// stop stops the slave and waits for Run to return.
func (s *runningSlave) stop() {
	s.cancel()
	<-s.done
}

// startSlave runs a slave of r following the address addr returns; it stops when the test ends.
func startSlave(t testing.TB, lg Log, epochs *Epochs, addr func() string) *runningSlave {
	t.Helper()
	s := NewSlave(SlaveOptions{Log: lg, Epochs: epochs, BrokerName: "broker-a", BrokerID: 1,
		MasterHAAddr: addr, ReportInterval: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningSlave{Slave: s, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rs.done)
		s.Run(ctx)
	}()
	t.Cleanup(rs.stop)
	return rs
}

// fixedAddr returns an address function that always answers a.
func fixedAddr(a string) func() string { return func() string { return a } }

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// waitCaughtUp waits until the slave's log ends where the master's does.
func waitCaughtUp(t testing.TB, master, slave *store.Store) {
	t.Helper()
	waitFor(t, "slave to catch up", func() bool { return slave.CommitLogMaxOffset() == master.CommitLogMaxOffset() })
}

// readLog returns the CommitLog bytes of st in [from, to).
func readLog(t testing.TB, st *store.Store, from, to int64) []byte {
	t.Helper()
	var out []byte
	for off := from; off < to; {
		data, release, err := st.ReadCommitLog(off, 1<<20)
		if err != nil {
			t.Fatalf("ReadCommitLog(%d): %v", off, err)
		}
		if len(data) == 0 {
			release()
			t.Fatalf("ReadCommitLog(%d) returned nothing below %d", off, to)
		}
		out = append(out, data...)
		release()
		off += int64(len(data))
	}
	return out[:min(len(out), int(to-from))]
}

// sameLogs checks that both stores hold the same CommitLog bytes in [from, to).
func sameLogs(t testing.TB, a, b *store.Store, from, to int64) {
	t.Helper()
	la, lb := readLog(t, a, from, to), readLog(t, b, from, to)
	if !bytes.Equal(la, lb) {
		i := 0
		for i < min(len(la), len(lb)) && la[i] == lb[i] {
			i++
		}
		t.Fatalf("logs differ in [%d,%d): %d and %d bytes, first difference at %d", from, to, len(la), len(lb), from+int64(i))
	}
}

// sameQueues checks that both stores' ConsumeQueues hold the same messages from queue offset
// min (per queue: the larger of the two minimums).
func sameQueues(t testing.TB, a, b *store.Store) {
	t.Helper()
	waitDispatched(t, a)
	waitDispatched(t, b)
	qa, qb := queueMap(a), queueMap(b)
	if len(qa) != len(qb) {
		t.Fatalf("queues differ: %v vs %v", qa, qb)
	}
	for k, ia := range qa {
		ib, ok := qb[k]
		if !ok || ia.MaxOffset != ib.MaxOffset {
			t.Fatalf("queue %s: %+v vs %+v", k, ia, ib)
		}
		from := max(ia.MinOffset, ib.MinOffset)
		ma, ma2 := queueMessages(t, a, ia.Topic, ia.QueueID, from)
		mb, mb2 := queueMessages(t, b, ia.Topic, ia.QueueID, from)
		if len(ma) != len(mb) || ma2 != mb2 {
			t.Fatalf("queue %s: %d messages (next %d) vs %d (next %d)", k, len(ma), ma2, len(mb), mb2)
		}
		for i := range ma {
			if !bytes.Equal(ma[i], mb[i]) {
				t.Fatalf("queue %s: message %d differs", k, i)
			}
		}
	}
}

func queueMap(st *store.Store) map[string]store.QueueInfo {
	out := make(map[string]store.QueueInfo)
	for _, q := range st.Queues() {
		out[fmt.Sprintf("%s-%d", q.Topic, q.QueueID)] = q
	}
	return out
}

func queueMessages(t testing.TB, st *store.Store, topic string, qid int32, from int64) ([][]byte, int64) {
	t.Helper()
	var out [][]byte
	off := from
	for {
		res, err := st.GetMessages(topic, qid, off, 32, 1<<20, nil)
		if err != nil {
			t.Fatalf("get %s-%d@%d: %v", topic, qid, off, err)
		}
		for _, m := range res.Messages {
			out = append(out, bytes.Clone(m))
		}
		res.Release()
		if len(res.Messages) == 0 {
			return out, res.NextBeginOffset
		}
		off = res.NextBeginOffset
	}
}

func waitDispatched(t testing.TB, st *store.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := st.WaitDispatched(ctx, st.CommitLogMaxOffset()); err != nil {
		t.Fatalf("dispatch: %v", err)
	}
}

// gatedLog holds AppendReplicated while closed, to stall a slave. A test that closes it defers
// open, so that the slave can stop.
type gatedLog struct {
	Log
	mu   sync.Mutex
	gate chan struct{} // nil: open
}

func (g *gatedLog) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate == nil {
		g.gate = make(chan struct{})
	}
}

func (g *gatedLog) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
}

func (g *gatedLog) AppendReplicated(off int64, data []byte) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return g.Log.AppendReplicated(off, data)
}
