//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ternmq/tern/discovery/namesrv"
)

// TestClusterE2E is the checker of .ci/run's cluster section, run against real processes:
// etcd, two `tern broker --discovery etcd` and two `tern namesrv --discovery etcd`. It reads
//
//	TERN_E2E_NAMESRV       the NameServers, "host:port;host:port"
//	TERN_E2E_TOPIC         a topic both brokers serve
//	TERN_E2E_BROKERS       the broker names, "broker-a;broker-b"
//	TERN_E2E_KILL_PID      the process id of the broker to SIGKILL mid-run
//	TERN_E2E_KILL_BROKER   its broker name
//	TERN_E2E_RESTART       a bash command that starts that broker again (same data, address)
//	TERN_E2E_PHASE         how long to produce before and after the kill (default 4s)
//
// Producers send with acknowledgements recorded while a push consumer group consumes; the
// broker is killed and sends go on, on the other broker; both NameServers drop it (within the
// lease TTL) and answer alike; it is restarted; at the end every acknowledged message was
// consumed: the counts and checksums of acknowledged and consumed messages match.
func TestClusterE2E(t *testing.T) {
	env := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			t.Skipf("%s is not set: this test is run by .ci/run", k)
		}
		return v
	}
	nameServers := namesrv.SplitAddrs(env("TERN_E2E_NAMESRV"))
	topic, victim, restart := env("TERN_E2E_TOPIC"), env("TERN_E2E_KILL_BROKER"), env("TERN_E2E_RESTART")
	brokers := namesrv.SplitAddrs(env("TERN_E2E_BROKERS"))
	pid, err := strconv.Atoi(env("TERN_E2E_KILL_PID"))
	if err != nil {
		t.Fatalf("TERN_E2E_KILL_PID: %v", err)
	}
	phase := 4 * time.Second
	if v := os.Getenv("TERN_E2E_PHASE"); v != "" {
		if phase, err = time.ParseDuration(v); err != nil {
			t.Fatalf("TERN_E2E_PHASE: %v", err)
		}
	}
	var survivors []string
	for _, b := range brokers {
		if b != victim {
			survivors = append(survivors, b)
		}
	}

	waitRoutesAt(t, nameServers, topic, waitLimit, brokers...)
	l := newLedger()
	p := newProducer(t, nameServers)
	startConsumer(t, nameServers, "e2e-group", "e2e-consumer-1", topic, l)
	startConsumer(t, nameServers, "e2e-group", "e2e-consumer-2", topic, l)

	// Four senders run until the end; a send that fails is not acknowledged and not expected.
	var sent, failed atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := l.send(sctx, p, topic, fmt.Sprintf("e2e-%d-%d", g, i))
				cancel()
				if err != nil && ctx.Err() == nil {
					failed.Add(1)
				}
				sent.Add(1)
			}
		})
	}
	defer func() { stop(); wg.Wait() }()

	time.Sleep(phase) // production time, not synchronisation
	before := l.summary().AckedPerBroker
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s (pid %d): %v", victim, pid, err)
	}
	killed := time.Now()
	t.Logf("killed %s (pid %d) after %d acknowledged sends: %v", victim, pid, l.summary().Acked, before)
	waitRoutesAt(t, nameServers, topic, waitLimit, survivors...)
	t.Logf("both NameServers dropped %s %v after the kill", victim, time.Since(killed).Round(time.Millisecond))
	time.Sleep(phase)
	during := l.summary().AckedPerBroker
	for _, b := range survivors {
		if during[b] <= before[b] {
			t.Fatalf("no send acknowledged by %s after %s was killed: %v then %v", b, victim, before, during)
		}
	}
	if during[victim] != before[victim] {
		t.Logf("%d sends were acknowledged by %s as it was killed", during[victim]-before[victim], victim)
	}

	out, err := exec.Command("bash", "-c", restart).CombinedOutput()
	if err != nil {
		t.Fatalf("restart %s: %v: %s", victim, err, out)
	}
	took := waitRoutesAt(t, nameServers, topic, waitLimit, brokers...)
	t.Logf("%s restarted and routed again after %v", victim, took.Round(time.Millisecond))
	stop()
	wg.Wait()
	l.waitConsumed(t, 90*time.Second)
	s := l.summary()
	if s.Acked != s.Consumed || s.AckedCRC != s.ConsumedCRC {
		t.Fatalf("acknowledged %d (checksum %d), consumed %d (checksum %d)", s.Acked, s.AckedCRC, s.Consumed, s.ConsumedCRC)
	}
	line := fmt.Sprintf("cluster e2e: %d sends, %d failed, %d acknowledged %v, %d consumed (%d deliveries), checksum %d = %d, per consumer %v",
		sent.Load(), failed.Load(), s.Acked, s.AckedPerBroker, s.Consumed, s.Deliveries, s.AckedCRC, s.ConsumedCRC, s.PerConsumer)
	t.Log(line)
	fmt.Println(strings.TrimSpace(line))
}
