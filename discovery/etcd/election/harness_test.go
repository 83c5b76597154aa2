package election

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"

	"github.com/ternmq/tern/discovery/etcd/etcdtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTTL keeps the tests quick; etcd's minimum with the embedded defaults is 2 s.
const testTTL = 2 * time.Second

// testSettle is the default Settle for testTTL.
const testSettle = testTTL / 3

// newClient connects to ep, reconnecting within a second after an outage; it is closed at the
// test's cleanup.
func newClient(t *testing.T, ep string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{ep},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// stamped is an event and when the test saw it.
type stamped struct {
	at time.Time
	ev Event
}

// node is one replica: an Elector running on a client of its own, behind a proxy of its own.
type node struct {
	t     *testing.T
	id    int64
	el    *Elector
	cli   *clientv3.Client
	proxy *etcdtest.Proxy

	cancel    context.CancelFunc
	done      chan struct{} // Run returned
	collected chan struct{} // Changes closed
	evs       chan stamped  // every event, stamped on receipt
	closeCli  sync.Once
}

// startNode starts replica id of group, reporting offset and epoch.
func startNode(t *testing.T, ep, group string, id, offset, epoch int64) *node {
	t.Helper()
	p := etcdtest.NewProxy(t, ep)
	cli := newClient(t, p.Endpoint())
	el, err := New(Config{
		Client: cli, Group: group, BrokerID: id, TTL: testTTL,
		Address: fmt.Sprintf("10.0.0.%d:10911", id), HAAddress: fmt.Sprintf("10.0.0.%d:10912", id),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	el.Report(offset, epoch)
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{t: t, id: id, el: el, cli: cli, proxy: p, cancel: cancel,
		done: make(chan struct{}), collected: make(chan struct{}), evs: make(chan stamped, 256)}
	go func() {
		defer close(n.done)
		if err := el.Run(ctx); err != nil {
			t.Errorf("node %d: Run: %v", id, err)
		}
	}()
	go func() {
		defer close(n.collected)
		for ev := range el.Changes() {
			n.evs <- stamped{at: time.Now(), ev: ev}
		}
	}()
	t.Cleanup(n.stop)
	return n
}

// stop ends the node gracefully (it resigns), and waits for it.
func (n *node) stop() {
	n.cancel()
	<-n.done
	<-n.collected
	n.closeCli.Do(func() { _ = n.cli.Close() })
}

// crash ends the node as a crash would: its client closes first, so its lease is neither kept
// alive nor revoked.
func (n *node) crash() {
	n.closeCli.Do(func() { _ = n.cli.Close() })
	n.stop()
}

// next returns the node's next event, failing the test if none comes within d.
func (n *node) next(d time.Duration) stamped {
	n.t.Helper()
	select {
	case s := <-n.evs:
		n.t.Logf("node %d: %v %+v", n.id, s.ev.Kind, s.ev.Leader)
		return s
	case <-time.After(d):
		n.t.Fatalf("node %d: no event within %v", n.id, d)
		return stamped{}
	}
}

// waitFor skips events until one of kind (for broker id leader, when >= 0) comes, failing
// the test if none does within d, or if an event of a kind in never comes first.
func (n *node) waitFor(kind EventKind, leader int64, d time.Duration, never ...EventKind) stamped {
	n.t.Helper()
	deadline := time.Now().Add(d)
	for {
		s := n.next(time.Until(deadline))
		if s.ev.Kind == kind && (leader < 0 || s.ev.Leader.BrokerID == leader) {
			return s
		}
		for _, k := range never {
			if s.ev.Kind == k {
				n.t.Fatalf("node %d: %v %+v while waiting for %v", n.id, s.ev.Kind, s.ev.Leader, kind)
			}
		}
	}
}

// quiet fails the test if the node emits an event of a kind in kinds within d (or, when d is
// 0, has one unread). It waits d: it tests that nothing happens.
func (n *node) quiet(d time.Duration, kinds ...EventKind) {
	n.t.Helper()
	deadline := time.After(d)
	for {
		var s stamped
		select {
		case s = <-n.evs:
		case <-deadline:
			if len(n.evs) == 0 {
				return
			}
			s = <-n.evs
		}
		n.t.Logf("node %d: %v %+v", n.id, s.ev.Kind, s.ev.Leader)
		for _, k := range kinds {
			if s.ev.Kind == k {
				n.t.Fatalf("node %d: unexpected %v %+v", n.id, s.ev.Kind, s.ev.Leader)
			}
		}
	}
}

// electedWithin is how long a leaderless group may take to elect a live best replica.
const electedWithin = testSettle + 2*time.Second
