package ha

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/core/message"
)

// Compare runs with benchstat:
//
//	go test ./core/ha -run '^$' -bench . -count 10 > new.txt && benchstat old.txt new.txt

// benchSegment is the CommitLog segment size of the benchmark stores.
const benchSegment = 64 << 20

// BenchmarkReplication measures master → slave throughput: each op copies a master's log of
// replicationVolume bytes of records to a new, empty slave; the time runs from the slave's start
// until its log ends where the master's does.
func BenchmarkReplication(b *testing.B) {
	const replicationVolume = 32 << 20
	for _, body := range []int{1 << 10, 16 << 10} {
		b.Run(fmt.Sprintf("body=%d", body), func(b *testing.B) {
			m := openReplicaSeg(b, b.TempDir(), benchSegment)
			master := startMaster(b, m, nil)
			var end int64
			for i := 0; end < replicationVolume; i++ {
				end = put(b, m.st, newRecord("TopicA", int32(i%4), i, body))
			}
			b.SetBytes(end)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				s := openReplicaSeg(b, b.TempDir(), benchSegment)
				b.StartTimer()
				slave := startSlave(b, s.st, s.epochs, fixedAddr(master.addr()))
				tick := time.NewTicker(time.Millisecond)
				for s.st.CommitLogMaxOffset() < end {
					<-tick.C
				}
				tick.Stop()
				b.StopTimer()
				slave.stop()
				s.st.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkWaitReplicated: 16 producers doing Put alone, and Put then WaitReplicated with a
// slave following (SYNC_MASTER); the ratio of the two is the cost of synchronous replication.
func BenchmarkWaitReplicated(b *testing.B) {
	const producers = 16
	for _, wait := range []bool{false, true} {
		name := "put"
		if wait {
			name = "put+wait"
		}
		b.Run(name, func(b *testing.B) {
			m := openReplicaSeg(b, b.TempDir(), benchSegment)
			s := openReplicaSeg(b, b.TempDir(), benchSegment)
			master := startMaster(b, m, nil)
			startSlave(b, s.st, s.epochs, fixedAddr(master.addr()))
			tick := time.NewTicker(time.Millisecond)
			for !master.anyInSync() {
				<-tick.C
			}
			tick.Stop()
			recs := make([]*message.Record, producers)
			for p := range recs {
				recs[p] = newRecord("TopicA", int32(p%4), p, 1<<10)
			}
			b.SetBytes(int64(recs[0].Size()))
			b.ReportAllocs()
			b.ResetTimer()
			var next atomic.Int64
			var wg sync.WaitGroup
			for p := range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := *recs[p]
					for next.Add(1) <= int64(b.N) {
						res, err := m.st.PutMessage(context.Background(), &r)
						if err != nil {
							b.Error(err)
							return
						}
						if wait {
							if err := master.WaitReplicated(context.Background(), res.PhysicalOffset+int64(res.Bytes)); err != nil {
								b.Error(err)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(master.Status().AckAdvances)/float64(b.N), "acks/op")
		})
	}
}
