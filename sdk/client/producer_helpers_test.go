package client

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// Helpers of the producer tests: a producer against a brokertest cluster, and two ways to read
// back what the broker stored — straight from its store, or by a raw long-polling PULL (which
// waits for arrivals instead of sleeping).

var prodSeq atomic.Int64

// prodName returns a group or topic name unique in the test binary.
func prodName(t testing.TB, prefix string) string {
	name := strings.NewReplacer("/", "_", "#", "_").Replace(t.Name())
	return fmt.Sprintf("%s-%s-%d", prefix, name, prodSeq.Add(1))
}

// prodCluster starts a NameServer and a broker and creates topic with n queues.
func prodCluster(t testing.TB, topic string, n int, configure func(*broker.Config)) *brokertest.Cluster {
	t.Helper()
	c := brokertest.Start(t, configure)
	if topic != "" {
		if err := c.CreateTopic(topic, n); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// prodNew returns a producer of a fresh group on the cluster's NameServer, closed at cleanup.
func prodNew(t testing.TB, nsAddr string, opts ...ProducerOption) *Producer {
	t.Helper()
	opts = append([]ProducerOption{WithNameServers(nsAddr), WithLogger(brokertest.Logger())}, opts...)
	p, err := NewProducer(prodName(t, "pg"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prodClose(t, p) })
	return p
}

// prodClose closes p within 10 s.
func prodClose(t testing.TB, p interface{ Close(context.Context) error }) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// prodCtx returns a context that ends after d or with the test.
func prodCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// prodStored returns every message stored in the n queues of topic, queue by queue in offset
// order, once the broker has dispatched everything it stored.
func prodStored(t testing.TB, c *brokertest.Cluster, topic string, n int) []*MessageExt {
	t.Helper()
	st := c.Broker.Store()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.WaitDispatched(ctx, st.CommitLogMaxOffset()); err != nil {
		t.Fatalf("dispatch: %v", err)
	}
	var out []*MessageExt
	for q := range int32(n) {
		for off := st.MinOffset(topic, q); off < st.MaxOffset(topic, q); {
			res, err := st.GetMessages(topic, q, off, 32, 0, nil)
			if err != nil {
				t.Fatalf("get %s/%d@%d: %v", topic, q, off, err)
			}
			for _, b := range res.Messages {
				v, err := message.Parse(b)
				if err != nil {
					t.Fatal(err)
				}
				m, err := messageFromView(v, c.Config.BrokerName)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, m)
			}
			next, status := res.NextBeginOffset, res.Status
			res.Release()
			if next <= off {
				t.Fatalf("read %s/%d@%d: %v, next offset %d", topic, q, off, status, next)
			}
			off = next
		}
	}
	return out
}

// prodPuller reads queues with raw PULL_MESSAGE requests that the broker holds until messages
// arrive (long polling).
type prodPuller struct {
	rc    *remoting.Client
	addr  string
	group string
}

func newProdPuller(t testing.TB, addr string) *prodPuller {
	rc := remoting.NewClient(remoting.ClientOptions{Logger: brokertest.Logger()})
	t.Cleanup(func() { rc.Close() })
	return &prodPuller{rc: rc, addr: addr, group: prodName(t, "puller")}
}

// pull returns the messages of topic/qid from offset on and the next offset, holding up to 5 s
// for new ones.
func (pl *prodPuller) pull(ctx context.Context, topic string, qid int32, offset int64) ([]*MessageExt, int64, error) {
	h := protocol.PullMessageHeader{
		ConsumerGroup: pl.group, Topic: topic, QueueID: qid, QueueOffset: offset, MaxMsgNums: 32,
		SysFlag: protocol.PullFlagSuspend | protocol.PullFlagSubscription, SuspendTimeoutMillis: 5000,
		Subscription: protocol.SubAll, ExpressionType: protocol.ExpressionTag,
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := pl.rc.Invoke(cctx, pl.addr, remoting.NewRequest(remoting.PullMessage, h.Encode(), nil))
	if err != nil {
		return nil, offset, err
	}
	var rh protocol.PullMessageResponseHeader
	if err := rh.Decode(resp); err != nil {
		return nil, offset, err
	}
	switch remoting.Code(resp.Code) {
	case remoting.Success:
		msgs, err := decodeMessages(resp.Body, "")
		return msgs, rh.NextBeginOffset, err
	case remoting.PullNotFound, remoting.PullRetryImmediately, remoting.PullOffsetMoved:
		return nil, rh.NextBeginOffset, nil
	}
	return nil, offset, remoting.ResponseErr(resp)
}

// until pulls topic/qid from offset 0 until done returns true for the messages seen so far,
// or ctx ends.
func (pl *prodPuller) until(ctx context.Context, topic string, qid int32, done func([]*MessageExt) bool) ([]*MessageExt, error) {
	var all []*MessageExt
	var off int64
	for !done(all) {
		msgs, next, err := pl.pull(ctx, topic, qid, off)
		if err != nil {
			return all, err
		}
		if ctx.Err() != nil {
			return all, ctx.Err()
		}
		all, off = append(all, msgs...), next
	}
	return all, nil
}

// prodSilentServer returns the address of a server that accepts connections and never answers.
func prodSilentServer(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}
