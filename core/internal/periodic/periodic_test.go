package periodic

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestRunStops(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	var n atomic.Int32
	go func() {
		defer close(done)
		Run(stop, time.Millisecond, func() {
			if n.Add(1) == 3 {
				close(stop)
			}
		})
	}()
	<-done
	if n.Load() < 3 {
		t.Fatalf("ran %d times", n.Load())
	}
}
