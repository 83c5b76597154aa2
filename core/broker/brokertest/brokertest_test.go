package brokertest

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// TestMain checks that a broker and a NameServer stop every goroutine they start.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartSendPullStop(t *testing.T) {
	c := Start(t, nil)
	if err := c.CreateTopic("T", 2); err != nil {
		t.Fatal(err)
	}
	cl := remoting.NewClient(remoting.ClientOptions{})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A long-polling pull, answered when the send arrives.
	pulled := make(chan *remoting.Command, 1)
	go func() {
		h := protocol.PullMessageHeader{ConsumerGroup: "g", Topic: "T", QueueID: 1, MaxMsgNums: 32, SysFlag: 1<<1 | 1<<2,
			SuspendTimeoutMillis: 5000, Subscription: "*", ExpressionType: "TAG", CommitOffset: -1}
		resp, err := cl.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(remoting.PullMessage, h.Encode(), nil))
		if err != nil {
			t.Error(err)
		}
		pulled <- resp
	}()
	for c.Broker.Store().CommitLogMaxOffset() == 0 && len(pulled) == 0 {
		h := protocol.SendMessageHeader{ProducerGroup: "p", Topic: "T", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 1, BornTimestamp: time.Now().UnixMilli()}
		resp, err := cl.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(remoting.SendMessageV2, h.Encode(true), []byte("hi")))
		if err != nil || resp.Code != 0 {
			t.Fatalf("send: %v %v", err, resp)
		}
	}
	resp := <-pulled
	if resp == nil || resp.Code != 0 || len(resp.Body) == 0 {
		t.Fatalf("held pull answered with %+v", resp)
	}
	// Route from the NameServer.
	rh := protocol.GetRouteInfoHeader{Topic: "T"}
	r, err := cl.Invoke(ctx, c.NamesrvAddr, remoting.NewRequest(remoting.GetRouteInfoByTopic, rh.Encode(), nil))
	if err != nil || r.Code != 0 {
		t.Fatalf("route: %v %+v", err, r)
	}
	// Runtime info, a heartbeat, and the consumer connection list it shows up in.
	info, err := cl.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(remoting.GetBrokerRuntimeInfo, nil, nil))
	if err != nil || info.Code != 0 || !strings.Contains(string(info.Body), "commitLogMaxOffset") {
		t.Fatalf("runtime info: %v %+v", err, info)
	}
	hb := protocol.HeartbeatData{ClientID: "127.0.0.1@test", ConsumerDataSet: []protocol.ConsumerData{{
		GroupName: "g", ConsumeType: "CONSUME_PASSIVELY", MessageModel: protocol.Clustering, ConsumeFromWhere: "CONSUME_FROM_LAST_OFFSET",
		SubscriptionDataSet: []protocol.SubscriptionData{protocol.NewSubscriptionData("T", "*", "TAG")},
	}}}
	body, _ := json.Marshal(hb)
	if resp, err := cl.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(remoting.HeartBeat, nil, body)); err != nil || resp.Code != 0 {
		t.Fatalf("heartbeat: %v %+v", err, resp)
	}
	gh := protocol.ConsumerGroupHeader{ConsumerGroup: "g"}
	conns, err := cl.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(remoting.GetConsumerConnectionList, gh.Encode(), nil))
	if err != nil || conns.Code != 0 || !strings.Contains(string(conns.Body), "127.0.0.1@test") {
		t.Fatalf("consumer connections: %v %+v", err, conns)
	}
	list, err := cl.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(remoting.GetConsumerListByGroup, gh.Encode(), nil))
	if err != nil || list.Code != 0 || !strings.Contains(string(list.Body), "127.0.0.1@test") {
		t.Fatalf("consumer list: %v %+v", err, list)
	}
	c.RestartBroker(t)
}

// TestSyncFlushSends: with SYNC_FLUSH the store's flusher answers sends (concurrent ones,
// batches, oneway ones) once they are on the disk: each acknowledged record lies below the
// readable end of the log, which moves at the flush, and the answers leave no goroutine behind
// (TestMain).
func TestSyncFlushSends(t *testing.T) {
	c := Start(t, func(cfg *broker.Config) { cfg.Store.FlushDiskType = "SYNC_FLUSH" })
	if err := c.CreateTopic("S", 4); err != nil {
		t.Fatal(err)
	}
	cl := remoting.NewClient(remoting.ClientOptions{})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := c.Broker.Store()
	send := func(code int16, batch bool, body []byte) (protocol.SendMessageResponseHeader, error) {
		h := protocol.SendMessageHeader{ProducerGroup: "p", Topic: "S", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 2,
			BornTimestamp: time.Now().UnixMilli(), Batch: batch}
		resp, err := cl.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(code, h.Encode(true), body))
		var rh protocol.SendMessageResponseHeader
		if err == nil {
			err = remoting.ResponseErr(resp)
		}
		if err == nil {
			err = rh.Decode(resp)
		}
		if err != nil {
			return rh, err
		}
		for id := range strings.SplitSeq(rh.MsgID, ",") {
			_, phy, err := message.ParseOffsetMsgID(id)
			if err != nil {
				return rh, err
			}
			if end := st.CommitLogMaxOffset(); phy >= end {
				return rh, fmt.Errorf("acknowledged record at %d, the log is readable (flushed) below %d", phy, end)
			}
		}
		return rh, nil
	}
	const senders, each = 8, 16
	offsets := make(chan int64, senders*each)
	errs := make(chan error, senders)
	for range senders {
		go func() {
			for range each {
				rh, err := send(remoting.SendMessageV2, false, []byte("sync"))
				if err != nil {
					errs <- err
					return
				}
				offsets <- rh.QueueOffset
			}
			errs <- nil
		}()
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(offsets)
	seen := map[int64]bool{}
	for off := range offsets {
		if seen[off] {
			t.Fatalf("queue offset %d acknowledged twice", off)
		}
		seen[off] = true
	}
	var batch []byte
	for i := range 3 {
		batch = message.AppendBatchElement(batch, 0, []byte(fmt.Sprint("b", i)), nil)
	}
	rh, err := send(remoting.SendBatchMessage, true, batch)
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	if n := strings.Count(rh.MsgID, ",") + 1; n != 3 || rh.QueueOffset != senders*each {
		t.Fatalf("batch: %d ids, queue offset %d", n, rh.QueueOffset)
	}
	// A oneway send is stored, and answers nothing: the connection goes on.
	h := protocol.SendMessageHeader{ProducerGroup: "p", Topic: "S", QueueID: 2, BornTimestamp: time.Now().UnixMilli()}
	if err := cl.InvokeOneway(ctx, c.BrokerAddr, remoting.NewRequest(remoting.SendMessageV2, h.Encode(true), []byte("oneway"))); err != nil {
		t.Fatal(err)
	}
	if _, err = send(remoting.SendMessageV2, false, []byte("last")); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 10*time.Second, "the oneway send stored", func() bool { return st.MaxOffset("S", 2) == senders*each+5 })
}

func TestPullCodes(t *testing.T) {
	c := Start(t, nil)
	if err := c.CreateTopic("P", 1); err != nil {
		t.Fatal(err)
	}
	cl := remoting.NewClient(remoting.ClientOptions{})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pull := func(offset, suspendMillis int64) (*remoting.Command, protocol.PullMessageResponseHeader) {
		t.Helper()
		h := protocol.PullMessageHeader{ConsumerGroup: "g", Topic: "P", QueueID: 0, QueueOffset: offset, MaxMsgNums: 32, SysFlag: 1<<1 | 1<<2,
			SuspendTimeoutMillis: suspendMillis, Subscription: "*", ExpressionType: "TAG", CommitOffset: -1}
		resp, err := cl.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(remoting.PullMessage, h.Encode(), nil))
		if err != nil {
			t.Fatal(err)
		}
		var rh protocol.PullMessageResponseHeader
		if err := rh.Decode(resp); err != nil {
			t.Fatalf("response header: %v %v", err, resp.Header())
		}
		return resp, rh
	}
	// Nothing arrives: held for the suspend time, then PULL_NOT_FOUND.
	start := time.Now()
	resp, rh := pull(0, 300)
	if remoting.Code(resp.Code) != remoting.PullNotFound || rh.NextBeginOffset != 0 {
		t.Fatalf("empty queue: %v next %d", remoting.Code(resp.Code), rh.NextBeginOffset)
	}
	if held := time.Since(start); held < 300*time.Millisecond {
		t.Fatalf("answered after %v, before the 300 ms suspend time", held)
	}
	for i := range 3 {
		h := protocol.SendMessageHeader{ProducerGroup: "p", Topic: "P", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 0, BornTimestamp: time.Now().UnixMilli()}
		if resp, err := cl.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(remoting.SendMessageV2, h.Encode(true), []byte{byte(i)})); err != nil || resp.Code != 0 {
			t.Fatalf("send: %v %+v", err, resp)
		}
	}
	if err := c.Broker.Store().WaitDispatched(ctx, c.Broker.Store().CommitLogMaxOffset()); err != nil {
		t.Fatal(err) // the dispatcher runs behind the append
	}
	// Past the end: PULL_OFFSET_MOVED to the maximum; every response carries all four fields.
	resp, rh = pull(99, 0)
	if remoting.Code(resp.Code) != remoting.PullOffsetMoved || rh.NextBeginOffset != 3 || rh.MaxOffset != 3 || rh.MinOffset != 0 {
		t.Fatalf("offset 99: %v %+v", remoting.Code(resp.Code), rh)
	}
	for _, k := range []string{"suggestWhichBrokerId", "nextBeginOffset", "minOffset", "maxOffset"} {
		if _, ok := resp.Lookup(k); !ok {
			t.Fatalf("response lacks %s: %v", k, resp.Header())
		}
	}
	// In range: found, next after the messages.
	resp, rh = pull(1, 0)
	if resp.Code != 0 || rh.NextBeginOffset != 3 {
		t.Fatalf("offset 1: %v next %d", remoting.Code(resp.Code), rh.NextBeginOffset)
	}
}

// TestWaitRegistered: the broker is found at its NameServer; an address no broker has is not.
func TestWaitRegistered(t *testing.T) {
	c := Start(t, nil)
	WaitRegistered(t, 10*time.Second, c.NamesrvAddr, c.BrokerAddr)

	ft := &fatalT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		WaitRegistered(ft, 200*time.Millisecond, c.NamesrvAddr, "127.0.0.1:1")
	}()
	<-done
	if !strings.Contains(ft.msg, "not registered") {
		t.Fatalf("an unknown broker: %q, want a failure saying it is not registered", ft.msg)
	}
}

// fatalT records a Fatalf and ends its goroutine, as testing.T does, without failing the test.
type fatalT struct {
	testing.TB
	msg string
}

func (f *fatalT) Helper() {}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
