package remoting

import (
	"bytes"
	"runtime"
	"testing"
)

func TestFrameClass(t *testing.T) {
	for _, c := range []struct{ n, class, size int }{
		{1, 0, 512}, {512, 0, 512}, {513, 1, 640}, {640, 1, 640}, {641, 2, 768}, {1024, 4, 1024}, {1025, 5, 1280},
		{64 << 10, 28, 64 << 10}, {64<<10 + 1, 29, 80 << 10}, {eagerAlloc, len(framePools) - 1, eagerAlloc}, {eagerAlloc + 1, -1, 0},
	} {
		class, size := frameClass(c.n)
		if class != c.class || size != c.size {
			t.Errorf("frameClass(%d) = %d, %d; want %d, %d", c.n, class, size, c.class, c.size)
		}
		if c.class < 0 {
			p := GetBuffer(c.n)
			if p != nil {
				t.Errorf("GetBuffer(%d) pooled a buffer beyond eagerAlloc", c.n)
			}
			PutBuffer(p) // nil: ignored
			continue
		}
		p := GetBuffer(c.n)
		if len(*p) != c.n || cap(*p) != c.size {
			t.Errorf("GetBuffer(%d): len %d cap %d", c.n, len(*p), cap(*p))
		}
		PutBuffer(p)
	}
	// A buffer not from GetBuffer is not pooled: one of 3000 bytes, in the 3072-byte class
	// (which nothing above used), would be handed out for 3072.
	for range 4 {
		foreign := make([]byte, 3000)
		PutBuffer(&foreign)
	}
	if p := GetBuffer(3072); cap(*p) < 3072 {
		t.Fatalf("GetBuffer(3072) has capacity %d", cap(*p))
	}
	// Every size up to the largest class maps to a class that holds it, at most a quarter
	// larger, and a class's size maps back to it.
	prev := 0
	for n := 1; n <= eagerAlloc; n++ {
		class, size := frameClass(n)
		if size < n || (n > 512 && 4*size > 5*n) || class < prev {
			t.Fatalf("frameClass(%d) = %d, %d", n, class, size)
		}
		if back, _ := frameClass(size); back != class {
			t.Fatalf("frameClass(%d) = %d, but its size %d is class %d", n, class, size, back)
		}
		prev = class
	}
}

// bytesPerRead is the heap allocated per FrameReader.Read of frame, recycling each command
// read when recycle is set.
func bytesPerRead(t *testing.T, frame []byte, recycle bool) float64 {
	t.Helper()
	const reads = 400
	fr := NewFrameReader(bytes.NewReader(bytes.Repeat(frame, reads+1)), 0)
	if _, err := fr.Read(); err != nil { // the pool's first buffer
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range reads {
		c, err := fr.Read()
		if err != nil {
			t.Fatal(err)
		}
		if recycle {
			c.Recycle()
		}
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / reads
}

// TestRecycleReusesFrames: a recycled frame's buffer serves the next frame of its size, and a
// frame without a body gives its buffer back by itself. Each check would see the frame's size
// allocated per read without the pool.
func TestRecycleReusesFrames(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector")
	}
	body := bytes.Repeat([]byte("body"), 16<<10) // 64 KiB: a batch of 16 bodies of 4 KiB
	withBody := encodeFull(t, &Command{Code: SendBatchMessage, Serialize: RocketMQ, ExtFields: sendHeader(), Body: body})
	if got := bytesPerRead(t, withBody, false); got < float64(len(body)) {
		t.Fatalf("%.0f bytes per read without Recycle: the frame's buffer should be new each time", got)
	}
	if got := bytesPerRead(t, withBody, true); got > float64(len(body))/2 {
		t.Errorf("%.0f bytes per read of a %d-byte frame recycled each time", got, len(withBody))
	}

	// Without a body, the decoded header keeps copies of its bytes (ext), but the frame's own
	// buffer goes back: one header's worth per read, not two.
	h := sendHeader()
	h["padding"] = string(bytes.Repeat([]byte("p"), 8<<10))
	noBody := encodeFull(t, &Command{Code: SendMessage, Serialize: RocketMQ, ExtFields: h})
	if got := bytesPerRead(t, noBody, false); got > 1.6*float64(len(noBody)) {
		t.Errorf("%.0f bytes per read of a %d-byte frame without a body", got, len(noBody))
	}
}

func TestRecycle(t *testing.T) {
	body := []byte("a body")
	frame := encodeFull(t, &Command{Code: SendMessage, Serialize: RocketMQ, ExtFields: sendHeader(), Body: body})
	fr := NewFrameReader(bytes.NewReader(append(frame, frame...)), 0)
	c, err := fr.Read()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Body, body) || c.frame == nil {
		t.Fatalf("body %q, pooled %v", c.Body, c.frame != nil)
	}
	topic := c.Field("topic")
	c.Recycle()
	if c.Body != nil || c.frame != nil {
		t.Fatalf("after Recycle: body %q, pooled %v", c.Body, c.frame != nil)
	}
	c.Recycle() // again: nothing to give back

	d, err := fr.Read() // may reuse c's buffer
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Body, body) || d.Field("topic") != topic || topic == "" {
		t.Fatalf("next frame: body %q, topic %q (first %q)", d.Body, d.Field("topic"), topic)
	}
	if got := c.Field("producerGroup"); got != sendHeader()["producerGroup"] {
		t.Fatalf("a recycled command's header changed: producerGroup %q", got) // it keeps copies
	}

	local := NewRequest(SendMessage, nil, body) // built here: Recycle leaves it alone
	local.Recycle()
	if !bytes.Equal(local.Body, body) {
		t.Fatalf("Recycle changed a local command's body to %q", local.Body)
	}
}
