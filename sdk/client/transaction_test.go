package client

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/remoting"
)

// testTxListener decides local transactions by message body: "commit…", "rollback…", and
// anything else unknown until checked, when it commits.
type testTxListener struct {
	mu      sync.Mutex
	checked map[string]*MessageExt // by body
	checkCh chan struct{}
	halves  map[string]*SendResult // by body, as ExecuteLocal saw them
}

func newTestTxListener() *testTxListener {
	return &testTxListener{checked: map[string]*MessageExt{}, halves: map[string]*SendResult{}, checkCh: make(chan struct{}, 1)}
}

func (l *testTxListener) ExecuteLocal(_ context.Context, msg *Message, half *SendResult) TxState {
	l.mu.Lock()
	l.halves[string(msg.Body)] = half
	l.mu.Unlock()
	switch {
	case strings.HasPrefix(string(msg.Body), "commit"):
		return TxCommit
	case strings.HasPrefix(string(msg.Body), "rollback"):
		return TxRollback
	}
	return TxUnknown
}

func (l *testTxListener) Check(_ context.Context, msg *MessageExt) TxState {
	l.mu.Lock()
	l.checked[string(msg.Body)] = msg
	l.mu.Unlock()
	select {
	case l.checkCh <- struct{}{}:
	default:
	}
	return TxCommit
}

// TestTransactionProducer: a committed transaction is visible, a rolled-back one never, and
// an unknown one becomes visible once the broker's check reaches the producer's listener.
func TestTransactionProducer(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "Tx")
	c := prodCluster(t, topic, 1, func(cfg *broker.Config) {
		cfg.TransactionTimeOut = config.Millis(300 * time.Millisecond)
		cfg.TransactionCheckInterval = config.Millis(300 * time.Millisecond)
	})
	l := newTestTxListener()
	// No periodic heartbeat within the test: the one sent when the producer first reaches the
	// broker is what lets the broker's check find it.
	tp, err := NewTransactionProducer(prodName(t, "txg"), l, WithNameServers(c.NamesrvAddr), WithHeartbeatInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer prodClose(t, tp)
	ctx := prodCtx(t, 20*time.Second)

	results := map[string]*TransactionResult{}
	for _, body := range []string{"commit-1", "rollback-1", "unknown-1"} {
		res, err := tp.SendInTransaction(ctx, &Message{Topic: topic, Body: []byte(body), Tag: "tx"})
		if errors.Is(err, ErrNoPermission) && strings.Contains(err.Error(), "not supported") {
			t.Skipf("the broker has no transaction support yet: %v", err)
		}
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		results[body] = res
	}
	for body, want := range map[string]TxState{"commit-1": TxCommit, "rollback-1": TxRollback, "unknown-1": TxUnknown} {
		res := results[body]
		if res.State != want || res.Status != SendOK || res.TransactionID == "" || len(res.MsgID) != 32 {
			t.Errorf("%s: result %+v", body, res)
		}
		if h := l.halves[body]; h == nil || h.MsgID != res.MsgID {
			t.Errorf("%s: ExecuteLocal saw %+v", body, h)
		}
	}

	// The committed and the checked-then-committed messages arrive; the rolled-back never does
	// (it would have been visible before the unknown one, resolved only by a later check).
	got, err := newProdPuller(t, c.BrokerAddr).until(ctx, topic, 0, func(ms []*MessageExt) bool { return len(ms) >= 2 })
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]*MessageExt{}
	for _, m := range got {
		seen[string(m.Body)] = m
	}
	for _, body := range []string{"commit-1", "unknown-1"} {
		m := seen[body]
		if m == nil {
			t.Errorf("%s not visible; got %d messages", body, len(got))
			continue
		}
		if m.MsgID != results[body].MsgID || m.Tag != "tx" || message.TxType(m.SysFlag) != message.TxCommit || m.Properties[message.PropertyTransactionPrepared] != "" {
			t.Errorf("%s visible as %+v", body, m)
		}
	}
	if seen["rollback-1"] != nil || len(got) != 2 {
		t.Errorf("visible: %v", keysOf(seen))
	}
	l.mu.Lock()
	checked := l.checked["unknown-1"]
	l.mu.Unlock()
	if checked == nil || checked.Topic != topic || checked.MsgID != results["unknown-1"].MsgID || checked.Properties[message.PropertyProducerGroup] != tp.Group() {
		t.Errorf("check of unknown-1: %+v", checked)
	}
	if stored := prodStored(t, c, topic, 1); len(stored) != 2 {
		t.Errorf("%d messages stored in %s", len(stored), topic)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestTransactionProducerRefuses(t *testing.T) {
	t.Parallel()
	if _, err := NewTransactionProducer("txg", nil, WithNameServers("127.0.0.1:1")); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("nil listener: %v", err)
	}
	tp, err := NewTransactionProducer("txg", newTestTxListener(), WithNameServers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := prodCtx(t, 10*time.Second)
	for _, m := range []*Message{
		{Topic: "T", Body: []byte("x"), DelayLevel: 3},
		{Topic: "T", Body: []byte("x"), DeliverAt: time.Now()},
		{Topic: "T"},
	} {
		if _, err := tp.SendInTransaction(ctx, m); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%+v: %v", m, err)
		}
	}
	prodClose(t, tp)
	if _, err := tp.SendInTransaction(ctx, &Message{Topic: "T", Body: []byte("x")}); !errors.Is(err, ErrClosed) {
		t.Errorf("after close: %v", err)
	}
}

// TestTransactionCheckQueue: a check is queued for the workers only if it is well-formed and
// its half message belongs to the producer's group (the broker asks that group's producers).
func TestTransactionCheckQueue(t *testing.T) {
	t.Parallel()
	// No worker runs: the queued checks stay in the queue for the test to see.
	tp := &TransactionProducer{listener: newTestTxListener(), checks: make(chan checkJob, 1)}
	tp.Producer = &Producer{group: "txg", log: slog.New(slog.DiscardHandler), in: &instance{}}
	header := map[string]string{"tranStateTableOffset": "1", "commitLogOffset": "2", "msgId": "ID"}
	record := func(group string) []byte {
		props, _ := message.AppendProperties(nil, map[string]string{message.PropertyProducerGroup: group, message.PropertyUniqKey: "ID", message.PropertyTransactionPrepared: "true"})
		return message.AppendRecord(nil, &message.Record{Topic: "T", Body: []byte("x"), Properties: string(props)})
	}
	for _, tc := range []struct {
		name   string
		fields map[string]string
		body   []byte
		want   bool
	}{
		{"bad header", map[string]string{"commitLogOffset": "x"}, record("txg"), false},
		{"no record", header, nil, false},
		{"torn record", header, record("txg")[:50], false},
		{"other group", header, record("other"), false},
		{"own group", header, record("txg"), true},
		{"queue full", header, record("txg"), false},
	} {
		if got := tp.queueCheck("127.0.0.1:9", remoting.NewRequest(remoting.CheckTransactionState, tc.fields, tc.body)); got != tc.want {
			t.Errorf("%s: queued %v", tc.name, got)
		}
	}
	j := <-tp.checks
	if j.broker != "127.0.0.1:9" || j.header.CommitLogOffset != 2 || j.msg.MsgID != "ID" || j.msg.Topic != "T" {
		t.Errorf("queued %+v", j)
	}
}

// TestTransactionCheckAfterBrokerRestart: after the broker restarts, the producer's new
// connection to it carries a heartbeat at once, so the broker's checks find the producer
// without waiting for the periodic heartbeat (an hour here).
func TestTransactionCheckAfterBrokerRestart(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "TxRestart")
	c := prodCluster(t, topic, 1, func(cfg *broker.Config) {
		cfg.TransactionTimeOut = config.Millis(300 * time.Millisecond)
		cfg.TransactionCheckInterval = config.Millis(300 * time.Millisecond)
	})
	l := newTestTxListener()
	tp, err := NewTransactionProducer(prodName(t, "txg"), l, WithNameServers(c.NamesrvAddr), WithHeartbeatInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer prodClose(t, tp)
	ctx := prodCtx(t, 30*time.Second)
	if _, err := tp.SendInTransaction(ctx, &Message{Topic: topic, Body: []byte("commit-before")}); err != nil {
		t.Fatal(err)
	}
	c.RestartBroker(t)
	var res *TransactionResult
	for res == nil { // the first attempt may meet the connection the restart closed
		if res, err = tp.SendInTransaction(ctx, &Message{Topic: topic, Body: []byte("unknown-after")}); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("send after restart: %v", err)
			}
			res = nil
		}
	}
	if res.State != TxUnknown {
		t.Fatalf("state %v", res.State)
	}
	for {
		select {
		case <-l.checkCh:
		case <-ctx.Done():
			t.Fatal("the broker's check never reached the producer after the restart")
		}
		l.mu.Lock()
		got := l.checked["unknown-after"]
		l.mu.Unlock()
		if got != nil {
			return
		}
	}
}
