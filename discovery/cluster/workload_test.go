package cluster

import (
	"context"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/sdk/client"
)

// ledger records what producers had acknowledged and what consumers received, by message body
// (each body is unique).
type ledger struct {
	mu         sync.Mutex
	acked      map[string]string // body → broker that stored it
	consumed   map[string]int    // body → deliveries
	byConsumer map[string]int    // consumer → deliveries
	fromBroker map[string]int    // broker → deliveries
}

func newLedger() *ledger {
	return &ledger{acked: map[string]string{}, consumed: map[string]int{}, byConsumer: map[string]int{}, fromBroker: map[string]int{}}
}

// send sends body to topic and records it if the broker acknowledged it.
func (l *ledger) send(ctx context.Context, p *client.Producer, topic, body string) (*client.SendResult, error) {
	res, err := p.Send(ctx, &client.Message{Topic: topic, Body: []byte(body)})
	if err != nil {
		return nil, err
	}
	if res.Status != client.SendOK {
		return res, fmt.Errorf("send %s: status %v", body, res.Status)
	}
	l.mu.Lock()
	l.acked[body] = res.Queue.BrokerName
	l.mu.Unlock()
	return res, nil
}

// handler is consumer name's handler: it records every delivery and acknowledges it.
func (l *ledger) handler(name string) client.ConsumeFunc {
	return func(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, m := range msgs {
			l.consumed[string(m.Body)]++
			l.byConsumer[name]++
			l.fromBroker[m.BrokerName]++
		}
		return client.ConsumeSuccess, nil
	}
}

// missing returns how many acknowledged messages were not consumed yet.
func (l *ledger) missing() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for body := range l.acked {
		if l.consumed[body] == 0 {
			n++
		}
	}
	return n
}

// summary is the count and checksum (sum of the bodies' CRC-32s) of the acknowledged messages
// and of the acknowledged messages consumed; they are equal when none is missing.
type summary struct {
	Acked, Consumed        int
	AckedCRC, ConsumedCRC  uint64
	Deliveries             int // including redeliveries
	PerBroker, PerConsumer map[string]int
	AckedPerBroker         map[string]int
}

func (l *ledger) summary() summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := summary{PerBroker: maps.Clone(l.fromBroker), PerConsumer: maps.Clone(l.byConsumer), AckedPerBroker: map[string]int{}}
	for body, b := range l.acked {
		crc := uint64(crc32.ChecksumIEEE([]byte(body)))
		s.Acked++
		s.AckedCRC += crc
		s.AckedPerBroker[b]++
		if l.consumed[body] > 0 {
			s.Consumed++
			s.ConsumedCRC += crc
		}
	}
	for _, n := range l.consumed {
		s.Deliveries += n
	}
	return s
}

// waitConsumed waits until every acknowledged message was consumed.
func (l *ledger) waitConsumed(t *testing.T, limit time.Duration) {
	t.Helper()
	start := time.Now()
	for l.missing() > 0 {
		if time.Since(start) > limit {
			t.Fatalf("after %v, %d acknowledged messages were not consumed: %+v", limit, l.missing(), l.summary())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newProducer returns a producer of e's NameServers, closed at the test's end.
func newProducer(t *testing.T, nameServers []string) *client.Producer {
	t.Helper()
	p, err := client.NewProducer("cluster-test-producer", client.WithNameServers(nameServers...),
		client.WithLogger(logger()), client.WithRouteRefresh(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeClient(t, p) })
	return p
}

// startConsumer starts a push consumer of group on topic that records into l; it closes at the
// test's end.
func startConsumer(t *testing.T, nameServers []string, group, name, topic string, l *ledger) *client.PushConsumer {
	t.Helper()
	c, err := client.NewPushConsumer(group, client.WithNameServers(nameServers...), client.WithLogger(logger()),
		client.WithInstanceName(name), client.WithConsumeFrom(client.ConsumeFromFirstOffset),
		client.WithRouteRefresh(200*time.Millisecond), client.WithRebalanceInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(topic, client.Tag("*"), l.handler(name)); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(testCtx(t, waitLimit)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Close commits the offsets of the queues it holds; those of a broker that is gone
		// fail and are reported, which is not what these tests look at.
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Logf("close consumer %s: %v", name, err)
		}
	})
	return c
}

func closeClient(t *testing.T, c interface{ Close(context.Context) error }) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Errorf("close client: %v", err)
	}
}

// sendUntil sends batches of messages named prefix-N until done holds, failing the test after
// limit; every send must succeed. It returns how many it sent.
func sendUntil(t *testing.T, l *ledger, p *client.Producer, topic, prefix string, limit time.Duration, done func() bool) int {
	t.Helper()
	ctx := testCtx(t, limit+waitLimit)
	start, n := time.Now(), 0
	for {
		for range 20 {
			if _, err := l.send(ctx, p, topic, fmt.Sprintf("%s-%d", prefix, n)); err != nil {
				t.Fatalf("send %s-%d: %v", prefix, n, err)
			}
			n++
		}
		if done() {
			return n
		}
		if time.Since(start) > limit {
			t.Fatalf("after %v and %d messages: %+v", limit, n, l.summary())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// keysAbove returns the sorted keys of m with a value above zero.
func keysAbove(m map[string]int) []string {
	var out []string
	for k, v := range m {
		if v > 0 {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
