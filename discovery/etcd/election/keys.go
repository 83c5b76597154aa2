package election

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The key layout under the prefix P (see the package doc). Wire format, never change.
const (
	haDir       = "/ha/"      // P/ha/<group>/...
	leaderName  = "leader"    // P/ha/<group>/leader → leaderRecord
	replicasDir = "replicas/" // P/ha/<group>/replicas/<brokerId> → Replica
)

// unknownID is the BrokerID of a leader whose value cannot be decoded.
const unknownID = int64(-1)

// Leader is a leadership: who holds it, and its epoch (the leader key's CreateRevision).
type Leader struct {
	BrokerID  int64
	Address   string
	HAAddress string
	// Epoch is the leader key's CreateRevision: it grows with every leadership in the etcd
	// cluster, and fences the leaders of older epochs.
	Epoch int64
}

// leaderRecord is the value of the leader key. Wire format: JSON, field names never change.
type leaderRecord struct {
	BrokerID  int64  `json:"brokerId"`
	Address   string `json:"address"`
	HAAddress string `json:"haAddress"`
}

// Replica is a replica's report, the value of its key. Wire format: JSON, field names never
// change.
type Replica struct {
	BrokerID  int64  `json:"brokerId"`
	Address   string `json:"address"`
	HAAddress string `json:"haAddress"`
	// MaxOffset is the end of the replica's log: the election's first criterion.
	MaxOffset int64 `json:"maxOffset"`
	// Epoch is the epoch of the last leadership the replica's data comes from: the second.
	Epoch int64 `json:"epoch"`
	// UpdatedMs is when the report was written, in ms since the epoch.
	UpdatedMs int64 `json:"updatedMs"`
}

// GroupState is one group's keys, as Groups reads them.
type GroupState struct {
	Group string
	// Leader is the group's leader, nil when it has none.
	Leader *Leader
	// Replicas are the live reports, by BrokerID.
	Replicas []Replica
}

// keys builds the keys of one group.
type keys struct {
	dir string // P/ha/<escaped group>/
}

func newKeys(prefix, group string) keys {
	return keys{dir: normPrefix(prefix) + haDir + url.PathEscape(group) + "/"}
}

func (k keys) leader() string { return k.dir + leaderName }

func (k keys) replica(id int64) string { return k.dir + replicasDir + strconv.FormatInt(id, 10) }

// keyKind says what a key holds.
type keyKind uint8

const (
	keyOther keyKind = iota // not a key of the layout: ignored
	keyLeader
	keyReplica
)

// parseKey returns what key (under P/ha/, with the P/ha/ cut off) holds, its group and, for
// a report, its broker id.
func parseKey(rest string) (kind keyKind, group string, id int64) {
	esc, name, ok := strings.Cut(rest, "/")
	if !ok {
		return keyOther, "", 0
	}
	group, err := url.PathUnescape(esc)
	if err != nil || group == "" {
		return keyOther, "", 0
	}
	if kind, id = parseName(name); kind == keyOther {
		return keyOther, "", 0
	}
	return kind, group, id
}

// parseName returns what a key of a group (with P/ha/<group>/ cut off) holds and, for a
// report, its broker id.
func parseName(name string) (kind keyKind, id int64) {
	if name == leaderName {
		return keyLeader, 0
	}
	idText, ok := strings.CutPrefix(name, replicasDir)
	if !ok {
		return keyOther, 0
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id < 0 || strconv.FormatInt(id, 10) != idText {
		return keyOther, 0
	}
	return keyReplica, id
}

// decodeLeader reads a leader key; a value that cannot be decoded is held by an unknown
// broker (BrokerID -1).
func decodeLeader(kv *mvccpb.KeyValue) Leader {
	var r leaderRecord
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		return Leader{BrokerID: unknownID, Epoch: kv.CreateRevision}
	}
	return Leader{BrokerID: r.BrokerID, Address: r.Address, HAAddress: r.HAAddress, Epoch: kv.CreateRevision}
}

// decodeReplica reads a report whose key names id; ok is false when it cannot be decoded or
// names another id.
func decodeReplica(id int64, v []byte) (Replica, bool) {
	var r Replica
	if err := json.Unmarshal(v, &r); err != nil || r.BrokerID != id {
		return Replica{}, false
	}
	return r, true
}

// Groups lists every group's leader and live replica reports under prefix (DefaultPrefix when
// ""), by group name, read at one revision.
func Groups(ctx context.Context, c *clientv3.Client, prefix string) ([]GroupState, error) {
	dir := normPrefix(prefix) + haDir
	resp, err := c.Get(ctx, dir, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("election: list groups under %s: %w", dir, err)
	}
	byName := map[string]*GroupState{}
	group := func(name string) *GroupState {
		g := byName[name]
		if g == nil {
			g = &GroupState{Group: name}
			byName[name] = g
		}
		return g
	}
	for _, kv := range resp.Kvs {
		kind, name, id := parseKey(strings.TrimPrefix(string(kv.Key), dir))
		switch kind {
		case keyLeader:
			l := decodeLeader(kv)
			group(name).Leader = &l
		case keyReplica:
			if r, ok := decodeReplica(id, kv.Value); ok {
				g := group(name)
				g.Replicas = append(g.Replicas, r)
			}
		}
	}
	out := make([]GroupState, 0, len(byName))
	for _, g := range byName {
		slices.SortFunc(g.Replicas, func(a, b Replica) int { return cmp.Compare(a.BrokerID, b.BrokerID) })
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b GroupState) int { return strings.Compare(a.Group, b.Group) })
	return out, nil
}
