package broker

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// The pull log answers "delivered to which clients" for `tern admin trace`: for every
// (group, topic, queue, client) it keeps the last pull response that carried messages — the
// queue-offset range it covered and when. It lives in memory and starts empty with the broker
// (MessageTrace.PullsSince). Recording costs one mutex and one map write per pull response with
// messages, and allocates only when a new key appears. The log holds at most maxPullMarks keys;
// a new key when it is full evicts an arbitrary old one (the trace then knows less, never
// something false).

// maxPullMarks bounds the pull log (about 100 bytes a key).
const maxPullMarks = 1 << 16

// clientIDKey tags a connection with the client id of its last heartbeat
// (remoting.Conn.SetValue): pulls carry no client id of their own.
type clientIDKey struct{}

// pullConn is what the pull log needs of a connection (*remoting.Conn).
type pullConn interface {
	RemoteAddr() string
	Value(key any) any
}

var _ pullConn = (*remoting.Conn)(nil)

// connClientID returns the client id the connection's heartbeat announced, "" before one.
func connClientID(conn pullConn) string {
	id, _ := conn.Value(clientIDKey{}).(string)
	return id
}

// pullKey names one client's view of a group's queue.
type pullKey struct {
	group, topic, client string
	queue                int32
}

// pullMark is the last pull response with messages of a pullKey.
type pullMark struct {
	addr       string
	from, next int64 // queue offsets [from, next) the response covered
	at         int64 // ms
}

// pullLog is the bounded record of pulls. It is safe for concurrent use.
type pullLog struct {
	since int64 // ms: when recording began

	mu    sync.Mutex
	marks map[pullKey]pullMark
}

func newPullLog(since int64) *pullLog {
	return &pullLog{since: since, marks: map[pullKey]pullMark{}}
}

// note records a pull response that carried the messages [h.QueueOffset, next) of the group's
// queue to the client on conn, at time at (ms).
func (l *pullLog) note(conn pullConn, h *protocol.PullMessageHeader, next, at int64) {
	k := pullKey{group: h.ConsumerGroup, topic: h.Topic, client: connClientID(conn), queue: h.QueueID}
	m := pullMark{addr: conn.RemoteAddr(), from: h.QueueOffset, next: next, at: at}
	l.mu.Lock()
	if _, ok := l.marks[k]; !ok && len(l.marks) >= maxPullMarks {
		for old := range l.marks {
			delete(l.marks, old)
			break
		}
	}
	l.marks[k] = m
	l.mu.Unlock()
}

// pulls returns the group's pull records on a queue as seen for the message at queue offset
// off, newest first.
func (l *pullLog) pulls(group, topic string, queue int32, off int64) []protocol.TracePull {
	var out []protocol.TracePull
	l.mu.Lock()
	for k, m := range l.marks {
		if k.group != group || k.topic != topic || k.queue != queue {
			continue
		}
		out = append(out, protocol.TracePull{
			ClientID: k.client, RemoteAddr: m.addr, At: m.at, From: m.from, Next: m.next,
			Delivered: m.from <= off && off < m.next, PulledPast: m.next > off,
		})
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b protocol.TracePull) int {
		return cmp.Or(cmp.Compare(b.At, a.At), strings.Compare(a.ClientID, b.ClientID))
	})
	return out
}
