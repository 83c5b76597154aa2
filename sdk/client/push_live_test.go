package client

import (
	"fmt"
	"testing"
	"time"
)

// TestPushConsumesWhileProducing: messages sent one by one while the consumer's pulls are held
// by the broker all arrive. It caught the readable end of the CommitLog moving back under an
// asynchronous flush, which made the broker skip records it had already dispatched.
func TestPushConsumesWhileProducing(t *testing.T) {
	t.Parallel()
	topic := consName("Live")
	c := consCluster(t, topic, 8)
	s := newConsSender(t, c)
	col := newConsCollector()
	a := consStart(t, c, consName("cg"), topic, Tag("*"), col.handler)
	consWaitQueues(t, a, topic, 8, 30*time.Second)
	const n = 2000
	for i := range n {
		s.send(t, int32(i%8), &Message{Topic: topic, Body: fmt.Appendf(nil, "live-%d", i)})
	}
	col.waitDistinct(t, n, 60*time.Second)
	col.requireBodies(t, "live", n)
}
