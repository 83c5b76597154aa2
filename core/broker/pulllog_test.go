package broker

import (
	"fmt"
	"testing"

	"github.com/ternmq/tern/core/protocol"
)

// fakeConn is a connection whose heartbeat announced id (a string, or nil before one), kept
// as the connection keeps its values.
type fakeConn struct {
	id   any
	addr string
}

func (c fakeConn) RemoteAddr() string { return c.addr }
func (c fakeConn) Value(key any) any {
	if _, ok := key.(clientIDKey); ok {
		return c.id
	}
	return nil
}

func TestPullLog(t *testing.T) {
	l := newPullLog(1000)
	h := &protocol.PullMessageHeader{ConsumerGroup: "g", Topic: "T", QueueID: 1, QueueOffset: 10}
	l.note(fakeConn{"c1", "10.0.0.1:5000"}, h, 20, 2000)
	h2 := *h
	h2.QueueOffset = 20
	l.note(fakeConn{"c2", "10.0.0.2:5000"}, &h2, 25, 3000)
	l.note(fakeConn{nil, "10.0.0.3:5000"}, &protocol.PullMessageHeader{ConsumerGroup: "other", Topic: "T", QueueID: 1}, 5, 4000)

	for _, tc := range []struct {
		name      string
		off       int64
		delivered []bool // c2, c1: newest first
		past      []bool
	}{
		{"before both", 5, []bool{false, false}, []bool{true, true}},
		{"in the first", 12, []bool{false, true}, []bool{true, true}},
		{"in the second", 22, []bool{true, false}, []bool{true, false}},
		{"after both", 25, []bool{false, false}, []bool{false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := l.pulls("g", "T", 1, tc.off)
			if len(got) != 2 || got[0].ClientID != "c2" || got[1].ClientID != "c1" || got[1].RemoteAddr != "10.0.0.1:5000" || got[1].At != 2000 {
				t.Fatalf("pulls: %+v", got)
			}
			for i, p := range got {
				if p.Delivered != tc.delivered[i] || p.PulledPast != tc.past[i] {
					t.Errorf("%s at %d: delivered %v past %v, want %v %v", p.ClientID, tc.off, p.Delivered, p.PulledPast, tc.delivered[i], tc.past[i])
				}
			}
		})
	}
	if got := l.pulls("g", "T", 0, 0); len(got) != 0 {
		t.Errorf("another queue: %+v", got)
	}
}

func TestPullLogBounded(t *testing.T) {
	l := newPullLog(0)
	c := fakeConn{"c", "a"}
	for i := range maxPullMarks + 100 {
		l.note(c, &protocol.PullMessageHeader{ConsumerGroup: "g", Topic: fmt.Sprint("T", i)}, 1, 1)
	}
	if n := len(l.marks); n != maxPullMarks {
		t.Fatalf("%d marks, want at most %d", n, maxPullMarks)
	}
}

func TestPullLogNoteAllocs(t *testing.T) {
	l := newPullLog(0)
	var c pullConn = fakeConn{"c", "a"}
	h := &protocol.PullMessageHeader{ConsumerGroup: "g", Topic: "T", QueueID: 3, QueueOffset: 7}
	l.note(c, h, 8, 1)
	if n := testing.AllocsPerRun(100, func() { l.note(c, h, 9, 2) }); n != 0 {
		t.Errorf("note of a known queue allocates %v times", n)
	}
}
