package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// benchFlags are RocketMQ benchmark-tool style options.
type benchFlags struct {
	namesrv   string
	topic     string
	size      int
	producers int
	duration  time.Duration
	batch     int
	group     string
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{Use: "bench", Short: "Measure produce and consume throughput and latency against a running cluster"}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.namesrv, "namesrv", "127.0.0.1:9876", "NameServer address")
	pf.StringVar(&f.topic, "topic", "BenchmarkTest", "topic (created on the cluster's masters if missing)")
	pf.DurationVar(&f.duration, "duration", 10*time.Second, "how long to run")
	produce := &cobra.Command{
		Use: "produce", Short: "Synchronous producers sending as fast as acknowledgements come back", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return benchProduce(cmd.Context(), cmd.OutOrStdout(), f) },
	}
	produce.Flags().IntVar(&f.size, "size", 1024, "message body size in bytes")
	produce.Flags().IntVar(&f.producers, "producers", 16, "concurrent synchronous producers")
	produce.Flags().IntVar(&f.batch, "batch", 1, "messages per send (SEND_BATCH_MESSAGE above 1)")
	consume := &cobra.Command{
		Use: "consume", Short: "Pull every queue of the topic from its first offset", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return benchConsume(cmd.Context(), cmd.OutOrStdout(), f) },
	}
	consume.Flags().StringVar(&f.group, "group", "benchmark_consumer", "consumer group")
	cmd.AddCommand(produce, consume)
	return cmd
}

type queueRef struct {
	addr string
	qid  int32
}

// benchQueues resolves the topic's queues, creating the topic with 8 queues if it has none.
func benchQueues(ctx context.Context, a *admin, topic string, write bool) ([]queueRef, error) {
	r, err := a.route(ctx, topic)
	if err != nil {
		addrs, merr := a.masters(ctx, "")
		if merr != nil {
			return nil, merr
		}
		h := protocol.CreateTopicHeader{Topic: topic, DefaultTopic: protocol.AutoCreateTopic, ReadQueueNums: 8, WriteQueueNums: 8, Perm: 6, TopicFilterType: protocol.SingleTag}
		for _, addr := range addrs {
			if _, err := a.call(ctx, addr, remoting.NewRequest(remoting.UpdateAndCreateTopic, h.Encode(), nil)); err != nil {
				return nil, err
			}
		}
		// Topic creation registers at the NameServers before it answers: the route is there.
		if r, err = a.route(ctx, topic); err != nil {
			return nil, err
		}
	}
	var qs []queueRef
	for _, q := range r.QueueDatas {
		for _, bd := range r.BrokerDatas {
			addr := bd.BrokerAddrs[protocol.MasterID]
			if bd.BrokerName != q.BrokerName || addr == "" {
				continue
			}
			n := q.ReadQueueNums
			if write {
				n = q.WriteQueueNums
			}
			for i := int32(0); i < n; i++ {
				qs = append(qs, queueRef{addr, i})
			}
		}
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("topic %s has no queues", topic)
	}
	return qs, nil
}

// latencies records latencies; percentiles are exact over what was recorded.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) pct(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	return l.d[min(len(l.d)-1, int(float64(len(l.d))*p))]
}

func benchProduce(ctx context.Context, out io.Writer, f benchFlags) error {
	a := &admin{namesrv: f.namesrv, timeout: 5 * time.Second, client: remoting.NewClient(remoting.ClientOptions{}), out: out}
	defer a.client.Close()
	qs, err := benchQueues(ctx, a, f.topic, true)
	if err != nil {
		return err
	}
	body := make([]byte, f.size)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	gen := message.NewUniqIDGenerator(netip.MustParseAddr("127.0.0.1"), os.Getpid(), nil)
	var sent, failed atomic.Int64
	var lat latencies
	ctx, cancel := context.WithTimeout(ctx, f.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for p := range f.producers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), uint64(start.UnixNano())))
			for ctx.Err() == nil {
				q := qs[rng.IntN(len(qs))]
				req := benchSendRequest(f, gen, q.qid, body)
				t0 := time.Now()
				rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := a.client.Invoke(rctx, q.addr, req)
				rcancel()
				if err == nil {
					err = remoting.ResponseErr(resp)
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				lat.add(time.Since(t0))
				sent.Add(int64(f.batch))
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	n := float64(sent.Load())
	fmt.Fprintf(out, "produce %s: %d producers, %d B messages, batch %d, %v\n", f.topic, f.producers, f.size, f.batch, f.duration)
	fmt.Fprintf(out, "  %.0f msgs/s  %.1f MB/s  sent %d  failed %d\n", n/el, n*float64(f.size)/el/1e6, sent.Load(), failed.Load())
	fmt.Fprintf(out, "  latency per send: p50 %v  p99 %v  p999 %v\n", lat.pct(0.50), lat.pct(0.99), lat.pct(0.999))
	return nil
}

func benchSendRequest(f benchFlags, gen *message.UniqIDGenerator, qid int32, body []byte) *remoting.Command {
	h := protocol.SendMessageHeader{ProducerGroup: "benchmark_producer", Topic: f.topic, DefaultTopic: protocol.AutoCreateTopic,
		DefaultTopicQueueNums: 4, QueueID: qid, BornTimestamp: time.Now().UnixMilli()}
	if f.batch <= 1 {
		h.Properties = message.PropertyUniqKey + "\x01" + gen.Next()
		return remoting.NewRequest(remoting.SendMessageV2, h.Encode(true), body)
	}
	var b []byte
	for range f.batch {
		b = message.AppendBatchElement(b, 0, body, []byte(message.PropertyUniqKey+"\x01"+gen.Next()))
	}
	h.Batch = true
	return remoting.NewRequest(remoting.SendBatchMessage, h.Encode(true), b)
}

func benchConsume(ctx context.Context, out io.Writer, f benchFlags) error {
	a := &admin{namesrv: f.namesrv, timeout: 5 * time.Second, client: remoting.NewClient(remoting.ClientOptions{}), out: out}
	defer a.client.Close()
	qs, err := benchQueues(ctx, a, f.topic, false)
	if err != nil {
		return err
	}
	var msgs, bytes atomic.Int64
	var lat latencies
	ctx, cancel := context.WithTimeout(ctx, f.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, q := range qs {
		wg.Go(func() {
			off := int64(0)
			for ctx.Err() == nil {
				h := protocol.PullMessageHeader{ConsumerGroup: f.group, Topic: f.topic, QueueID: q.qid, QueueOffset: off, MaxMsgNums: 32,
					SysFlag: 1<<1 | 1<<2, SuspendTimeoutMillis: 1000, Subscription: "*", ExpressionType: protocol.ExpressionTag, CommitOffset: -1}
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				resp, err := a.client.Invoke(rctx, q.addr, remoting.NewRequest(remoting.PullMessage, h.Encode(), nil))
				rcancel()
				if err != nil {
					continue
				}
				var rh protocol.PullMessageResponseHeader
				if rh.Decode(resp.ExtFields) != nil {
					continue
				}
				off = rh.NextBeginOffset
				if remoting.Code(resp.Code) != remoting.Success {
					continue
				}
				vs, _ := records(resp.Body)
				now := time.Now().UnixMilli()
				for _, v := range vs {
					lat.add(time.Duration(now-v.BornTimestamp()) * time.Millisecond)
				}
				msgs.Add(int64(len(vs)))
				bytes.Add(int64(len(resp.Body)))
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	fmt.Fprintf(out, "consume %s: %d queues, %v\n", f.topic, len(qs), f.duration)
	fmt.Fprintf(out, "  %.0f msgs/s  %.1f MB/s  received %d\n", float64(msgs.Load())/el, float64(bytes.Load())/el/1e6, msgs.Load())
	fmt.Fprintf(out, "  born-to-receive: p50 %v  p99 %v  p999 %v (ms resolution)\n", lat.pct(0.50), lat.pct(0.99), lat.pct(0.999))
	return nil
}
