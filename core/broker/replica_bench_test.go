package broker_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/sdk/client"
)

// BenchmarkReplicatedProduce: produce throughput of 16 synchronous senders (1 KiB, Tern's SDK,
// everything in this process on loopback) to a single broker, to an ASYNC_MASTER with a slave
// and to a SYNC_MASTER with a slave, in one run. Compare the msgs/s of the sub-benchmarks, or
//
//	go test -run '^$' -bench ReplicatedProduce -benchtime 40000x -count 6 ./core/broker/ | tee rep.txt
//	benchstat -col /mode rep.txt
func BenchmarkReplicatedProduce(b *testing.B) {
	for _, mode := range []string{"single", "async_master", "sync_master"} {
		b.Run("mode="+mode, func(b *testing.B) { benchReplicated(b, mode) })
	}
}

var benchRuns atomic.Int64

func benchReplicated(b *testing.B, mode string) {
	const size = 1024
	m := brokertest.Start(b, func(c *broker.Config) {
		c.BrokerName = "bench"
		switch mode {
		case "single":
			c.HAListenAddr = "off"
		case "async_master":
			c.BrokerRole, c.HAListenAddr = broker.RoleAsyncMaster, "127.0.0.1:0"
		case "sync_master":
			c.BrokerRole, c.HAListenAddr = broker.RoleSyncMaster, "127.0.0.1:0"
		}
	})
	if mode != "single" {
		m.StartSlave(b, nil)
		brokertest.WaitFor(b, 20*time.Second, "the slave in sync", func() bool { return m.Broker.HAStatus().InSyncSlaves() == 1 })
	}
	topic := fmt.Sprintf("RepBench%d", benchRuns.Add(1))
	if err := m.CreateTopic(topic, 8); err != nil {
		b.Fatal(err)
	}
	p, err := client.NewProducer(fmt.Sprintf("rep-bench-%d", benchRuns.Add(1)), client.WithNameServers(m.NamesrvAddr), client.WithLogger(brokertest.Logger()))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	body := make([]byte, size)
	var notOK atomic.Int64
	b.SetBytes(size)
	b.ReportAllocs()
	b.SetParallelism(8) // 16 synchronous senders on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := p.Send(ctx, &client.Message{Topic: topic, Body: body})
			if err != nil {
				b.Error(err)
				return
			}
			if res.Status != client.SendOK {
				notOK.Add(1)
			}
		}
	})
	b.StopTimer()
	if n := notOK.Load(); n > 0 {
		b.Errorf("%d sends not SEND_OK", n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
