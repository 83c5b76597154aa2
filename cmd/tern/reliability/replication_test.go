package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/sdk/client"
)

// segmentSize is the CommitLog segment size of the replication tests: small, so that the load
// crosses several segment ends.
const segmentSize = 4 << 20

// haStatus asks the broker at addr for its replication state.
func haStatus(ctx context.Context, rc *remoting.Client, addr string) (broker.HAStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := rc.Invoke(ctx, addr, remoting.NewRequest(remoting.HAStatus, nil, nil))
	if err != nil {
		return broker.HAStatus{}, err
	}
	if resp.Code != int16(remoting.Success) {
		return broker.HAStatus{}, fmt.Errorf("HA status of %s: code %d: %s", addr, resp.Code, resp.Remark)
	}
	var st broker.HAStatus
	err = json.Unmarshal(resp.Body, &st)
	return st, err
}

// waitHA polls the broker at addr until ok accepts its state, for at most limit. There is
// nothing to wait on from outside the process, so it polls.
func waitHA(t *testing.T, rc *remoting.Client, addr string, limit time.Duration, what string, ok func(broker.HAStatus) bool) broker.HAStatus {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last broker.HAStatus
	var lastErr error
	for time.Now().Before(deadline) {
		st, err := haStatus(context.Background(), rc, addr)
		if err == nil && ok(st) {
			return st
		}
		last, lastErr = st, err
		time.Sleep(50 * time.Millisecond) // polling another process's state
	}
	t.Fatalf("%s: not reached within %v (last state %+v, err %v)", what, limit, last, lastErr)
	return last
}

// produce runs producers synchronous senders of 1 KiB messages into l until each has sent
// perProducer messages or stop is closed.
func produce(t *testing.T, ns *devProc, topic string, l *ledger, producers, perProducer int, stop <-chan struct{}) {
	t.Helper()
	p, err := client.NewProducer("replication-producer", withClient(ns.clientOpts("replication-producer"), client.WithSendTimeout(5*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	defer closeClient(t, p)
	var wg sync.WaitGroup
	for g := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; seq < perProducer; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := l.send(sctx, p, topic, g, seq, 1024); err != nil {
					time.Sleep(20 * time.Millisecond) // a failed send: do not spin while the cluster fails over
				}
				cancel()
			}
		}()
	}
	wg.Wait()
}

// commitLogBytes returns the bytes [0, end) of the CommitLog under dir/commitlog, segments
// concatenated from the first one (which must start at 0).
func commitLogBytes(t *testing.T, dir string, end int64) []byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "commitlog", "*"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var out []byte
	for _, name := range names {
		start, err := strconv.ParseInt(filepath.Base(name), 10, 64)
		if err != nil {
			continue
		}
		if start != int64(len(out)) || start >= end {
			break
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b[:min(int64(len(b)), end-start)]...)
	}
	if int64(len(out)) < end {
		t.Fatalf("the CommitLog in %s has %d bytes from 0, want %d", dir, len(out), end)
	}
	return out
}

// TestReplication runs a master and a slave as separate `tern broker` processes, with
// ASYNC_MASTER and with SYNC_MASTER, under a load of synchronous producers. Every send is
// acknowledged (with SYNC_MASTER only once the slave has it); the slave's CommitLog is
// byte-identical to the master's up to the replicated offset; and a consumer that reads from the
// master goes on reading from the slave when the master is SIGKILLed, until it has every
// acknowledged message with the checksum it was sent with.
func TestReplication(t *testing.T) {
	for _, role := range []string{broker.RoleAsyncMaster, broker.RoleSyncMaster} {
		t.Run(role, func(t *testing.T) { testReplication(t, role) })
	}
}

func testReplication(t *testing.T, role string) {
	ns := newNamesrv(t)
	ns.start()
	common := []string{"brokerName=broker-r", "mappedFileSizeCommitLog=" + strconv.Itoa(segmentSize), "maxMessageSize=65536", "slaveSyncInterval=500"}
	mdir, sdir := t.TempDir(), t.TempDir()
	master := newBroker(t, mdir, ns.ns, nil, append(common, "brokerRole="+role, "haListenAddr="+freeAddr(t), "syncFlushTimeout=1000")...)
	master.start()
	slave := newBroker(t, sdir, ns.ns, nil, append(common, "brokerRole=SLAVE", "brokerId=1", "haListenAddr=off")...)
	slave.start()
	rc := remoting.NewClient(remoting.ClientOptions{})
	defer rc.Close()
	waitHA(t, rc, master.br, 30*time.Second, "slave in sync", func(st broker.HAStatus) bool { return st.InSyncSlaves() == 1 })

	const producers, perProducer = 8, 2500 // 20,000 messages of 1 KiB: five segments
	topic := "ReplicationTest"
	master.admin("topic", "create", topic, "-c", "DefaultCluster", "-q", "4")
	l := newLedger(producers)
	start := time.Now()
	produce(t, ns, topic, l, producers, perProducer, nil)
	took := time.Since(start)
	s := l.tally()
	t.Logf("%s: %d sends in %v (%.0f msgs/s), %d acknowledged", role, s.Sent, took.Round(time.Millisecond), float64(s.Sent)/took.Seconds(), s.Acked)
	if s.Failed > 0 {
		t.Fatalf("%d sends were not acknowledged with SEND_OK: %v", s.Failed, s)
	}

	// The slave catches up; both logs end at the same offset.
	mst := waitHA(t, rc, master.br, 10*time.Second, "master status", func(st broker.HAStatus) bool { return st.MaxOffset > 0 })
	end := mst.MaxOffset
	waitHA(t, rc, slave.br, 30*time.Second, "slave caught up", func(st broker.HAStatus) bool { return st.MaxOffset == end })
	if role == broker.RoleSyncMaster && mst.Master.ConfirmOffset < end {
		t.Errorf("SYNC_MASTER: confirm offset %d below the master's end %d after every send was acknowledged", mst.Master.ConfirmOffset, end)
	}

	if role == broker.RoleSyncMaster {
		// A slave that stops answering: the send is stored, and answered FLUSH_SLAVE_TIMEOUT once
		// syncFlushTimeout (1 s here) passes.
		master.admin("topic", "create", "ReplicationStall", "-c", "DefaultCluster", "-q", "1")
		p, err := client.NewProducer("stall-producer", withClient[client.ProducerOption](ns.clientOpts("stall-producer"))...)
		if err != nil {
			t.Fatal(err)
		}
		slave.cmd.Process.Signal(syscall.SIGSTOP)
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := p.Send(sctx, &client.Message{Topic: "ReplicationStall", Body: []byte("while the slave is stopped")})
		cancel()
		slave.cmd.Process.Signal(syscall.SIGCONT)
		closeClient(t, p)
		if err != nil || res.Status != client.SendFlushSlaveTimeout {
			t.Fatalf("send while the slave is stopped: %+v, %v; want FLUSH_SLAVE_TIMEOUT", res, err)
		}
		t.Logf("%s: a send while the slave was stopped: %v", role, res.Status)
		mst = waitHA(t, rc, master.br, 10*time.Second, "master status", func(st broker.HAStatus) bool { return st.MaxOffset > end })
		end = mst.MaxOffset
		waitHA(t, rc, slave.br, 30*time.Second, "slave caught up after SIGCONT", func(st broker.HAStatus) bool { return st.MaxOffset == end })
	}

	// A consumer reads part of the topic from the master, then the master dies.
	half := make(chan struct{})
	resume := make(chan struct{})
	var once sync.Once
	var n int
	var nmu sync.Mutex
	handler := func(ctx context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
		nmu.Lock()
		n += len(msgs)
		reached := n >= producers*perProducer/2
		nmu.Unlock()
		if reached {
			once.Do(func() { close(half) })
			<-resume
		}
		return l.handler(ctx, msgs)
	}
	c := startPushConsumer(t, "replication-consumer", ns.clientOpts("replication-consumer"), topic, handler,
		client.WithConsumeFrom(client.ConsumeFromFirstOffset), client.WithRebalanceInterval(time.Second),
		// At most 4×100 messages wait in the consumer when the master dies: the other ~9,600
		// must be pulled from the slave.
		client.WithPendingLimits(100, 1<<20))
	defer closeClient(t, c)
	select {
	case <-half:
	case <-time.After(60 * time.Second):
		t.Fatalf("the consumer did not read half the messages from the master: %v", l.tally())
	}
	master.kill()
	close(resume)
	killed := time.Now()
	waitDrained(t, l, 90*time.Second)
	s = l.tally()
	t.Logf("%s: after the master was killed the consumer read the rest from the slave in %v: %v", role, time.Since(killed).Round(time.Millisecond), s)
	if s.Lost > 0 || s.Corrupt > 0 || s.Unknown > 0 {
		t.Fatalf("lost, corrupt or unknown messages: %v", s)
	}

	// Byte-identical up to the replicated offset (the killed master's pages are in the page
	// cache; the slave is stopped cleanly first).
	if err := slave.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	mb, sb := commitLogBytes(t, mdir, end), commitLogBytes(t, sdir, end)
	if !bytes.Equal(mb, sb) {
		i := 0
		for i < len(mb) && mb[i] == sb[i] {
			i++
		}
		t.Fatalf("the slave's CommitLog differs from the master's at byte %d of %d", i, end)
	}
	t.Logf("%s: %d bytes of CommitLog byte-identical on master and slave", role, end)
}
