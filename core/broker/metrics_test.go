package broker

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// countingMetrics is a Metrics that only counts, allocation-free.
type countingMetrics struct{ sent, msgs, bytes, pulled, woken atomic.Int64 }

func (m *countingMetrics) Sent(_ context.Context, _ string, msgs, bytes int, _ time.Duration) {
	m.sent.Add(1)
	m.msgs.Add(int64(msgs))
	m.bytes.Add(int64(bytes))
}

func (m *countingMetrics) Pulled(context.Context, string, string, int, int, time.Duration) {
	m.pulled.Add(1)
}

func (m *countingMetrics) Woken(context.Context) { m.woken.Add(1) }

// newUnstarted opens a broker that registers nowhere, without starting it.
func newUnstarted(t testing.TB, configure func(*Config)) *Broker {
	t.Helper()
	cfg := DefaultConfig(t.TempDir())
	cfg.ListenAddr, cfg.BrokerAddr, cfg.NamesrvAddr = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.Store.MappedFileSizeCommitLog = 64 << 20
	cfg.Store.MaxHashSlotNum, cfg.Store.MaxIndexNum = 10_000, 100_000
	cfg.Store.DiskUsage = func(string) (float64, error) { return 0.1, nil }
	if configure != nil {
		configure(&cfg)
	}
	b, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	return b
}

// sendRequest is a SEND_MESSAGE_V2 of one small message to topic, queue 0.
func sendRequest(topic string) *remoting.Command {
	h := protocol.SendMessageHeader{ProducerGroup: "pg", Topic: topic, DefaultTopic: protocol.AutoCreateTopic,
		DefaultTopicQueueNums: 4, BornTimestamp: 1, Properties: "UNIQ_KEY\x01abc\x02"}
	return remoting.NewRequest(remoting.SendMessageV2, h.Encode(true), []byte("hello"))
}

// TestSendAllocsWithoutMetrics: measuring a send allocates nothing, so the send path with
// metrics off (nil) allocates no more than with a recorder that itself allocates nothing, and
// the recorder sees every message and its stored size.
func TestSendAllocsWithoutMetrics(t *testing.T) {
	var m countingMetrics
	allocs := func(metrics Metrics) float64 {
		b := newUnstarted(t, func(c *Config) { c.Metrics = metrics })
		if _, _, err := b.topics.CreateIfAbsent("AllocT", 1, protocol.PermRead|protocol.PermWrite); err != nil {
			t.Fatal(err)
		}
		ctx, conn, req := context.Background(), &remoting.Conn{}, sendRequest("AllocT")
		send := func() {
			if resp := b.handleSend(ctx, conn, req); resp.Code != int16(remoting.Success) {
				t.Fatalf("send: %d %s", resp.Code, resp.Remark)
			}
			// The dispatcher's work for the send (its allocations count too: AllocsPerRun reads
			// the process's) happens inside the measured call, not around its edges by chance.
			if err := b.store.WaitDispatched(ctx, b.store.CommitLogMaxOffset()); err != nil {
				t.Fatal(err)
			}
		}
		send() // warm up: the queue's first use
		return testing.AllocsPerRun(200, send)
	}
	off := allocs(nil)
	on := allocs(&m)
	t.Logf("allocations per send: %.0f with metrics off, %.0f with a counting recorder", off, on)
	if on > off {
		t.Errorf("a send allocates %.0f times with a recorder, %.0f without: measuring allocates", on, off)
	}
	if n := m.sent.Load(); n != 202 || m.msgs.Load() != 202 {
		t.Errorf("recorded %d sends of %d messages, want 202 and 202", n, m.msgs.Load())
	}
	if m.bytes.Load() <= 202*5 {
		t.Errorf("recorded %d bytes: stored sizes include headers", m.bytes.Load())
	}
}

// TestReady follows Ready through New, Start and Close.
func TestReady(t *testing.T) {
	b := newUnstarted(t, nil)
	if err := b.Ready(); !errors.Is(err, ErrNotServing) {
		t.Fatalf("before Start: %v", err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Ready(); err != nil {
		t.Fatalf("after Start: %v", err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Ready(); !errors.Is(err, ErrClosing) {
		t.Fatalf("after Close: %v", err)
	}

	// A NameServer that refuses: serving, but not ready.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	b = newUnstarted(t, func(c *Config) { c.NamesrvAddr = dead })
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Ready(); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("with no NameServer: %v", err)
	}
}
