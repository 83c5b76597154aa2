package timer

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkScheduleAndFire measures the wheel's own work per timer: reading the inbox record,
// writing its log entry and slot, loading the slot and firing (copying the record into its
// topic through the store). The timers are due over 10 s of a fake clock, stepped by 10 ms.
//
//	go test -run '^$' -bench ScheduleAndFire -count 6 ./core/broker/timer | tee new.txt; benchstat new.txt
func BenchmarkScheduleAndFire(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			var scheduled, fired time.Duration
			for range b.N {
				b.StopTimer()
				f := newFixture(b)
				f.opts.SegmentSize = 0 // the default, not the tests' tiny segments
				base := f.clk.now()
				s := f.open()
				for i := range n {
					f.park(fmt.Sprint("m", i), base.Add(time.Duration(i)*10*time.Second/time.Duration(n)+time.Second).UnixMilli())
				}
				b.StartTimer()
				start := time.Now()
				f.pump(s)
				scheduled += time.Since(start)
				start = time.Now()
				f.run(s, 10*time.Millisecond, base.Add(12*time.Second))
				fired += time.Since(start)
				if s.Stats().Fired != int64(n) {
					b.Fatalf("fired %d of %d", s.Stats().Fired, n)
				}
				b.StopTimer()
				s.Close()
				f.st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/scheduled.Seconds(), "scheduled/s")
			b.ReportMetric(float64(n*b.N)/fired.Seconds(), "fired/s")
		})
	}
}
