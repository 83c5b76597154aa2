package reliability

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/discovery/etcd/etcdtest"
)

// TestDeposedMasterRejoins runs a group of two `tern broker --ha etcd` processes against a real
// (embedded) etcd. The master reaches etcd through a proxy, which is cut: the master cannot renew
// its lease, fences itself, and the other broker is elected. The deposed master's process does
// not exit: it closes its broker and starts it again, and once etcd is reachable again it
// follows the new master as a slave, at the new epoch, with a CommitLog byte-identical to the
// new master's, including what was sent after the failover.
func TestDeposedMasterRejoins(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, a NameServer and two brokers")
	}
	endpoint, _, _ := etcdtest.Start(t)
	proxy := etcdtest.NewProxy(t, endpoint)
	ns := newNamesrv(t)
	ns.start()
	const ttl = 2 * time.Second
	ha := func(ep string) []string {
		return []string{"--ha", "etcd", "--etcd-endpoints", ep, "--ha-ttl", ttl.String()}
	}
	common := []string{"brokerName=broker-r", "brokerRole=ASYNC_MASTER", "mappedFileSizeCommitLog=" + strconv.Itoa(segmentSize), "maxMessageSize=65536", "slaveSyncInterval=500"}
	first := newBroker(t, t.TempDir(), ns.ns, ha(proxy.Endpoint()), append(common, "brokerId=1", "haListenAddr="+freeAddr(t))...)
	second := newBroker(t, t.TempDir(), ns.ns, ha(endpoint), append(common, "brokerId=2", "haListenAddr="+freeAddr(t))...)
	logOnFailure(t, first, second)
	rc := remoting.NewClient(remoting.ClientOptions{})
	defer rc.Close()
	isMaster := func(s broker.HAStatus) bool { return s.Role == broker.RoleAsyncMaster }

	first.start()
	st := waitHA(t, rc, first.br, 60*time.Second, "the first broker elected", isMaster)
	second.start()
	waitHA(t, rc, second.br, 60*time.Second, "the second broker following", func(s broker.HAStatus) bool {
		return s.Role == broker.RoleSlave && s.Slave != nil && s.Slave.Connected
	})
	topic := "RejoinTest"
	ns.admin("topic", "create", topic, "-c", "DefaultCluster", "-q", "4")
	for i := range 20 {
		ns.admin("send", topic, "before-"+strconv.Itoa(i))
	}

	proxy.Cut()
	cut := time.Now()
	nst := waitHA(t, rc, second.br, 10*ttl, "the second broker elected", func(s broker.HAStatus) bool {
		return isMaster(s) && s.Epoch > st.Epoch
	})
	fenced := waitHA(t, rc, first.br, 10*ttl, "the first broker fenced or restarted", func(s broker.HAStatus) bool {
		return s.Role != broker.RoleAsyncMaster
	})
	t.Logf("etcd cut off from the master (epoch %d): the other broker elected at epoch %d after %v; the old master's role: %s",
		st.Epoch, nst.Epoch, time.Since(cut).Round(time.Millisecond), fenced.Role)
	proxy.Heal()

	rejoined := waitHA(t, rc, first.br, 60*time.Second, "the old master following the new one", func(s broker.HAStatus) bool {
		return s.Role == broker.RoleSlave && s.Slave != nil && s.Slave.Connected && s.Epoch == nst.Epoch
	})
	if !first.running() {
		t.Fatalf("the deposed master's process exited: %s", first.cmd.ProcessState)
	}
	for i := range 20 {
		ns.admin("send", topic, "after-"+strconv.Itoa(i))
	}
	end := waitHA(t, rc, second.br, 10*time.Second, "the new master's end", func(broker.HAStatus) bool { return true }).MaxOffset
	if end <= rejoined.MaxOffset {
		t.Fatalf("the new master's log ends at %d, no further than when the old master rejoined (%d): the sends after the failover went elsewhere", end, rejoined.MaxOffset)
	}
	waitHA(t, rc, first.br, 30*time.Second, "the old master caught up", func(s broker.HAStatus) bool { return s.MaxOffset == end })
	if !bytes.Equal(commitLogBytes(t, first.dir, end), commitLogBytes(t, second.dir, end)) {
		t.Fatalf("the rejoined broker's CommitLog differs from the new master's below %d", end)
	}
	log, err := os.ReadFile(first.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "starts again to rejoin its group as a slave") {
		t.Errorf("the deposed master's log does not say it starts again:\n%s", first.logTail())
	}
	t.Logf("the deposed master rejoined in the same process as a slave at epoch %d; both CommitLogs are byte-identical up to %d", nst.Epoch, end)
}
