package election

import (
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// view is the deterministic core: one group's keys as a replica last read or watched them,
// and the decision they lead to. It does no I/O, starts no goroutine and takes the time as an
// argument; Run feeds it. Not safe for concurrent use (Run's goroutine owns it).
type view struct {
	self      int64 // this replica's BrokerID
	dir       string
	leader    *leaderKV         // the leader key, nil when absent
	leaderRev int64             // the revision the leader state is known at
	replicas  map[int64]Replica // the live reports
	goneAt    time.Time         // when the group was first seen leaderless; zero while led
}

// leaderKV is the leader key: the leadership and the lease it is held under.
type leaderKV struct {
	Leader
	lease clientv3.LeaseID
}

func newView(self int64, k keys) *view {
	return &view{self: self, dir: k.dir, replicas: map[int64]Replica{}}
}

// load replaces the view with a read of the group's keys at revision rev, and reports whether
// the group has become leaderless (it was led, or had not been read, before).
func (v *view) load(kvs []*mvccpb.KeyValue, rev int64, now time.Time) (vanished bool) {
	clear(v.replicas)
	var leader *mvccpb.KeyValue
	for _, kv := range kvs {
		switch kind, id := v.parse(kv.Key); kind {
		case keyLeader:
			leader = kv
		case keyReplica:
			if r, ok := decodeReplica(id, kv.Value); ok {
				v.replicas[id] = r
			}
		}
	}
	v.leaderRev = 0
	return v.setLeader(leader, rev, now)
}

// apply applies one watch event, and reports whether the group has become leaderless.
func (v *view) apply(ev *clientv3.Event, now time.Time) (vanished bool) {
	kind, id := v.parse(ev.Kv.Key)
	switch kind {
	case keyLeader:
		if ev.Type == mvccpb.DELETE {
			return v.setLeader(nil, ev.Kv.ModRevision, now)
		}
		return v.setLeader(ev.Kv, ev.Kv.ModRevision, now)
	case keyReplica:
		if r, ok := decodeReplica(id, ev.Kv.Value); ok && ev.Type == mvccpb.PUT {
			v.replicas[id] = r
		} else {
			delete(v.replicas, id)
		}
	}
	return false
}

// setLeader records the leader key as known at revision rev (kv nil: absent), unless the view
// knows it at a later revision already (a campaign's answer overtakes the watch). It reports
// whether the group has become leaderless.
func (v *view) setLeader(kv *mvccpb.KeyValue, rev int64, now time.Time) (vanished bool) {
	if rev <= v.leaderRev && v.leaderRev != 0 {
		return false
	}
	v.leaderRev = rev
	if kv != nil {
		v.leader = &leaderKV{Leader: decodeLeader(kv), lease: clientv3.LeaseID(kv.Lease)}
		v.goneAt = time.Time{}
		return false
	}
	v.leader = nil
	if v.goneAt.IsZero() {
		v.goneAt = now
		return true
	}
	return false
}

func (v *view) parse(key []byte) (keyKind, int64) {
	name, ok := strings.CutPrefix(string(key), v.dir)
	if !ok {
		return keyOther, 0
	}
	return parseName(name)
}

// better reports whether a is a better candidate than b: a higher maxOffset, then a higher
// epoch, then a lower brokerId.
func better(a, b Replica) bool {
	switch {
	case a.MaxOffset != b.MaxOffset:
		return a.MaxOffset > b.MaxOffset
	case a.Epoch != b.Epoch:
		return a.Epoch > b.Epoch
	}
	return a.BrokerID < b.BrokerID
}

// best returns the best live report; ok is false when there is none.
func (v *view) best() (best Replica, ok bool) {
	for _, r := range v.replicas {
		if !ok || better(r, best) {
			best, ok = r, true
		}
	}
	return best, ok
}

// decision is what the view asks of its replica.
type decision struct {
	campaign bool      // this replica is the best candidate of a settled, leaderless group
	wake     time.Time // when to decide again if nothing changes before (zero: never)
}

// decide says what to do at now. A led group asks nothing. A leaderless group waits settle
// from goneAt; then its best live replica campaigns, and the others look again at
// goneAt+settle+ttl and every ttl after (and whenever the view changes).
func (v *view) decide(now time.Time, settle, ttl time.Duration) decision {
	if v.leader != nil {
		return decision{}
	}
	settled := v.goneAt.Add(settle)
	if now.Before(settled) {
		return decision{wake: settled}
	}
	if b, ok := v.best(); ok && b.BrokerID == v.self {
		return decision{campaign: true}
	}
	periods := now.Sub(settled)/ttl + 1
	return decision{wake: settled.Add(periods * ttl)}
}
