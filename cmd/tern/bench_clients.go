package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ternmq/tern/sdk/client"
)

// ternBench drives Tern's Go client, sdk/client.
type ternBench struct{}

func (ternBench) produce(ctx context.Context, f benchFlags, body []byte, begin func() context.Context, sent func(int, time.Duration, error)) error {
	p, err := client.NewProducer("benchmark_producer", client.WithNameServers(f.namesrv), client.WithCompressOver(f.compress))
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	if err := warmTopics(ctx, f, func(topic string) error {
		_, err := p.Send(ctx, &client.Message{Topic: topic, Body: body})
		return err
	}); err != nil {
		return err
	}
	runSenders(begin(), f.producers, func(ctx context.Context) {
		start := time.Now()
		topic := f.sendTopic()
		if f.batch > 1 {
			msgs := make([]*client.Message, f.batch)
			for i := range msgs {
				msgs[i] = &client.Message{Topic: topic, Body: body}
			}
			_, err := p.SendBatch(ctx, msgs)
			sent(f.batch, time.Since(start), err)
			return
		}
		_, err := p.Send(ctx, &client.Message{Topic: topic, Body: body})
		sent(1, time.Since(start), err)
	})
	return nil
}

func (ternBench) consume(ctx context.Context, f benchFlags, group string, got func(int, time.Time)) error {
	from := client.ConsumeFromFirstOffset
	if !f.from.IsZero() {
		from = client.ConsumeFromTimestamp(f.from)
	}
	c, err := client.NewPushConsumer(group, client.WithNameServers(f.namesrv), client.WithConsumeFrom(from))
	if err != nil {
		return err
	}
	err = c.Subscribe(f.topic, client.Tag("*"), func(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
		for _, m := range msgs {
			got(len(m.Body), m.StoreTimestamp)
		}
		return client.ConsumeSuccess, nil
	})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return c.Close(context.Background())
}

// benchLatency runs `tern bench latency` with Tern's client: one producer sending
// asynchronously at f.rate, one push consumer of a new group, latency from the send time in
// the body's first 8 bytes to the handler call.
func benchLatency(ctx context.Context, out io.Writer, f benchFlags) error {
	switch {
	case f.rate <= 0:
		return fmt.Errorf("--rate %d: want a positive rate", f.rate)
	case f.size < 8:
		return fmt.Errorf("--size %d: want at least 8 bytes, the send time", f.size)
	case len(f.clients) != 1 || f.clients[0] != "tern":
		return fmt.Errorf("--client %v: bench latency runs only with --client tern", f.clients)
	}
	if err := benchTopic(ctx, f); err != nil {
		return err
	}
	var (
		lat                latencies
		from               atomic.Int64 // send time (unix nanos) from which messages are measured; 0 while warming up
		newest             atomic.Int64 // send time of the newest message received
		acked, received    atomic.Int64 // measured messages
		failed             atomic.Int64
		firstErr           atomic.Value
		progress           = make(chan struct{}, 1) // a measured message was received
		sendCtx, stopSends = context.WithCancel(ctx)
	)
	defer stopSends()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	c, err := client.NewPushConsumer(fmt.Sprintf("%s-latency-%x", f.group, suffix), client.WithNameServers(f.namesrv),
		client.WithConsumeFrom(client.ConsumeFromLastOffset))
	if err != nil {
		return err
	}
	err = c.Subscribe(f.topic, client.Tag("*"), func(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
		now := time.Now().UnixNano()
		for _, m := range msgs {
			if len(m.Body) < 8 {
				continue
			}
			sentAt := int64(binary.BigEndian.Uint64(m.Body))
			for old := newest.Load(); sentAt > old && !newest.CompareAndSwap(old, sentAt); old = newest.Load() {
			}
			if t := from.Load(); t != 0 && sentAt >= t {
				lat.add(time.Duration(now - sentAt))
				received.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}
		return client.ConsumeSuccess, nil
	})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	defer c.Close(context.Background())
	p, err := client.NewProducer("benchmark_latency_producer", client.WithNameServers(f.namesrv), client.WithCompressOver(f.compress))
	if err != nil {
		return err
	}
	defer p.Close(context.Background())

	pad := make([]byte, f.size)
	rand.Read(pad)
	send := func() {
		body := slices.Clone(pad)
		sentAt := time.Now().UnixNano()
		binary.BigEndian.PutUint64(body, uint64(sentAt))
		measured := from.Load() != 0
		err := p.SendAsync(sendCtx, &client.Message{Topic: f.topic, Body: body}, func(_ *client.SendResult, err error) {
			switch {
			case err != nil && sendCtx.Err() == nil:
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			case err == nil && measured:
				acked.Add(1)
			}
		})
		if err != nil && sendCtx.Err() == nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
		}
	}
	// Warm up for f.warmup, and until the consumer receives what was sent in the last 100 ms
	// (its queues are assigned and it caught up), at most 10 s more: a consumer that cannot keep up
	// with the rate is then measured as it is.
	start := time.Now()
	caughtUp := func() bool {
		if time.Since(start) < f.warmup {
			return false
		}
		return newest.Load() > time.Now().Add(-100*time.Millisecond).UnixNano() || time.Since(start) > f.warmup+10*time.Second
	}
	paceUntil(sendCtx, f.rate, start, caughtUp, send)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if newest.Load() == 0 {
		return fmt.Errorf("the consumer received nothing in %v of warm-up", time.Since(start).Round(time.Millisecond))
	}
	mStart := time.Now()
	from.Store(mStart.UnixNano())
	paceUntil(sendCtx, f.rate, mStart, func() bool { return time.Since(mStart) >= f.duration }, send)
	mEnd := time.Now()
	// Wait for the in-flight sends, then up to 10 s for the consumer to receive them.
	if err := p.Close(ctx); err != nil {
		return err
	}
	waitReceived(ctx, &received, &acked, progress, 10*time.Second)
	el := mEnd.Sub(mStart).Seconds()
	got := received.Load()
	row := benchRow{client: "tern", msgs: float64(got) / el, bytes: float64(got) * float64(f.size) / el / 1e6, count: got,
		fails: failed.Load() + max(0, acked.Load()-got), p50: lat.pct(0.50), p99: lat.pct(0.99)}
	if e := firstErr.Load(); e != nil {
		row.firstErr = fmt.Sprint(e)
	}
	return printBench(out, f.output, fmt.Sprintf("latency %s: %d msgs/s target, %d B messages, one async producer, one push consumer, %v measured after %v warm-up (FAILED: send errors + acknowledged but not received)",
		f.topic, f.rate, f.size, f.duration, mStart.Sub(start).Round(time.Millisecond)), "END-TO-END", []benchRow{row})
}
