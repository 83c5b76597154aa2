package client

import (
	"testing"

	"github.com/ternmq/tern/core/remoting"
)

// TestPooledBodyWaitsForEveryRequest: a batch's buffer goes back only after the batch is done
// and every request that carried it was released (written or dropped), in any order: an attempt
// that timed out may still be queued on a connection while the retry succeeded elsewhere.
func TestPooledBodyWaitsForEveryRequest(t *testing.T) {
	var given int
	putBuffer = func(p *[]byte) { given++ }
	t.Cleanup(func() { putBuffer = remoting.PutBuffer })

	b := &pooledBody{buf: remoting.GetBuffer(1000)}
	b.refs.Store(1) // the batch
	first, retry := remoting.NewRequest(remoting.SendBatchMessage, nil, nil), remoting.NewRequest(remoting.SendBatchMessage, nil, nil)
	for _, req := range []*remoting.Command{first, retry} {
		b.hold()
		req.Release = b.done
	}
	retry.Release() // the retry was written and answered
	b.done()        // SendBatch returned
	if given != 0 {
		t.Fatal("the buffer went back while the first attempt's request was still queued")
	}
	first.Release() // the timed-out attempt is written (or dropped) at last
	if given != 1 {
		t.Fatalf("buffer given back %d times, want 1", given)
	}

	var nilBody *pooledBody // a batch too large for the pool
	nilBody.hold()
	nilBody.done()
}
