package remoting

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"
)

// TestLoneWriteNeverWaits: a request sent while its connection has nothing else to do is
// written by its caller (writeNow), which must never wait for room in the socket. Against a peer
// that stops reading, with no write deadline to end a stuck write, every call still ends by its
// own deadline; once the peer reads again it gets every frame whole and in the order sent,
// the one the socket took only in part first.
func TestLoneWriteNeverWaits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- nc
	}()
	cl := newClient(t, ClientOptions{IdleTimeout: -1})
	conn, err := cl.Conn(testCtx(t), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer peer.Close()
	// Small socket buffers fill after a few frames.
	if err := peer.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	if err := conn.nc.(*net.TCPConn).SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}

	var sent [][]byte
	call := func(i int) {
		body := bytes.Repeat([]byte{byte(i)}, 60<<10)
		binary.BigEndian.PutUint32(body, uint32(i))
		sent = append(sent, body)
		done := make(chan error, 1)
		go func() {
			_, err := conn.InvokeUntil(context.Background(), nil, time.Now().Add(20*time.Millisecond), NewRequest(codeEcho, nil, body))
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("call %d: %v, want its deadline exceeded", i, err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("call %d did not end by its deadline: its caller is stuck writing to a peer that does not read", i)
		}
	}
	for i := 0; conn.partial.Load() == 0; i++ { // not under wmu: the writer holds it while stuck
		if i == 1000 {
			t.Fatal("the socket took 1,000 frames of 60 KiB whole from a peer that does not read, or none went through writeNow")
		}
		call(i)
	}
	t.Logf("%d calls filled the socket", len(sent))
	for range 3 { // queued behind the head
		call(len(sent))
	}

	if err := peer.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		t.Fatal(err)
	}
	fr := NewFrameReader(peer, DefaultMaxFrameSize)
	for i, want := range sent {
		got, err := fr.Read()
		if err != nil {
			t.Fatalf("frame %d of %d: %v", i, len(sent), err)
		}
		if got.Code != codeEcho || !bytes.Equal(got.Body, want) {
			t.Fatalf("frame %d: code %d, body of %d bytes starting %x; want call %d's", i, got.Code, len(got.Body), got.Body[:min(8, len(got.Body))], i)
		}
	}
}

// TestSlotsFreeBeforeTheAnswer: a request's in-flight slot is free by the time its response is
// written, whether the handler returns the response or answers later (Detach): a peer that has
// the answer may send its next request at once, and with MaxInflightPerConn 1 that request must
// not find the slot still taken (SYSTEM_BUSY).
func TestSlotsFreeBeforeTheAnswer(t *testing.T) {
	held := make(chan int, 2) // in-flight slots taken when a response's Release runs, after its write
	answer := func(conn *Conn, req *Command) *Command {
		resp := NewResponse(req, int16(Success), "")
		resp.Release = func() { held <- len(conn.inflight) }
		return resp
	}
	m := NewMux()
	m.HandleFunc(codeEcho, func(_ context.Context, conn *Conn, req *Command) *Command {
		return answer(conn, req)
	})
	m.HandleFunc(SendMessageV2, func(_ context.Context, conn *Conn, req *Command) *Command {
		go conn.Detach(req)(answer(conn, req))
		return nil
	})
	_, addr := startServer(t, ServerOptions{MaxInflightPerConn: 1}, m)
	cl := newClient(t, ClientOptions{})
	for _, code := range []int16{codeEcho, SendMessageV2} {
		for i := range 2 {
			resp, err := cl.Invoke(testCtx(t), addr, NewRequest(code, nil, nil))
			if err == nil {
				err = ResponseErr(resp)
			}
			if err != nil {
				t.Fatalf("code %d, request %d: %v", code, i, err)
			}
			if n := <-held; n != 0 {
				t.Errorf("code %d, request %d: %d in-flight slot(s) still taken when the answer was written", code, i, n)
			}
		}
	}
}

// TestBurstOfAnswersQueues: a call sent right after its connection handed out several responses
// at once (a group commit answering synchronous producers together) goes through the write
// queue, since the other callers are about to send too and the writer sends them together; a
// call after a single answer is written by its sender.
func TestBurstOfAnswersQueues(t *testing.T) {
	const n = 4
	arrived := make(chan struct{}, n)
	release := make(chan struct{})
	m := NewMux()
	m.HandleFunc(codeEcho, func(_ context.Context, _ *Conn, req *Command) *Command {
		if len(req.Body) > 0 { // the burst: held until all n are in
			arrived <- struct{}{}
			<-release
		}
		return NewResponse(req, int16(Success), "")
	})
	_, addr := startServer(t, ServerOptions{}, m)
	cl := newClient(t, ClientOptions{})
	conn, err := cl.Conn(testCtx(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	invoke := func(body []byte) error {
		resp, err := conn.InvokeUntil(testCtx(t), nil, time.Time{}, NewRequest(codeEcho, nil, body))
		if err == nil {
			err = ResponseErr(resp)
		}
		return err
	}
	if err := invoke(nil); err != nil {
		t.Fatal(err)
	}
	if d := conn.direct.Load(); d != 1 {
		t.Fatalf("a lone call: %d frames written by their senders, want 1", d)
	}

	errs := make(chan error, n)
	for range n {
		go func() { errs <- invoke([]byte("hold")) }()
	}
	for range n {
		<-arrived
	}
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	before := conn.direct.Load()
	if err := invoke(nil); err != nil { // n responses handed out since the last push
		t.Fatal(err)
	}
	if d := conn.direct.Load() - before; d != 0 {
		t.Errorf("the first call after %d answers at once was written by its sender, not queued for the writer", n)
	}
	// One answer since: the next call goes by itself again, unless the writer still holds the
	// socket from the call before (it may not have left writev when the answer came back).
	for i := 0; conn.direct.Load() == before; i++ {
		if i == 100 {
			t.Fatal("100 calls one after the other, each after a single answer, all went through the writer")
		}
		if err := invoke(nil); err != nil {
			t.Fatal(err)
		}
	}
}
