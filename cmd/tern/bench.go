package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

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
	clients   []string
	messages  int64         // produce: stop after this many acknowledged messages (0: no limit)
	rate      int           // latency: messages per second
	warmup    time.Duration // latency: sending before the measurement starts
	output    string        // table or json
	cpuprof   string        // write the client's CPU profile here
	memprof   string        // write the client's allocation profile here at the end
	compress  int           // compress bodies of at least this many bytes (≤ 0: never)
	topics    int           // produce: spread the sends over this many topics
	queues    int32         // queues of each topic the benchmark creates
	next      *atomic.Int64 // produce: the sends so far, which pick the topic round-robin
	fromTime  string        // consume: --from-time as given
	from      time.Time     // consume: --from-time parsed; zero: the first offset
}

// writeAllocProfile writes the heap profile, whose alloc_space and alloc_objects samples count
// everything allocated since the start, to path.
func writeAllocProfile(path string) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	err = pprof.Lookup("allocs").WriteTo(out, 0)
	return errors.Join(err, out.Close())
}

// sendTopic returns the topic of the next send: --topic, or with --topics N > 1 the topics
// <topic>-0 … <topic>-(N-1) in turn.
func (f benchFlags) sendTopic() string {
	if f.topics <= 1 {
		return f.topic
	}
	return topicN(f.topic, int(f.next.Add(1)%int64(f.topics)))
}

// topicN is the i-th topic of a --topics run.
func topicN(topic string, i int) string { return topic + "-" + strconv.Itoa(i) }

// topicNames returns the topics of the run: --topic, or with --topics N > 1 its N numbered
// topics.
func (f benchFlags) topicNames() []string {
	if f.topics <= 1 {
		return []string{f.topic}
	}
	names := make([]string, f.topics)
	for i := range names {
		names[i] = topicN(f.topic, i)
	}
	return names
}

// benchAdmin returns an admin client of the run's NameServer; the caller closes its client.
func benchAdmin(f benchFlags) *admin {
	return &admin{namesrv: f.namesrv, timeout: 5 * time.Second, client: remoting.NewClient(remoting.ClientOptions{}), out: io.Discard}
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure produce and consume throughput and latency against a running cluster",
		Long: `Measure produce and consume throughput and latency against a running cluster, with Tern's Go
client (sdk/client) and, for comparison in the same run, the official RocketMQ Go client v2.1.2
(--client tern,official; the official client is linked only into a tern built with
-tags rocketmq_official).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.namesrv, "namesrv", "127.0.0.1:9876", "NameServer address")
	pf.StringVar(&f.topic, "topic", "BenchmarkTest", "topic (created with --queues queues on the cluster's masters if missing)")
	pf.Int32Var(&f.queues, "queues", 8, "queues per topic, for the topics the benchmark creates")
	pf.DurationVar(&f.duration, "duration", 10*time.Second, "how long to run each client")
	pf.StringSliceVar(&f.clients, "client", []string{"tern"}, "client libraries to run, one after the other: tern, official")
	pf.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	pf.IntVar(&f.compress, "compress-over", 0, "compress bodies of at least this many bytes, as the clients do by default from 4096 (0: never; the bodies are random bytes, which do not shrink)")
	pf.StringVar(&f.cpuprof, "cpuprofile", "", "write the client's CPU profile to this file (go tool pprof)")
	pf.StringVar(&f.memprof, "memprofile", "", "write the client's allocation profile to this file at the end (go tool pprof -sample_index=alloc_space)")
	var prof *os.File
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if f.output != "table" && f.output != "json" {
			return fmt.Errorf("-o %q: want table or json", f.output)
		}
		if f.cpuprof == "" {
			return nil
		}
		var err error
		if prof, err = os.Create(f.cpuprof); err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(prof); err != nil {
			prof.Close()
			return err
		}
		return nil
	}
	cmd.PersistentPostRunE = func(*cobra.Command, []string) error {
		var errs []error
		if prof != nil {
			pprof.StopCPUProfile()
			errs = append(errs, prof.Close())
		}
		if f.memprof != "" {
			errs = append(errs, writeAllocProfile(f.memprof))
		}
		return errors.Join(errs...)
	}
	produce := &cobra.Command{
		Use: "produce", Short: "Synchronous producers sending as fast as acknowledgements come back", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return benchProduce(cmd.Context(), cmd.OutOrStdout(), f) },
	}
	produce.Flags().IntVar(&f.size, "size", 1024, "message body size in bytes")
	produce.Flags().IntVar(&f.producers, "producers", 16, "concurrent synchronous senders")
	produce.Flags().IntVar(&f.topics, "topics", 1, "spread the sends over this many topics, <topic>-0 … <topic>-(N-1), created if missing (1: --topic alone)")
	produce.Flags().IntVar(&f.batch, "batch", 1, "messages per send (a batch send above 1)")
	produce.Flags().Int64Var(&f.messages, "messages", 0, "stop after this many acknowledged messages, or at --duration (0: run for --duration)")
	consume := &cobra.Command{
		Use: "consume", Short: "Consume the topic from its first offset with a push consumer (a fresh group per client)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return benchConsume(cmd.Context(), cmd.OutOrStdout(), f) },
	}
	consume.Flags().StringVar(&f.group, "group", "benchmark_consumer", "consumer group prefix (the client name and a random suffix are added)")
	consume.Flags().StringVar(&f.fromTime, "from-time", "", `start at the message stored nearest this time (RFC 3339, or Unix milliseconds; Tern's client only) instead of the first offset, e.g. to read the tail of a backlog`)
	consume.Flags().Int64Var(&f.messages, "messages", 0, "stop after this many messages (0: the whole backlog, counted at the start)")
	latency := &cobra.Command{
		Use:   "latency",
		Short: "End-to-end latency (send to receive) at a fixed send rate, with Tern's client",
		Long: `One producer sends at --rate messages per second (asynchronous sends, open loop: a late
message does not delay the next one's schedule) while one push consumer of a new group receives
them; each body starts with its send time, and the latency is the receive time minus it. Only
messages sent after --warmup, once the consumer has caught up, are measured. Only --client tern.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return benchLatency(cmd.Context(), cmd.OutOrStdout(), f) },
	}
	latency.Flags().IntVar(&f.size, "size", 1024, "message body size in bytes (at least 8: the send time)")
	latency.Flags().IntVar(&f.rate, "rate", 10000, "messages per second")
	latency.Flags().DurationVar(&f.warmup, "warmup", 2*time.Second, "send for this long before measuring")
	latency.Flags().StringVar(&f.group, "group", "benchmark_consumer", "consumer group prefix (a random suffix is added)")
	cmd.AddCommand(produce, consume, latency)
	return cmd
}

// benchClient is a client library under measurement.
type benchClient interface {
	// produce runs f.producers senders until ctx ends; sent is called after every send.
	// produce sets up its producer (and warms the topics of a --topics run), then calls begin,
	// which starts the clock and returns the context of the timed run, and sends until it ends.
	produce(ctx context.Context, f benchFlags, body []byte, begin func() context.Context, sent func(n int, d time.Duration, err error)) error
	// consume consumes f.topic from the first offset with a new group until ctx ends; got is
	// called for every message with its size and store time.
	consume(ctx context.Context, f benchFlags, group string, got func(size int, stored time.Time)) error
}

func benchClientNamed(name string) (benchClient, error) {
	switch name {
	case "tern":
		return ternBench{}, nil
	case "official":
		return newOfficialBench()
	}
	return nil, fmt.Errorf("--client %q: want tern or official", name)
}

// benchClients resolves every --client before anything runs.
func benchClients(names []string) ([]benchClient, error) {
	out := make([]benchClient, len(names))
	for i, name := range names {
		c, err := benchClientNamed(name)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// benchRow is one client's result.
type benchRow struct {
	client       string
	msgs, bytes  float64 // per second
	count, fails int64
	p50, p99     time.Duration
	firstErr     string // the first failure, if any
}

// benchJSON is the -o json form of a bench result, one object; latencies in milliseconds.
type benchJSON struct {
	Title   string         `json:"title"`
	Latency string         `json:"latency"`
	Rows    []benchJSONRow `json:"rows"`
}

type benchJSONRow struct {
	Client     string  `json:"client"`
	MsgsPerSec float64 `json:"msgsPerSec"`
	MBPerSec   float64 `json:"mbPerSec"`
	Messages   int64   `json:"messages"`
	Failed     int64   `json:"failed"`
	P50Ms      float64 `json:"p50Ms"`
	P99Ms      float64 `json:"p99Ms"`
	FirstError string  `json:"firstError,omitempty"`
}

func printBench(out io.Writer, output, title, latency string, rows []benchRow) error {
	if output == "json" {
		j := benchJSON{Title: title, Latency: latency, Rows: make([]benchJSONRow, len(rows))}
		for i, r := range rows {
			j.Rows[i] = benchJSONRow{Client: r.client, MsgsPerSec: r.msgs, MBPerSec: r.bytes, Messages: r.count,
				Failed: r.fails, P50Ms: float64(r.p50) / 1e6, P99Ms: float64(r.p99) / 1e6, FirstError: r.firstErr}
		}
		return json.NewEncoder(out).Encode(j)
	}
	fmt.Fprintln(out, title)
	for _, r := range rows {
		if r.firstErr != "" {
			fmt.Fprintf(out, "%s: first failure: %s\n", r.client, r.firstErr)
		}
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "CLIENT\tMSGS/S\tMB/S\tMESSAGES\tFAILED\t%s P50\t%s P99\tVS FIRST\n", latency, latency)
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%.0f\t%.1f\t%d\t%d\t%v\t%v\t%.2fx\n", r.client, r.msgs, r.bytes, r.count, r.fails,
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.msgs/rows[0].msgs)
	}
	return w.Flush()
}

func benchProduce(ctx context.Context, out io.Writer, f benchFlags) error {
	clients, err := benchClients(f.clients)
	if err != nil {
		return err
	}
	if err := benchTopics(ctx, f); err != nil {
		return err
	}
	f.next = new(atomic.Int64)
	body := make([]byte, f.size)
	rand.Read(body)
	var rows []benchRow
	for i, name := range f.clients {
		c := clients[i]
		var (
			lat          latencies
			sent, failed atomic.Int64
			firstErr     atomic.Value
		)
		var (
			rctx   context.Context
			cancel context.CancelFunc = func() {}
			start  time.Time
		)
		var settleErr error
		begin := func() context.Context {
			// The clock starts once the brokers have dispatched what the warm-up (or an
			// earlier run) stored.
			lagging, err := settle(ctx, f)
			if lagging != "" {
				fmt.Fprintf(os.Stderr, "bench: measuring while a broker dispatches: %s\n", lagging)
			}
			start = time.Now()
			rctx, cancel = context.WithTimeout(ctx, f.duration)
			if err != nil {
				settleErr = err
				cancel()
			}
			return rctx
		}
		err = c.produce(ctx, f, body, begin, func(n int, d time.Duration, err error) {
			if err != nil {
				if rctx.Err() == nil {
					failed.Add(int64(n))
					firstErr.CompareAndSwap(nil, err)
				}
				return
			}
			if sent.Add(int64(n)) >= f.messages && f.messages > 0 {
				cancel()
			}
			lat.add(d)
		})
		cancel()
		if err == nil && settleErr != nil {
			err = fmt.Errorf("waiting for the brokers to dispatch: %w", settleErr)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		el := time.Since(start).Seconds()
		n := float64(sent.Load())
		row := benchRow{client: name, msgs: n / el, bytes: n * float64(f.size) / el / 1e6, count: sent.Load(),
			fails: failed.Load(), p50: lat.pct(0.50), p99: lat.pct(0.99)}
		if e := firstErr.Load(); e != nil {
			row.firstErr = fmt.Sprint(e)
		}
		rows = append(rows, row)
	}
	topic := f.topic
	if f.topics > 1 {
		topic = fmt.Sprintf("%s-0…%d (%d topics × %d queues)", f.topic, f.topics-1, f.topics, f.queues)
	}
	return printBench(out, f.output, fmt.Sprintf("produce %s: %d synchronous senders, %d B messages, batch %d, %v per client",
		topic, f.producers, f.size, f.batch, f.duration), "SEND", rows)
}

func benchConsume(ctx context.Context, out io.Writer, f benchFlags) error {
	if f.fromTime != "" {
		var err error
		if f.from, err = parseFromTime(f.fromTime); err != nil {
			return err
		}
	}
	clients, err := benchClients(f.clients)
	if err != nil {
		return err
	}
	lagging, err := settle(ctx, f) // the backlog is counted, and read, once dispatched
	if err != nil {
		return fmt.Errorf("waiting for the brokers to dispatch: %w", err)
	}
	if lagging != "" {
		fmt.Fprintf(os.Stderr, "bench: counting the backlog while a broker dispatches: %s\n", lagging)
	}
	backlog, err := benchBacklog(ctx, f)
	if err != nil {
		return err
	}
	want := backlog // stop once this many are received
	if f.messages > 0 {
		want = f.messages
	}
	from := "the first offset"
	if !f.from.IsZero() {
		from = "the message stored nearest " + f.from.Format(time.RFC3339Nano)
	}
	var rows []benchRow
	for i, name := range f.clients {
		c := clients[i]
		var (
			lat         latencies
			msgs, bytes atomic.Int64
			first, last atomic.Int64 // unix nanos of the first and the last message
		)
		rctx, cancel := context.WithTimeout(ctx, f.duration)
		suffix := make([]byte, 4)
		rand.Read(suffix)
		group := fmt.Sprintf("%s-%s-%x", f.group, name, suffix)
		err = c.consume(rctx, f, group, func(size int, stored time.Time) {
			n := msgs.Add(1)
			if want > 0 && n > want {
				return // delivered after the last one wanted: not counted
			}
			now := time.Now()
			first.CompareAndSwap(0, now.UnixNano())
			last.Store(now.UnixNano())
			bytes.Add(int64(size))
			lat.add(now.Sub(stored))
			if n == want {
				cancel()
			}
		})
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s: %w", name, err)
		}
		el := time.Duration(last.Load() - first.Load()).Seconds()
		if el <= 0 {
			el = f.duration.Seconds()
		}
		count := msgs.Load()
		if want > 0 {
			count = min(count, want)
		}
		n := float64(count)
		rows = append(rows, benchRow{client: name, msgs: n / el, bytes: float64(bytes.Load()) / el / 1e6, count: count,
			p50: lat.pct(0.50), p99: lat.pct(0.99)})
	}
	return printBench(out, f.output, fmt.Sprintf("consume %s from %s: backlog %d messages, %d wanted, at most %v per client (rate from the first to the last message)",
		f.topic, from, backlog, want, f.duration), "STORE→RECEIVE", rows)
}

// parseFromTime reads --from-time: RFC 3339, or Unix milliseconds.
func parseFromTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--from-time %q: want RFC 3339 or Unix milliseconds", s)
	}
	return t, nil
}

// benchTopic creates the topic if the NameServer has no route for it.
func benchTopic(ctx context.Context, f benchFlags) error {
	f.topics = 1
	return benchTopics(ctx, f)
}

// benchTopics creates the topics of a produce run that the NameServer has no route for.
func benchTopics(ctx context.Context, f benchFlags) error {
	a := benchAdmin(f)
	defer a.client.Close()
	for _, topic := range f.topicNames() {
		if _, err := benchQueues(ctx, a, topic, f.queues, true); err != nil {
			return err
		}
	}
	return nil
}

// benchBacklog returns the number of messages stored in the topic's queues.
func benchBacklog(ctx context.Context, f benchFlags) (int64, error) {
	a := benchAdmin(f)
	defer a.client.Close()
	qs, err := benchQueues(ctx, a, f.topic, f.queues, false)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, q := range qs {
		var offs [2]int64
		for i, code := range []int16{remoting.GetMinOffset, remoting.GetMaxOffset} {
			h := protocol.TopicQueueHeader{Topic: f.topic, QueueID: q.qid}
			resp, err := a.call(ctx, q.addr, remoting.NewRequest(code, h.Encode(), nil))
			if err != nil {
				return 0, err
			}
			var oh protocol.OffsetResponseHeader
			if err := oh.Decode(resp); err != nil {
				return 0, err
			}
			offs[i] = oh.Offset
		}
		total += offs[1] - offs[0]
	}
	return total, nil
}

// runSenders runs n goroutines calling send until ctx ends.
func runSenders(ctx context.Context, n int, send func(ctx context.Context)) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				send(ctx)
			}
		})
	}
	wg.Wait()
}

// warmTopics sends --queues messages to each topic of a --topics run, with --producers senders
// and before the measurement, so that the client has every route (a first send asks the
// NameServer) and every queue has its first entry (the broker creates a queue's file at its
// first message) when the clock starts: the run measures queues in use, not their creation. A
// run of one topic needs no warming.
func warmTopics(ctx context.Context, f benchFlags, send func(topic string) error) error {
	if f.topics <= 1 {
		return nil
	}
	names, queues := f.topicNames(), int64(max(f.queues, 1))
	var next atomic.Int64
	var firstErr atomic.Value
	wctx, done := context.WithCancel(ctx)
	defer done()
	runSenders(wctx, f.producers, func(context.Context) {
		i := next.Add(1) - 1
		if i >= int64(len(names))*queues {
			done()
			return
		}
		// Consecutive sends to a topic go to consecutive queues (the client's round-robin):
		// topic i/queues gets its queues' worth.
		if err := send(names[i/queues]); err != nil {
			firstErr.CompareAndSwap(nil, fmt.Errorf("warm-up send to %s: %w", names[i/queues], err))
		}
	})
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return ctx.Err()
}

type queueRef struct {
	addr string
	qid  int32
}

// benchQueues resolves the topic's queues, creating the topic with n queues if it has none.
func benchQueues(ctx context.Context, a *admin, topic string, n int32, write bool) ([]queueRef, error) {
	r, err := a.route(ctx, topic)
	if err != nil {
		addrs, merr := a.masters(ctx, "")
		if merr != nil {
			return nil, merr
		}
		h := protocol.CreateTopicHeader{Topic: topic, DefaultTopic: protocol.AutoCreateTopic, ReadQueueNums: n, WriteQueueNums: n, Perm: 6, TopicFilterType: protocol.SingleTag}
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

// paceUntil calls send at rate per second from start until stop says so or ctx ends, on an open
// loop: the i-th call is due at start + i/rate, and calls that fell behind are made at once
// rather than skipped or rescheduled.
func paceUntil(ctx context.Context, rate int, start time.Time, stop func() bool, send func()) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var n int64
	for ctx.Err() == nil && !stop() {
		due := int64(time.Since(start).Seconds() * float64(rate))
		for ; n < due && ctx.Err() == nil; n++ {
			send()
		}
		// Until the next call is due, at least 100 µs: a high rate goes out in small bursts.
		timer.Reset(max(100*time.Microsecond, time.Until(start.Add(time.Duration(float64(n+1)*float64(time.Second)/float64(rate))))))
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
	}
}

// waitReceived waits until received catches up with acked, signalled on progress, for at most
// limit.
func waitReceived(ctx context.Context, received, acked *atomic.Int64, progress <-chan struct{}, limit time.Duration) {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for received.Load() < acked.Load() {
		select {
		case <-progress:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
