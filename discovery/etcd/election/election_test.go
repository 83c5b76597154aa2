package election

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ternmq/tern/discovery/etcd/etcdtest"
)

// leaderKey reads group's leader key; nil when absent.
func leaderKey(t *testing.T, cli *clientv3.Client, group string) *Leader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, newKeys("", group).leader())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	l := decodeLeader(resp.Kvs[0])
	return &l
}

// TestSingle: a lone replica is elected after Settle, its epoch is the leader key's
// CreateRevision, and stopping it resigns at once (Deposed, keys deleted).
func TestSingle(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	admin := newClient(t, ep)
	start := time.Now()
	n := startNode(t, ep, "broker-a", 1, 10, 0)
	s := n.waitFor(EventElected, 1, electedWithin)
	t.Logf("elected %v after start", s.at.Sub(start))
	if s.ev.Leader.Address != "10.0.0.1:10911" || s.ev.Leader.HAAddress != "10.0.0.1:10912" {
		t.Fatalf("elected as %+v", s.ev.Leader)
	}
	l := leaderKey(t, admin, "broker-a")
	if l == nil || l.BrokerID != 1 || l.Epoch != s.ev.Leader.Epoch {
		t.Fatalf("leader key %+v, want broker 1 at epoch %d", l, s.ev.Leader.Epoch)
	}
	if got, ok := n.el.Leader(); !ok || got != s.ev.Leader {
		t.Fatalf("Leader() = %+v, %v; want %+v", got, ok, s.ev.Leader)
	}
	n.stop()
	var deposed bool
	for len(n.evs) > 0 {
		s := <-n.evs
		deposed = deposed || s.ev.Kind == EventDeposed && s.ev.Leader.Epoch == l.Epoch
	}
	if !deposed {
		t.Fatal("no Deposed when Run ended")
	}
	if l := leaderKey(t, admin, "broker-a"); l != nil {
		t.Fatalf("leader key %+v after Run ended", l)
	}
}

// TestBestWins: of replicas starting together, the highest maxOffset wins whatever the start
// order; then the highest epoch; then the lowest brokerId. The others follow it.
func TestBestWins(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	type rep struct{ id, offset, epoch int64 }
	for _, tc := range []struct {
		name   string
		starts []rep // in start order
		want   int64
	}{
		{"offset, better first", []rep{{1, 100, 0}, {2, 50, 0}}, 1},
		{"offset, better last", []rep{{1, 50, 0}, {2, 100, 0}}, 2},
		{"tie, higher id first", []rep{{2, 100, 0}, {1, 100, 0}}, 1},
		{"epoch breaks the tie", []rep{{1, 100, 3}, {2, 100, 5}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			group := "g-" + tc.name
			var nodes []*node
			for _, r := range tc.starts {
				nodes = append(nodes, startNode(t, ep, group, r.id, r.offset, r.epoch))
			}
			var epoch int64
			for _, n := range nodes {
				if n.id == tc.want {
					epoch = n.waitFor(EventElected, n.id, electedWithin).ev.Leader.Epoch
				}
			}
			for _, n := range nodes {
				if n.id != tc.want {
					s := n.waitFor(EventLeader, tc.want, electedWithin, EventElected)
					if s.ev.Leader.Epoch != epoch {
						t.Fatalf("node %d follows epoch %d, want %d", n.id, s.ev.Leader.Epoch, epoch)
					}
				}
			}
		})
	}
}

// TestCrashFailover: when the leader crashes (its lease neither kept alive nor revoked), the
// other replica is elected once the lease expires, within TTL+Settle+1s, with a higher epoch.
func TestCrashFailover(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	a := startNode(t, ep, "broker-a", 1, 100, 0)
	b := startNode(t, ep, "broker-a", 2, 50, 0)
	old := a.waitFor(EventElected, 1, electedWithin).ev.Leader
	b.waitFor(EventLeader, 1, electedWithin, EventElected)
	b.el.Report(60, old.Epoch)

	crashed := time.Now()
	a.crash()
	gone := b.waitFor(EventNoLeader, -1, testTTL+2*time.Second, EventElected)
	s := b.waitFor(EventElected, 2, testSettle+2*time.Second)
	took := s.at.Sub(crashed)
	t.Logf("crash → leader key gone %v, → elected %v (ttl %v, settle %v)", gone.at.Sub(crashed), took, testTTL, testSettle)
	if limit := testTTL + testSettle + time.Second; took > limit {
		t.Fatalf("failover took %v, want <= %v", took, limit)
	}
	if s.ev.Leader.Epoch <= old.Epoch {
		t.Fatalf("new epoch %d, want > old epoch %d", s.ev.Leader.Epoch, old.Epoch)
	}
}

// TestPartition: a leader cut off from etcd fences itself (Deposed) before the other replica
// is elected; when the partition heals it follows the new leader and does not reclaim,
// although its report is better.
func TestPartition(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	admin := newClient(t, ep)
	a := startNode(t, ep, "broker-a", 1, 100, 0)
	b := startNode(t, ep, "broker-a", 2, 50, 0)
	old := a.waitFor(EventElected, 1, electedWithin).ev.Leader
	b.waitFor(EventLeader, 1, electedWithin, EventElected)

	cut := time.Now()
	a.proxy.Cut()
	deposed := a.waitFor(EventDeposed, 1, testTTL+time.Second, EventElected)
	elected := b.waitFor(EventElected, 2, 2*testTTL+testSettle+time.Second)
	t.Logf("cut → A deposed %v, → B elected %v (B %v after A stepped down)",
		deposed.at.Sub(cut), elected.at.Sub(cut), elected.at.Sub(deposed.at))
	if !deposed.at.Before(elected.at) {
		t.Fatalf("A deposed at %v, after B was elected at %v", deposed.at.Sub(cut), elected.at.Sub(cut))
	}
	if deposed.ev.Leader.Epoch != old.Epoch || elected.ev.Leader.Epoch <= old.Epoch {
		t.Fatalf("deposed epoch %d (want %d), new epoch %d", deposed.ev.Leader.Epoch, old.Epoch, elected.ev.Leader.Epoch)
	}

	healed := time.Now()
	a.proxy.Heal()
	s := a.waitFor(EventLeader, 2, 5*time.Second, EventElected)
	t.Logf("heal → A follows B %v", s.at.Sub(healed))
	if s.ev.Leader.Epoch != elected.ev.Leader.Epoch {
		t.Fatalf("A follows epoch %d, want %d", s.ev.Leader.Epoch, elected.ev.Leader.Epoch)
	}
	a.quiet(testSettle+500*time.Millisecond, EventElected)
	b.quiet(0, EventDeposed)
	if l := leaderKey(t, admin, "broker-a"); l == nil || *l != elected.ev.Leader {
		t.Fatalf("leader key %+v, want %+v", l, elected.ev.Leader)
	}
}

// TestLaggingWaits: a lagging replica does not campaign while a better report is live, not
// even after Settle+TTL; when the better replica dies without having campaigned, the lagging
// one wins once its report is gone.
func TestLaggingWaits(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The better replica: a report under a lease kept alive, and nothing campaigning.
	fake := newClient(t, ep)
	g, err := fake.Grant(ctx, int64(testTTL/time.Second))
	if err != nil {
		t.Fatal(err)
	}
	kaCtx, stopKA := context.WithCancel(ctx)
	defer stopKA()
	if _, err := fake.KeepAlive(kaCtx, g.ID); err != nil {
		t.Fatal(err)
	}
	val, _ := json.Marshal(Replica{BrokerID: 2, Address: "10.0.0.2:10911", MaxOffset: 100})
	if _, err := fake.Put(ctx, newKeys("", "broker-a").replica(2), string(val), clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}

	c := startNode(t, ep, "broker-a", 3, 50, 0)
	c.quiet(testSettle+testTTL+500*time.Millisecond, EventElected)

	died := time.Now()
	stopKA() // the better replica dies: its report lapses with its lease
	s := c.waitFor(EventElected, 3, testTTL+2*time.Second)
	t.Logf("better replica died → lagging one elected %v (ttl %v)", s.at.Sub(died), testTTL)
}

// TestThreeReplicas: when the leader crashes, the better of the two others wins, and the
// lagging one follows it.
func TestThreeReplicas(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	l := startNode(t, ep, "broker-a", 1, 200, 0)
	b := startNode(t, ep, "broker-a", 2, 100, 0)
	c := startNode(t, ep, "broker-a", 3, 50, 0)
	l.waitFor(EventElected, 1, electedWithin)
	b.waitFor(EventLeader, 1, electedWithin, EventElected)
	c.waitFor(EventLeader, 1, electedWithin, EventElected)
	crashed := time.Now()
	l.crash()
	s := b.waitFor(EventElected, 2, testTTL+testSettle+2*time.Second)
	c.waitFor(EventLeader, 2, time.Second, EventElected)
	t.Logf("crash → best of the rest elected %v", s.at.Sub(crashed))
}

// TestResign: a leader that resigns is deposed at once; being still the best replica, it is
// elected again with a higher epoch, and the other follows.
func TestResign(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	a := startNode(t, ep, "broker-a", 1, 100, 0)
	b := startNode(t, ep, "broker-a", 2, 100, 0)
	old := a.waitFor(EventElected, 1, electedWithin).ev.Leader
	b.waitFor(EventLeader, 1, electedWithin, EventElected)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.el.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if s := a.next(time.Second); s.ev.Kind != EventDeposed || s.ev.Leader != old {
		t.Fatalf("after Resign: %v %+v, want Deposed %+v", s.ev.Kind, s.ev.Leader, old)
	}
	if _, ok := a.el.Leader(); ok {
		t.Fatal("Leader() after Resign reports a leader")
	}
	again := a.waitFor(EventElected, 1, electedWithin).ev.Leader
	if again.Epoch <= old.Epoch {
		t.Fatalf("re-elected at epoch %d, want > %d", again.Epoch, old.Epoch)
	}
	b.waitFor(EventLeader, 1, electedWithin, EventElected)
	if err := b.el.Resign(ctx); err != nil { // not the leader: nothing to do
		t.Fatal(err)
	}
}

// TestStaleLeaderKey: a leader key with this replica's id under a lease that is not its own
// (a previous process's) is deleted, and the group elects again at once.
func TestStaleLeaderKey(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	admin := newClient(t, ep)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := admin.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	val, _ := json.Marshal(leaderRecord{BrokerID: 1, Address: "10.0.0.1:10911"})
	resp, err := admin.Put(ctx, newKeys("", "broker-a").leader(), string(val), clientv3.WithLease(g.ID))
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, ep, "broker-a", 1, 10, 0)
	s := n.waitFor(EventElected, 1, electedWithin, EventLeader)
	if s.ev.Leader.Epoch <= resp.Header.Revision {
		t.Fatalf("elected at epoch %d, want > the stale key's %d", s.ev.Leader.Epoch, resp.Header.Revision)
	}
}

// TestGroups: Groups lists each group's leader and live reports.
func TestGroups(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	admin := newClient(t, ep)
	a1 := startNode(t, ep, "a/1", 1, 100, 0)
	a2 := startNode(t, ep, "a/1", 2, 40, 0)
	b1 := startNode(t, ep, "broker-b", 1, 7, 0)
	ea := a1.waitFor(EventElected, 1, electedWithin).ev.Leader
	a2.waitFor(EventLeader, 1, electedWithin)
	eb := b1.waitFor(EventElected, 1, electedWithin).ev.Leader

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gs, err := Groups(ctx, admin, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 || gs[0].Group != "a/1" || gs[1].Group != "broker-b" {
		t.Fatalf("groups %+v", gs)
	}
	if gs[0].Leader == nil || *gs[0].Leader != ea || gs[1].Leader == nil || *gs[1].Leader != eb {
		t.Fatalf("leaders %+v, %+v; want %+v, %+v", gs[0].Leader, gs[1].Leader, ea, eb)
	}
	if r := gs[0].Replicas; len(r) != 2 || r[0].BrokerID != 1 || r[0].MaxOffset != 100 || r[1].BrokerID != 2 || r[1].MaxOffset != 40 || r[1].Address != "10.0.0.2:10911" {
		t.Fatalf("replicas of a/1: %+v", r)
	}
	if r := gs[1].Replicas; len(r) != 1 || r[0].MaxOffset != 7 {
		t.Fatalf("replicas of broker-b: %+v", r)
	}
}
