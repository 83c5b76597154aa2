package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/sdk/client"
)

// recycledBody is the body of message i of sender g: its size crosses the frame pool's size
// classes, and its bytes name the message, so a body overwritten by another frame's shows.
func recycledBody(g, i int) []byte {
	head := fmt.Appendf(nil, "sender %d message %d|", g, i)
	size := 50 + (i*397+g*1013)%12000
	return bytes.Repeat(head, size/len(head)+1)[:size]
}

// TestConcurrentSendsKeepTheirBodies sends from concurrent senders over one connection, single
// messages and batches, and checks every body consumed. The broker reads each send into a
// recycled buffer and gives it back when the send is stored: a buffer given back before its
// records were copied into the CommitLog, or reused while still referenced, stores another
// frame's bytes.
func TestConcurrentSendsKeepTheirBodies(t *testing.T) {
	c := brokertest.Start(t, nil)
	const (
		topic   = "RecycledFrames"
		senders = 8
		rounds  = 30
		batch   = 4
	)
	if err := c.CreateTopic(topic, 4); err != nil {
		t.Fatal(err)
	}
	p := traceProducer(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	want := map[string][]byte{}
	var wmu sync.Mutex
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := 0; i < rounds; i += 2 {
				key := fmt.Sprintf("%d-%d", g, i)
				m := &client.Message{Topic: topic, Body: recycledBody(g, i), Keys: []string{key}}
				var msgs []*client.Message
				for j := range batch {
					k := i*batch + j + 1000
					msgs = append(msgs, &client.Message{Topic: topic, Body: recycledBody(g, k), Keys: []string{fmt.Sprintf("%d-%d", g, k)}})
				}
				_, err := p.Send(ctx, m)
				if err == nil {
					_, err = p.SendBatch(ctx, msgs)
				}
				if err != nil {
					t.Errorf("sender %d: %v", g, err)
					return
				}
				wmu.Lock()
				want[key] = m.Body
				for _, b := range msgs {
					want[b.Keys[0]] = b.Body
				}
				wmu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	var mu sync.Mutex
	got := map[string]int{}
	done := make(chan struct{})
	traceConsumer(t, c, "recycled-frames", topic, func(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			if len(m.Keys) != 1 {
				t.Errorf("message %s has keys %q", m.MsgID, m.Keys)
				continue
			}
			k := m.Keys[0]
			if w, ok := want[k]; !ok || !bytes.Equal(m.Body, w) {
				t.Errorf("message %s: body of %d bytes starting %q, want %d bytes starting %q", k, len(m.Body), m.Body[:min(len(m.Body), 40)], len(w), w[:min(len(w), 40)])
			}
			if got[k]++; got[k] == 1 && len(got) == len(want) {
				close(done)
			}
		}
		return client.ConsumeSuccess, nil
	})
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("consumed %d of %d messages", len(got), len(want))
	}
}
