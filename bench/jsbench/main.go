// Command jsbench is the JetStream load generator of Tern's comparison harness (bench/run.sh).
// The nats CLI is not on the Go module proxy, so this mirrors `nats bench js` with nats.go:
//
//	jsbench produce  N synchronous publishers, each on its own connection, each js.Publish
//	                 waiting for its PubAck, for -duration (`nats bench js pub --batch 1
//	                 --clients N`); with -async W, each publishes asynchronously with up to W
//	                 PubAcks outstanding.
//	jsbench consume  stores a backlog of -messages with asynchronous publishes, then drains it
//	                 with one durable pull consumer fetching -batch at a time (`nats bench js
//	                 fetch`); the rate runs from the first to the last message received.
//	jsbench latency  one connection publishes asynchronously at -rate per second on an open
//	                 loop while one consumer receives; each body starts with its send time
//	                 (unix nanoseconds, big endian) and the latency is receive time minus it.
//
// Every mode creates a fresh stream with file storage and JetStream's defaults otherwise, and
// deletes it at the end. The result is one JSON object on stdout, in the form `tern bench -o
// json` prints, so the harness reads both with the same jq expression. This is a separate
// module so that Tern's own go.mod does not depend on nats.go.
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type config struct {
	server, stream, acks     string
	size, producers, batch   int
	rate, async              int
	messages                 int64
	duration, warmup, settle time.Duration
	keepStream               bool
}

// result is the form of `tern bench -o json`.
type result struct {
	Title   string `json:"title"`
	Latency string `json:"latency"`
	Rows    []row  `json:"rows"`
}

type row struct {
	Client     string  `json:"client"`
	MsgsPerSec float64 `json:"msgsPerSec"`
	MBPerSec   float64 `json:"mbPerSec"`
	Messages   int64   `json:"messages"`
	Failed     int64   `json:"failed"`
	P50Ms      float64 `json:"p50Ms"`
	P99Ms      float64 `json:"p99Ms"`
	FirstError string  `json:"firstError,omitempty"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: jsbench produce|consume|latency [flags] (-h for the flags)")
		os.Exit(2)
	}
	mode := os.Args[1]
	var c config
	fs := flag.NewFlagSet("jsbench "+mode, flag.ExitOnError)
	fs.StringVar(&c.server, "server", nats.DefaultURL, "NATS server URL")
	fs.StringVar(&c.stream, "stream", "BENCH", "stream to create (deleted first if it exists); its subject is the lower-cased name")
	fs.IntVar(&c.size, "size", 1024, "message body size in bytes")
	fs.IntVar(&c.producers, "producers", 16, "produce: synchronous publishers, one connection each")
	fs.IntVar(&c.async, "async", 0, "produce: publish asynchronously with up to this many PubAcks outstanding per publisher (0: synchronous)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "produce, latency: how long to measure; consume: the longest the drain may take")
	fs.Int64Var(&c.messages, "messages", 1_000_000, "consume: backlog to store and then drain")
	fs.IntVar(&c.batch, "batch", 500, "consume: messages per fetch")
	fs.StringVar(&c.acks, "acks", "all", "consume: all (ack the last message of each fetch; cumulative, like a RocketMQ offset commit), explicit (every message) or none")
	fs.IntVar(&c.rate, "rate", 10000, "latency: messages per second")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "latency: send for this long before measuring")
	fs.BoolVar(&c.keepStream, "keep", false, "do not delete the stream at the end")
	if err := fs.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := map[string]func(context.Context, config) (result, error){"produce": produce, "consume": consume, "latency": latency}[mode]
	if run == nil {
		fmt.Fprintf(os.Stderr, "jsbench: unknown mode %q: want produce, consume or latency\n", mode)
		os.Exit(2)
	}
	res, err := run(ctx, c)
	if err != nil {
		fmt.Fprintf(os.Stderr, "jsbench %s: %v\n", mode, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintf(os.Stderr, "jsbench %s: %v\n", mode, err)
		os.Exit(1)
	}
}

// connect opens a connection and its JetStream context.
func connect(url string, opts ...jetstream.JetStreamOpt) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url, nats.Name("jsbench"))
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", url, err)
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// openStream connects and creates c.stream with file storage on the subject it returns,
// deleting an older stream of that name first; done deletes the stream (unless -keep) and
// closes the connection.
func openStream(ctx context.Context, c config, opts ...jetstream.JetStreamOpt) (js jetstream.JetStream, subject string, done func(), err error) {
	nc, js, err := connect(c.server, opts...)
	if err != nil {
		return nil, "", nil, err
	}
	if err := js.DeleteStream(ctx, c.stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		nc.Close()
		return nil, "", nil, fmt.Errorf("delete stream %s: %w", c.stream, err)
	}
	subject = "bench." + c.stream
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: c.stream, Subjects: []string{subject}, Storage: jetstream.FileStorage}); err != nil {
		nc.Close()
		return nil, "", nil, fmt.Errorf("create stream %s: %w", c.stream, err)
	}
	return js, subject, func() {
		if !c.keepStream {
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = js.DeleteStream(dctx, c.stream)
		}
		nc.Close()
	}, nil
}

// produce runs c.producers publishers, each on its own connection, for c.duration: synchronous
// (each waits for its PubAck), or with -async asynchronous, each keeping up to c.async
// publishes waiting for their PubAck (the clock then stops when every PubAck is in).
func produce(ctx context.Context, c config) (result, error) {
	_, subject, done, err := openStream(ctx, c)
	if err != nil {
		return result{}, err
	}
	defer done()
	var (
		lat                  latencies
		sent, failed, nacked atomic.Int64 // nacked: asynchronous publishes whose PubAck failed
		firstErr             errOnce
		wg                   sync.WaitGroup
		opts                 []jetstream.JetStreamOpt
	)
	if c.async > 0 {
		opts = append(opts, jetstream.WithPublishAsyncMaxPending(c.async),
			jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
				nacked.Add(1)
				failed.Add(1)
				firstErr.set(err)
			}))
	}
	pubs := make([]jetstream.JetStream, c.producers)
	for i := range pubs {
		pc, pjs, err := connect(c.server, opts...)
		if err != nil {
			return result{}, err
		}
		defer pc.Close()
		pubs[i] = pjs
	}
	body := randomBody(c.size)
	rctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	start := time.Now()
	for _, pjs := range pubs {
		wg.Go(func() {
			for rctx.Err() == nil {
				t := time.Now()
				var err error
				if c.async > 0 {
					_, err = pjs.PublishAsync(subject, body, jetstream.WithStallWait(time.Minute))
				} else {
					_, err = pjs.Publish(rctx, subject, body)
				}
				if err != nil {
					if rctx.Err() == nil {
						failed.Add(1)
						firstErr.set(err)
					}
					continue
				}
				sent.Add(1)
				if c.async == 0 {
					lat.add(time.Since(t))
				}
			}
			if c.async > 0 {
				select {
				case <-pjs.PublishAsyncComplete():
				case <-ctx.Done():
				case <-time.After(time.Minute):
					firstErr.set(errors.New("PubAcks still missing a minute after the last publish"))
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	n := sent.Load() - nacked.Load()
	kind := "synchronous publishers (one connection each)"
	if c.async > 0 {
		kind = fmt.Sprintf("asynchronous publishers (one connection each, %d PubAcks outstanding)", c.async)
	}
	r := row{Client: "jetstream", MsgsPerSec: float64(n) / el, MBPerSec: float64(n) * float64(c.size) / el / 1e6, Messages: n,
		Failed: failed.Load(), FirstError: firstErr.String()}
	if c.async == 0 {
		r.P50Ms, r.P99Ms = lat.pct(0.50), lat.pct(0.99)
	}
	return result{
		Title:   fmt.Sprintf("jetstream produce %s: %d %s, %d B messages, %v", c.stream, c.producers, kind, c.size, c.duration),
		Latency: "SEND",
		Rows:    []row{r},
	}, nil
}

func consume(ctx context.Context, c config) (result, error) {
	ack, ok := map[string]jetstream.AckPolicy{"all": jetstream.AckAllPolicy, "explicit": jetstream.AckExplicitPolicy, "none": jetstream.AckNonePolicy}[c.acks]
	if !ok {
		return result{}, fmt.Errorf("-acks %q: want all, explicit or none", c.acks)
	}
	js, subject, done, err := openStream(ctx, c, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return result{}, err
	}
	defer done()

	// The backlog: asynchronous publishes, then every PubAck.
	body := randomBody(c.size)
	fillStart := time.Now()
	for i := int64(0); i < c.messages; i++ {
		if _, err := js.PublishAsync(subject, body, jetstream.WithStallWait(time.Minute)); err != nil {
			return result{}, fmt.Errorf("store the backlog: message %d: %w", i, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return result{}, ctx.Err()
	case <-time.After(10 * time.Minute):
		return result{}, errors.New("store the backlog: PubAcks still missing after 10 minutes")
	}
	s, err := js.Stream(ctx, c.stream)
	if err != nil {
		return result{}, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return result{}, err
	}
	if int64(info.State.Msgs) != c.messages {
		return result{}, fmt.Errorf("store the backlog: the stream holds %d messages, want %d", info.State.Msgs, c.messages)
	}
	fmt.Fprintf(os.Stderr, "jsbench consume: stored %d messages in %v\n", c.messages, time.Since(fillStart).Round(time.Millisecond))

	cons, err := js.CreateOrUpdateConsumer(ctx, c.stream, jetstream.ConsumerConfig{Durable: "jsbench", AckPolicy: ack})
	if err != nil {
		return result{}, err
	}
	var (
		got, bytes  int64
		first, last time.Time
		firstErr    errOnce
	)
	dctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	for got < c.messages && dctx.Err() == nil {
		b, err := cons.Fetch(min(c.batch, int(c.messages-got)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			firstErr.set(err)
			select {
			case <-dctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		var lastMsg jetstream.Msg
		for m := range b.Messages() {
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			last = now
			got++
			bytes += int64(len(m.Data()))
			if ack == jetstream.AckExplicitPolicy {
				_ = m.Ack()
			}
			lastMsg = m
		}
		if err := b.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			firstErr.set(err)
		}
		if ack == jetstream.AckAllPolicy && lastMsg != nil {
			_ = lastMsg.Ack()
		}
	}
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	el := last.Sub(first).Seconds()
	if el <= 0 {
		el = c.duration.Seconds()
	}
	return result{
		Title: fmt.Sprintf("jetstream consume %s: backlog %d messages of %d B, one durable pull consumer, fetch %d, acks %s, at most %v (rate from the first to the last message)",
			c.stream, c.messages, c.size, c.batch, c.acks, c.duration),
		Latency: "NONE",
		Rows: []row{{Client: "jetstream", MsgsPerSec: float64(got) / el, MBPerSec: float64(bytes) / el / 1e6, Messages: got,
			Failed: c.messages - got, FirstError: firstErr.String()}},
	}, nil
}

func latency(ctx context.Context, c config) (result, error) {
	if c.rate <= 0 || c.size < 8 {
		return result{}, fmt.Errorf("-rate %d -size %d: want a positive rate and at least 8 bytes (the send time)", c.rate, c.size)
	}
	var (
		lat             latencies
		from            atomic.Int64 // send time from which messages are measured; 0 while warming up
		newest          atomic.Int64 // send time of the newest message received
		acked, received atomic.Int64 // measured messages
		failed          atomic.Int64
		firstErr        errOnce
		progress        = make(chan struct{}, 1) // a measured message was received
	)
	sentAt := func(data []byte) int64 {
		if len(data) < 8 {
			return 0
		}
		return int64(binary.BigEndian.Uint64(data))
	}
	js, subject, done, err := openStream(ctx, c,
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			failed.Add(1)
			firstErr.set(err)
		}),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
			if t := from.Load(); t != 0 && sentAt(m.Data) >= t {
				acked.Add(1)
			}
		}))
	if err != nil {
		return result{}, err
	}
	defer done()

	// The consumer has its own connection, as an application's would.
	cc, cjs, err := connect(c.server)
	if err != nil {
		return result{}, err
	}
	defer cc.Close()
	cons, err := cjs.CreateConsumer(ctx, c.stream, jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		return result{}, err
	}
	sub, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now().UnixNano()
		t := sentAt(m.Data())
		for old := newest.Load(); t > old && !newest.CompareAndSwap(old, t); old = newest.Load() {
		}
		if f := from.Load(); f != 0 && t >= f {
			lat.add(time.Duration(now - t))
			received.Add(1)
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		return result{}, err
	}
	defer sub.Stop()

	pad := randomBody(c.size)
	send := func() {
		body := slices.Clone(pad)
		binary.BigEndian.PutUint64(body, uint64(time.Now().UnixNano()))
		if _, err := js.PublishAsync(subject, body); err != nil {
			failed.Add(1)
			firstErr.set(err)
		}
	}
	// Warm up for c.warmup, and until the consumer receives what was sent in the last 100 ms,
	// at most 10 s more: a consumer that cannot keep up with the rate is then measured as it is.
	start := time.Now()
	paceUntil(ctx, c.rate, start, func() bool {
		if time.Since(start) < c.warmup {
			return false
		}
		return newest.Load() > time.Now().Add(-100*time.Millisecond).UnixNano() || time.Since(start) > c.warmup+10*time.Second
	}, send)
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	if newest.Load() == 0 {
		return result{}, fmt.Errorf("the consumer received nothing in %v of warm-up", time.Since(start).Round(time.Millisecond))
	}
	mStart := time.Now()
	from.Store(mStart.UnixNano())
	paceUntil(ctx, c.rate, mStart, func() bool { return time.Since(mStart) >= c.duration }, send)
	mEnd := time.Now()
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
	}
	// Then up to 10 s for the consumer to receive what was acknowledged.
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
wait:
	for received.Load() < acked.Load() {
		select {
		case <-progress:
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	el := mEnd.Sub(mStart).Seconds()
	got := received.Load()
	return result{
		Title: fmt.Sprintf("jetstream latency %s: %d msgs/s target, %d B messages, one async publisher, one consumer, %v measured after %v warm-up (FAILED: publish errors + acknowledged but not received)",
			c.stream, c.rate, c.size, c.duration, mStart.Sub(start).Round(time.Millisecond)),
		Latency: "END-TO-END",
		Rows: []row{{Client: "jetstream", MsgsPerSec: float64(got) / el, MBPerSec: float64(got) * float64(c.size) / el / 1e6, Messages: got,
			Failed: failed.Load() + max(0, acked.Load()-got), P50Ms: lat.pct(0.50), P99Ms: lat.pct(0.99), FirstError: firstErr.String()}},
	}, nil
}

// paceUntil calls send at rate per second from start until stop says so or ctx ends, on an open
// loop: the i-th call is due at start + i/rate, and calls that fell behind are made at once
// rather than skipped (the same pacing as `tern bench latency`).
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

func randomBody(size int) []byte {
	b := make([]byte, size)
	rand.Read(b)
	return b
}

// latencies records latencies; percentiles are exact over what was recorded, in milliseconds.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) pct(p float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	return float64(l.d[min(len(l.d)-1, int(float64(len(l.d))*p))]) / 1e6
}

// errOnce keeps the first error it is given.
type errOnce struct {
	mu  sync.Mutex
	err error
}

func (e *errOnce) set(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
}

func (e *errOnce) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
