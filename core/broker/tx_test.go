package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// Transactions over raw remoting: a transactional producer as the Go client v2.1.2 behaves
// (SEND_MESSAGE with TRAN_MSG and PGROUP, END_TRANSACTION, answers to CHECK_TRANSACTION_STATE
// on the connection its heartbeat registered).

const txTopic = "TxT"

// txProducer is a remoting client that registered a producer group by heartbeat and collects
// the CHECK_TRANSACTION_STATE requests the broker sends it.
type txProducer struct {
	t      *testing.T
	c      *brokertest.Cluster
	group  string
	cl     *remoting.Client
	checks chan *remoting.Command
	seq    atomic.Int64
}

func newTxProducer(t *testing.T, c *brokertest.Cluster, group string) *txProducer {
	t.Helper()
	p := &txProducer{t: t, c: c, group: group, checks: make(chan *remoting.Command, 64)}
	p.cl = remoting.NewClient(remoting.ClientOptions{Handler: remoting.HandlerFunc(
		func(ctx context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
			if req.Code == remoting.CheckTransactionState {
				select {
				case p.checks <- req:
				case <-ctx.Done():
				}
			}
			return nil
		})})
	t.Cleanup(func() { p.cl.Close() })
	p.heartbeat()
	return p
}

func (p *txProducer) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	p.t.Cleanup(cancel)
	return ctx
}

func (p *txProducer) invoke(req *remoting.Command) *remoting.Command {
	p.t.Helper()
	resp, err := p.cl.Invoke(p.ctx(), p.c.BrokerAddr, req)
	if err != nil {
		p.t.Fatalf("code %d: %v", req.Code, err)
	}
	return resp
}

func (p *txProducer) heartbeat() {
	p.t.Helper()
	body, _ := json.Marshal(protocol.HeartbeatData{ClientID: "127.0.0.1@" + p.group, ProducerDataSet: []protocol.ProducerData{{GroupName: p.group}}})
	if resp := p.invoke(remoting.NewRequest(remoting.HeartBeat, nil, body)); resp.Code != 0 {
		p.t.Fatalf("heartbeat: %v %s", remoting.Code(resp.Code), resp.Remark)
	}
}

// half is a sent half message: the send response and what the producer derives from it.
type half struct {
	body, uniq  string
	queueID     int32
	queueOffset int64 // tranStateTableOffset
	phy         int64 // commitLogOffset, decoded from the offset msgId
}

// send sends a transactional message as the Go client does (code 10, sysFlag |= 4).
func (p *txProducer) send(body string, queueID int32, extra ...string) half {
	p.t.Helper()
	uniq := fmt.Sprintf("%s-%d-%s", p.group, p.seq.Add(1), body)
	props := map[string]string{message.PropertyTransactionPrepared: "true", message.PropertyProducerGroup: p.group,
		message.PropertyUniqKey: uniq, message.PropertyTags: "tag-" + body, message.PropertyKeys: "key-" + body}
	for i := 0; i+1 < len(extra); i += 2 {
		props[extra[i]] = extra[i+1]
	}
	pb, _ := message.AppendProperties(nil, props)
	h := protocol.SendMessageHeader{ProducerGroup: p.group, Topic: txTopic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: queueID, SysFlag: message.TxPrepared, BornTimestamp: time.Now().UnixMilli(), Properties: string(pb) + "\x02"}
	resp := p.invoke(remoting.NewRequest(remoting.SendMessage, h.Encode(false), []byte(body)))
	if resp.Code != 0 {
		p.t.Fatalf("send half %q: %v %s", body, remoting.Code(resp.Code), resp.Remark)
	}
	var rh protocol.SendMessageResponseHeader
	if err := rh.Decode(resp); err != nil {
		p.t.Fatal(err)
	}
	if len(rh.MsgID) != 32 || rh.TransactionID != uniq || rh.QueueID != queueID {
		p.t.Fatalf("send response %+v", rh)
	}
	_, phy, err := message.ParseOffsetMsgID(rh.MsgID)
	if err != nil {
		p.t.Fatal(err)
	}
	return half{body: body, uniq: uniq, queueID: queueID, queueOffset: rh.QueueOffset, phy: phy}
}

// end sends END_TRANSACTION for h and returns the response code.
func (p *txProducer) end(h half, commitOrRollback int32, fromCheck bool) remoting.Code {
	p.t.Helper()
	eh := protocol.EndTransactionHeader{ProducerGroup: p.group, TranStateTableOffset: h.queueOffset, CommitLogOffset: h.phy,
		CommitOrRollback: commitOrRollback, FromTransactionCheck: fromCheck, MsgID: h.uniq, TransactionID: h.uniq}
	return remoting.Code(p.invoke(remoting.NewRequest(remoting.EndTransaction, eh.Encode(), nil)).Code)
}

// nextCheck waits for the next CHECK_TRANSACTION_STATE and returns the half it names, with the
// record it carries.
func (p *txProducer) nextCheck() (half, message.Record) {
	p.t.Helper()
	select {
	case req := <-p.checks:
		return p.decodeCheck(req)
	case <-time.After(20 * time.Second):
		p.t.Fatal("no CHECK_TRANSACTION_STATE within 20 s")
	}
	panic("unreachable")
}

func (p *txProducer) decodeCheck(req *remoting.Command) (half, message.Record) {
	p.t.Helper()
	if !req.IsOneway() {
		p.t.Errorf("CHECK_TRANSACTION_STATE without the oneway flag")
	}
	var ch protocol.CheckTransactionStateHeader
	if err := ch.Decode(req); err != nil {
		p.t.Fatal(err)
	}
	v, err := message.Parse(req.Body)
	if err != nil || v.Size() != len(req.Body) {
		p.t.Fatalf("check body: %v (%d of %d bytes)", err, v.Size(), len(req.Body))
	}
	r := v.Record()
	if ch.CommitLogOffset != r.PhysicalOffset || ch.TranStateTableOffset != r.QueueOffset || ch.TransactionID != ch.MsgID ||
		ch.OffsetMsgID != message.OffsetMsgID(r.StoreHost, r.PhysicalOffset) {
		p.t.Fatalf("check header %+v for record at %d/%d", ch, r.QueueOffset, r.PhysicalOffset)
	}
	return half{body: string(r.Body), uniq: ch.MsgID, queueID: r.QueueID, queueOffset: ch.TranStateTableOffset, phy: ch.CommitLogOffset}, r
}

// delivered returns the bodies in (topic, queueID), once everything stored is dispatched.
func delivered(t *testing.T, c *brokertest.Cluster, topic string, queueID int32) []message.Record {
	t.Helper()
	waitDispatched(t, c)
	res, err := c.Broker.Store().GetMessages(topic, queueID, 0, 32, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	var out []message.Record
	for _, b := range res.Messages {
		v, err := message.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v.Record())
	}
	return out
}

// pull pulls (topic, queueID) from offset over the wire, holding for up to suspend.
func pull(t *testing.T, cl *remoting.Client, addr, topic string, queueID int32, offset int64, suspend time.Duration) *remoting.Command {
	t.Helper()
	h := protocol.PullMessageHeader{ConsumerGroup: "cg-tx", Topic: topic, QueueID: queueID, QueueOffset: offset, MaxMsgNums: 32,
		SysFlag: 1<<1 | 1<<2, SuspendTimeoutMillis: suspend.Milliseconds(), Subscription: "*", ExpressionType: "TAG", CommitOffset: -1}
	ctx, cancel := context.WithTimeout(context.Background(), suspend+10*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, remoting.NewRequest(remoting.PullMessage, h.Encode(), nil))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func startTx(t *testing.T, configure func(*broker.Config)) *brokertest.Cluster {
	t.Helper()
	c := brokertest.Start(t, configure)
	createTopic(t, c, txTopic, 2)
	return c
}

// fastChecks makes the check loop run every 50 ms and check half messages 100 ms old.
func fastChecks(checkMax int) func(*broker.Config) {
	return func(cfg *broker.Config) {
		cfg.TransactionCheckInterval = config.Millis(50 * time.Millisecond)
		cfg.TransactionTimeOut = config.Millis(100 * time.Millisecond)
		cfg.TransactionCheckMax = checkMax
	}
}

func TestTransactionCommitVisibleOnce(t *testing.T) {
	c := startTx(t, nil)
	p := newTxProducer(t, c, "pg-commit")
	h := p.send("a", 1)
	if got := delivered(t, c, txTopic, 1); len(got) != 0 {
		t.Fatalf("half message visible before the commit: %d", len(got))
	}
	// A consumer's held pull is answered by the commit.
	cl := remoting.NewClient(remoting.ClientOptions{})
	defer cl.Close()
	pulled := make(chan *remoting.Command, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		ph := protocol.PullMessageHeader{ConsumerGroup: "cg-tx", Topic: txTopic, QueueID: 1, MaxMsgNums: 32,
			SysFlag: 1<<1 | 1<<2, SuspendTimeoutMillis: 10_000, Subscription: "*", ExpressionType: "TAG", CommitOffset: -1}
		resp, err := cl.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(remoting.PullMessage, ph.Encode(), nil))
		if err != nil {
			t.Error(err)
		}
		pulled <- resp
	}()
	if code := p.end(h, protocol.TransactionCommit, false); code != remoting.Success {
		t.Fatalf("commit: %v", code)
	}
	resp := <-pulled
	if resp == nil || resp.Code != 0 {
		t.Fatalf("held pull: %+v", resp)
	}
	v, err := message.Parse(resp.Body)
	if err != nil || v.Size() != len(resp.Body) {
		t.Fatalf("pulled %d bytes: %v", len(resp.Body), err)
	}
	r := v.Record()
	props := message.ParseProperties([]byte(r.Properties))
	if r.Topic != txTopic || r.QueueID != 1 || r.QueueOffset != 0 || string(r.Body) != "a" ||
		message.TxType(r.SysFlag) != message.TxCommit || r.PreparedTransactionOffset != h.phy {
		t.Fatalf("committed record %+v", r)
	}
	for _, k := range []string{message.PropertyTransactionPrepared, message.PropertyRealTopic, message.PropertyRealQueueID} {
		if _, has := props[k]; has {
			t.Errorf("committed record has %s: %v", k, props)
		}
	}
	if props[message.PropertyUniqKey] != h.uniq || props[message.PropertyProducerGroup] != "pg-commit" || props[message.PropertyTags] != "tag-a" {
		t.Errorf("committed record properties %v", props)
	}
	if e, err := c.Broker.Store().QueueEntry(txTopic, 1, 0); err != nil || e.TagsCode != message.TagsCode("tag-a") {
		t.Errorf("consume queue entry %+v, %v: tags code not recomputed", e, err)
	}
	// Repeats: answered consistently, never delivered again.
	if code := p.end(h, protocol.TransactionCommit, true); code != remoting.Success {
		t.Errorf("second commit: %v", code)
	}
	if code := p.end(h, protocol.TransactionRollback, false); code != remoting.TransactionShouldCommit {
		t.Errorf("rollback after commit: %v", code)
	}
	if code := p.end(h, protocol.TransactionNotType, false); code != remoting.Success {
		t.Errorf("unknown after commit: %v", code)
	}
	if got := delivered(t, c, txTopic, 1); len(got) != 1 {
		t.Fatalf("%d messages delivered, want 1", len(got))
	}
	if resp := pull(t, cl, c.BrokerAddr, txTopic, 1, 1, 0); remoting.Code(resp.Code) != remoting.PullNotFound {
		t.Fatalf("pull after the message: %v", remoting.Code(resp.Code))
	}
}

func TestTransactionRollbackNeverVisible(t *testing.T) {
	c := startTx(t, nil)
	p := newTxProducer(t, c, "pg-rollback")
	h := p.send("r", 0)
	if code := p.end(h, protocol.TransactionNotType, false); code != remoting.Success {
		t.Fatalf("unknown: %v", code)
	}
	if got := delivered(t, c, "RMQ_SYS_TRANS_OP_HALF_TOPIC", 0); len(got) != 0 {
		t.Fatalf("unknown wrote %d op records", len(got))
	}
	if code := p.end(h, protocol.TransactionRollback, false); code != remoting.Success {
		t.Fatalf("rollback: %v", code)
	}
	if code := p.end(h, protocol.TransactionRollback, true); code != remoting.Success {
		t.Errorf("second rollback: %v", code)
	}
	if code := p.end(h, protocol.TransactionCommit, true); code != remoting.TransactionShouldRollback {
		t.Errorf("commit after rollback: %v", code)
	}
	ops := delivered(t, c, "RMQ_SYS_TRANS_OP_HALF_TOPIC", 0)
	if len(ops) != 1 || string(ops[0].Body) != strconv.FormatInt(h.queueOffset, 10) {
		t.Fatalf("op records %+v", ops)
	}
	if tags, _ := message.Property([]byte(ops[0].Properties), message.PropertyTags); string(tags) != "d" {
		t.Errorf("op record tags %q", tags)
	}
	for q := range int32(2) {
		if got := delivered(t, c, txTopic, q); len(got) != 0 {
			t.Fatalf("rolled-back message delivered to queue %d", q)
		}
	}
}

func TestTransactionEndRejectsMismatch(t *testing.T) {
	c := startTx(t, nil)
	p := newTxProducer(t, c, "pg-bad")
	h := p.send("x", 0)
	other := newTxProducer(t, c, "pg-other")
	for name, bad := range map[string]half{
		"wrong queue offset": {uniq: h.uniq, queueOffset: h.queueOffset + 5, phy: h.phy},
		"no message there":   {uniq: h.uniq, queueOffset: h.queueOffset, phy: h.phy + 1},
	} {
		if code := p.end(bad, protocol.TransactionCommit, false); code != remoting.SystemError {
			t.Errorf("%s: %v", name, code)
		}
	}
	if code := other.end(h, protocol.TransactionCommit, false); code != remoting.SystemError {
		t.Errorf("another producer group: %v", code)
	}
	// A batch cannot be transactional.
	props, _ := message.AppendProperties(nil, map[string]string{message.PropertyTransactionPrepared: "true"})
	bh := protocol.SendMessageHeader{ProducerGroup: "pg-bad", Topic: txTopic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		BornTimestamp: time.Now().UnixMilli(), Properties: string(props), Batch: true}
	body := message.AppendBatchElement(nil, 0, []byte("b"), nil)
	if resp := p.invoke(remoting.NewRequest(remoting.SendBatchMessage, bh.Encode(true), body)); remoting.Code(resp.Code) != remoting.MessageIllegal {
		t.Errorf("transactional batch: %v", remoting.Code(resp.Code))
	}
	if got := delivered(t, c, txTopic, 0); len(got) != 0 {
		t.Fatalf("delivered %d", len(got))
	}
}

func TestTransactionCheckThenCommit(t *testing.T) {
	c := startTx(t, fastChecks(1000))
	p := newTxProducer(t, c, "pg-check")
	h := p.send("u", 1)
	// Left unknown: the broker asks the producer, on its connection.
	chk, rec := p.nextCheck()
	props := message.ParseProperties([]byte(rec.Properties))
	if rec.Topic != txTopic || rec.QueueID != 1 || string(rec.Body) != "u" || chk.uniq != h.uniq ||
		props[message.PropertyProducerGroup] != "pg-check" || props[message.PropertyUniqKey] != h.uniq ||
		props[message.PropertyTransactionCheckTimes] != "1" || chk.phy == h.phy {
		t.Fatalf("check %+v, record %+v", chk, rec)
	}
	// The producer answers the check: commit, delivered once; answers to later checks and its
	// own late commit change nothing.
	if code := p.end(chk, protocol.TransactionCommit, true); code != remoting.Success {
		t.Fatalf("commit from the check: %v", code)
	}
	if code := p.end(h, protocol.TransactionCommit, false); code != remoting.Success {
		t.Fatalf("late commit of the original: %v", code)
	}
	got := delivered(t, c, txTopic, 1)
	if len(got) != 1 || string(got[0].Body) != "u" || got[0].PreparedTransactionOffset != chk.phy {
		t.Fatalf("delivered %+v", got)
	}
drain:
	for {
		select {
		case req := <-p.checks: // checks sent before the commit, still in flight: answer them too
			late, _ := p.decodeCheck(req)
			if code := p.end(late, protocol.TransactionCommit, true); code != remoting.Success {
				t.Errorf("commit answering a late check: %v", code)
			}
		default:
			break drain
		}
	}
	if got := delivered(t, c, txTopic, 1); len(got) != 1 {
		t.Fatalf("delivered %d times", len(got))
	}
}

func TestTransactionCheckMaxDiscards(t *testing.T) {
	c := startTx(t, fastChecks(2))
	p := newTxProducer(t, c, "pg-silent")
	h := p.send("s", 0)
	first, r1 := p.nextCheck()
	_, r2 := p.nextCheck()
	for i, r := range []message.Record{r1, r2} {
		if n := message.ParseProperties([]byte(r.Properties))[message.PropertyTransactionCheckTimes]; n != strconv.Itoa(i+1) {
			t.Fatalf("check %d carries TRANSACTION_CHECK_TIMES %q", i+1, n)
		}
	}
	// Then it is moved to TRANS_CHECK_MAX_TIME_TOPIC: wait for it there with a held pull.
	cl := remoting.NewClient(remoting.ClientOptions{})
	defer cl.Close()
	resp := pull(t, cl, c.BrokerAddr, protocol.TransCheckMaxTimeTopic, 0, 0, 10*time.Second)
	if resp.Code != 0 {
		t.Fatalf("pull %s: %v", protocol.TransCheckMaxTimeTopic, remoting.Code(resp.Code))
	}
	v, err := message.Parse(resp.Body)
	if err != nil || string(v.Body()) != "s" || message.TxType(v.SysFlag()) != message.TxNotType {
		t.Fatalf("discarded record: %v", err)
	}
	if code := p.end(first, protocol.TransactionCommit, true); code != remoting.TransactionShouldRollback {
		t.Errorf("commit after the discard: %v", code)
	}
	if code := p.end(h, protocol.TransactionCommit, false); code != remoting.TransactionShouldRollback && code != remoting.SystemError {
		t.Errorf("commit of the original after the discard: %v", code)
	}
	if got := delivered(t, c, txTopic, 0); len(got) != 0 {
		t.Fatalf("discarded transaction delivered")
	}
}

func TestTransactionRestartKeepsOutcomes(t *testing.T) {
	c := startTx(t, nil) // the check loop does not run within the test
	p := newTxProducer(t, c, "pg-restart")
	pending, committed, rolledBack := p.send("pending", 0), p.send("committed", 0), p.send("rolled-back", 0)
	if code := p.end(committed, protocol.TransactionCommit, false); code != remoting.Success {
		t.Fatal(code)
	}
	if code := p.end(rolledBack, protocol.TransactionRollback, false); code != remoting.Success {
		t.Fatal(code)
	}
	c.RestartBroker(t)
	p.cl.CloseConn(c.BrokerAddr)
	p.heartbeat()
	for _, tc := range []struct {
		name string
		h    half
		how  int32
		want remoting.Code
	}{
		{"commit the committed", committed, protocol.TransactionCommit, remoting.Success},
		{"roll back the committed", committed, protocol.TransactionRollback, remoting.TransactionShouldCommit},
		{"commit the rolled back", rolledBack, protocol.TransactionCommit, remoting.TransactionShouldRollback},
		{"commit the pending", pending, protocol.TransactionCommit, remoting.Success},
		{"commit the pending again", pending, protocol.TransactionCommit, remoting.Success},
	} {
		if code := p.end(tc.h, tc.how, false); code != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, code, tc.want)
		}
	}
	got := delivered(t, c, txTopic, 0)
	if len(got) != 2 || string(got[0].Body) != "committed" || string(got[1].Body) != "pending" {
		t.Fatalf("delivered %d messages", len(got))
	}
}

func TestTransactionRestartKeepsPending(t *testing.T) {
	c := startTx(t, fastChecks(1000))
	p := newTxProducer(t, c, "pg-pending")
	pending, committed := p.send("pending", 1), p.send("committed", 1)
	if code := p.end(committed, protocol.TransactionCommit, false); code != remoting.Success {
		t.Fatal(code)
	}
	if chk, _ := p.nextCheck(); chk.uniq != pending.uniq { // the loop got past both
		t.Fatalf("checked %q", chk.body)
	}
	c.RestartBroker(t)
	p.cl.CloseConn(c.BrokerAddr)
	for len(p.checks) > 0 {
		<-p.checks
	}
	p.heartbeat()
	chk, _ := p.nextCheck() // still pending after the restart
	if chk.uniq != pending.uniq {
		t.Fatalf("checked %q after the restart", chk.body)
	}
	if code := p.end(chk, protocol.TransactionCommit, true); code != remoting.Success {
		t.Fatalf("commit from the check: %v", code)
	}
	// The committed one stays committed: whether its outcome is still kept or already
	// forgotten, it is refused or accepted without a second delivery.
	if code := p.end(committed, protocol.TransactionCommit, false); code != remoting.Success && code != remoting.SystemError {
		t.Errorf("commit of the committed after the restart: %v", code)
	}
	got := delivered(t, c, txTopic, 1)
	if len(got) != 2 || string(got[0].Body) != "committed" || string(got[1].Body) != "pending" {
		t.Fatalf("delivered %d messages", len(got))
	}
}

func TestTransactionConfig(t *testing.T) {
	cfg := broker.DefaultConfig(t.TempDir())
	if cfg.TransactionTimeOut.D() != 6*time.Second || cfg.TransactionCheckInterval.D() != time.Minute || cfg.TransactionCheckMax != 15 {
		t.Fatalf("defaults %v %v %d", cfg.TransactionTimeOut, cfg.TransactionCheckInterval, cfg.TransactionCheckMax)
	}
	for _, kv := range []string{"transactionTimeOut=2s", "transactionCheckInterval=500", "transactionCheckMax=3"} {
		if err := cfg.Set(kv); err != nil {
			t.Fatalf("%s: %v", kv, err)
		}
	}
	if cfg.TransactionTimeOut.D() != 2*time.Second || cfg.TransactionCheckInterval.D() != 500*time.Millisecond || cfg.TransactionCheckMax != 3 {
		t.Fatalf("set %v %v %d", cfg.TransactionTimeOut, cfg.TransactionCheckInterval, cfg.TransactionCheckMax)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, kv := range []string{"transactionCheckMax=0", "transactionCheckInterval=0", "transactionTimeOut=-1"} {
		bad := broker.DefaultConfig(t.TempDir())
		if err := bad.Set(kv); err != nil {
			t.Fatalf("%s: %v", kv, err)
		}
		if err := bad.Validate(); err == nil {
			t.Errorf("%s accepted", kv)
		}
	}
}
