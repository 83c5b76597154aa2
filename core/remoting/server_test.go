package remoting

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test request codes.
const (
	codeEcho  int16 = 1000 // answers with its fields and body
	codeBlock int16 = 1001 // signals entered, then waits for release or ctx
	codeDelay int16 = 1002 // "slow"=="true" waits for release; answers with its "n"
	codePanic int16 = 1003
)

// blocker is the test's control of blocking handlers.
type blocker struct {
	entered chan *Command
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{entered: make(chan *Command, 100), release: make(chan struct{})}
}

func (b *blocker) wait(ctx context.Context, req *Command) *Command {
	b.entered <- req
	select {
	case <-b.release:
		return NewResponse(req, int16(Success), "released")
	case <-ctx.Done():
		return NewResponse(req, int16(SystemError), "cancelled")
	}
}

// testMux returns a Mux with the test codes; b controls codeBlock and codeDelay.
func testMux(b *blocker) *Mux {
	m := NewMux()
	m.HandleFunc(codeEcho, func(ctx context.Context, conn *Conn, req *Command) *Command {
		resp := NewResponse(req, int16(Success), "echo")
		for k, v := range req.Header() {
			resp.SetField(k, v)
		}
		resp.Body = req.Body
		return resp
	})
	m.HandleFunc(codeBlock, func(ctx context.Context, conn *Conn, req *Command) *Command {
		return b.wait(ctx, req)
	})
	m.HandleFunc(codeDelay, func(ctx context.Context, conn *Conn, req *Command) *Command {
		if req.Field("slow") == "true" {
			b.wait(ctx, req)
		}
		resp := NewResponse(req, int16(Success), "")
		resp.SetField("n", req.Field("n"))
		return resp
	})
	m.HandleFunc(codePanic, func(ctx context.Context, conn *Conn, req *Command) *Command {
		panic("boom")
	})
	return m
}

func TestRequestResponse(t *testing.T) {
	_, addr := startServer(t, ServerOptions{}, testMux(newBlocker()))
	cl := newClient(t, ClientOptions{})
	tests := []struct {
		name       string
		req        *Command
		wantCode   Code
		wantRemark string
	}{
		{"json echo", &Command{Code: codeEcho, Language: "GO", ExtFields: map[string]string{"a": "1", "b": "two"}, Body: []byte("payload")}, Success, "echo"},
		{"binary echo", &Command{Code: codeEcho, Language: "GO", ExtFields: map[string]string{"a": "1"}, Body: []byte("x"), Serialize: RocketMQ}, Success, "echo"},
		{"oneway bit absent is answered", NewRequest(codeEcho, nil, nil), Success, "echo"},
		{"unknown code", NewRequest(999, nil, nil), RequestCodeNotSupported, " request type 999 not supported"},
		{"unknown code in binary", &Command{Code: 998, Serialize: RocketMQ}, RequestCodeNotSupported, " request type 998 not supported"},
		{"handler panic", NewRequest(codePanic, nil, nil), SystemError, "handler panic: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := cl.Invoke(testCtx(t), addr, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if Code(resp.Code) != tc.wantCode || resp.Remark != tc.wantRemark {
				t.Fatalf("got %s %q, want %s %q", Code(resp.Code), resp.Remark, tc.wantCode, tc.wantRemark)
			}
			if !resp.IsResponse() || resp.Opaque != tc.req.Opaque {
				t.Fatalf("flag %d opaque %d, want a response to opaque %d", resp.Flag, resp.Opaque, tc.req.Opaque)
			}
			if resp.Serialize != tc.req.Serialize {
				t.Fatalf("answered in %s, asked in %s", serializeName(resp.Serialize), serializeName(tc.req.Serialize))
			}
			if tc.wantCode == Success && (diffFields(resp, tc.req) != "" || string(resp.Body) != string(tc.req.Body)) {
				t.Fatalf("echo differs: %s, body %q", diffFields(resp, tc.req), resp.Body)
			}
			if err := ResponseErr(resp); !errors.Is(err, tc.wantCode.Err()) {
				t.Fatalf("ResponseErr %v does not match %v", err, tc.wantCode.Err())
			}
		})
	}
}

func diffFields(a, b *Command) string {
	if len(a.Header()) != len(b.Header()) {
		return fmt.Sprintf("%v vs %v", a.Header(), b.Header())
	}
	for k, v := range b.Header() {
		if a.Header()[k] != v {
			return fmt.Sprintf("%v vs %v", a.Header(), b.Header())
		}
	}
	return ""
}

// TestOutOfOrder checks that responses are matched by opaque: fast requests complete while a
// slow one sent before them on the same connection is still held.
func TestOutOfOrder(t *testing.T) {
	b := newBlocker()
	_, addr := startServer(t, ServerOptions{}, testMux(b))
	cl := newClient(t, ClientOptions{})
	ctx := testCtx(t)

	slowDone := make(chan error, 1)
	go func() {
		resp, err := cl.Invoke(ctx, addr, NewRequest(codeDelay, map[string]string{"slow": "true", "n": "slow"}, nil))
		if err == nil && resp.Field("n") != "slow" {
			err = fmt.Errorf("slow got n=%q", resp.Field("n"))
		}
		slowDone <- err
	}()
	<-b.entered // the slow request is held by its handler

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			n := strconv.Itoa(i)
			resp, err := cl.Invoke(ctx, addr, NewRequest(codeDelay, map[string]string{"n": n}, nil))
			if err == nil && resp.Field("n") != n {
				err = fmt.Errorf("request %s got the response of %q", n, resp.Field("n"))
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case err := <-slowDone:
		t.Fatalf("slow request finished before its release: %v", err)
	default:
	}
	close(b.release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
}

func TestOneway(t *testing.T) {
	got := make(chan *Command, 1)
	m := NewMux()
	m.HandleFunc(codeEcho, func(ctx context.Context, conn *Conn, req *Command) *Command {
		got <- req
		return NewResponse(req, int16(Success), "must not be sent")
	})
	_, addr := startServer(t, ServerOptions{}, m)
	cl := newClient(t, ClientOptions{})
	ctx := testCtx(t)
	if err := cl.InvokeOneway(ctx, addr, NewRequest(codeEcho, map[string]string{"k": "v"}, nil)); err != nil {
		t.Fatal(err)
	}
	req := <-got
	if !req.IsOneway() || req.Field("k") != "v" {
		t.Fatalf("handler got flag %d fields %v", req.Flag, req.Header())
	}
	// A response to the oneway request would arrive before this one's; it must be dropped by the
	// client, and the next Invoke must get its own response.
	m2 := NewRequest(codeEcho, nil, nil)
	done := make(chan *Command, 1)
	go func() {
		resp, _ := cl.Invoke(ctx, addr, m2)
		done <- resp
	}()
	<-got
	resp := <-done
	if resp == nil || resp.Opaque != m2.Opaque {
		t.Fatalf("got %+v, want the response to opaque %d", resp, m2.Opaque)
	}
	c, _ := cl.Conn(ctx, addr)
	noPending(t, c, "left")
}

// TestSendLater checks a handler that keeps a request and answers it later with conn.Send, as a
// long-polling pull does.
func TestSendLater(t *testing.T) {
	type held struct {
		conn *Conn
		req  *Command
	}
	holds := make(chan held, 1)
	m := NewMux()
	m.HandleFunc(PullMessage, func(ctx context.Context, conn *Conn, req *Command) *Command {
		holds <- held{conn, req}
		return nil
	})
	_, addr := startServer(t, ServerOptions{}, m)
	cl := newClient(t, ClientOptions{})
	for _, st := range []SerializeType{JSON, RocketMQ} {
		t.Run(serializeName(st), func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				req := NewRequest(PullMessage, nil, nil)
				req.Serialize = st
				resp, err := cl.Invoke(testCtx(t), addr, req)
				if err == nil && (Code(resp.Code) != PullNotFound || resp.Serialize != st) {
					err = fmt.Errorf("got %s in %s", Code(resp.Code), serializeName(resp.Serialize))
				}
				done <- err
			}()
			h := <-holds
			select {
			case err := <-done:
				t.Fatalf("answered before Send: %v", err)
			default:
			}
			resp := NewResponse(h.req, int16(PullNotFound), "")
			resp.Flag = 0 // Send sets it
			if err := h.conn.Send(resp); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDetach: a handler that detaches its request answers it after returning, from another
// goroutine, in the request's encoding; until then the request keeps its in-flight slot, so
// the connection's limit counts it; a oneway request's answer is dropped and frees its slot.
func TestDetach(t *testing.T) {
	answers := make(chan func(*Command), 4)
	reqs := make(chan *Command, 4)
	m := NewMux()
	m.HandleFunc(SendMessageV2, func(ctx context.Context, conn *Conn, req *Command) *Command {
		answers <- conn.Detach(req)
		reqs <- req
		return nil
	})
	_, addr := startServer(t, ServerOptions{MaxInflightPerConn: 1}, m)
	cl := newClient(t, ClientOptions{})
	ctx := testCtx(t)
	for _, st := range []SerializeType{JSON, RocketMQ} {
		t.Run(serializeName(st), func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				req := NewRequest(SendMessageV2, nil, nil)
				req.Serialize = st
				resp, err := cl.Invoke(ctx, addr, req)
				if err == nil && (Code(resp.Code) != Success || resp.Remark != "later" || resp.Serialize != st) {
					err = fmt.Errorf("got %s %q in %s", Code(resp.Code), resp.Remark, serializeName(resp.Serialize))
				}
				done <- err
			}()
			answer, req := <-answers, <-reqs
			// The detached request holds the connection's only slot.
			resp, err := cl.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
			if err != nil || Code(resp.Code) != SystemBusy {
				t.Fatalf("while detached: %v %v, want SYSTEM_BUSY", resp, err)
			}
			select {
			case err := <-done:
				t.Fatalf("answered before the answer: %v", err)
			default:
			}
			go answer(NewResponse(req, int16(Success), "later"))
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
	// A oneway request: nothing is written back, and the slot is freed.
	if err := cl.InvokeOneway(ctx, addr, NewRequest(SendMessageV2, nil, nil)); err != nil {
		t.Fatal(err)
	}
	answer, req := <-answers, <-reqs
	answer(NewResponse(req, int16(Success), "dropped"))
	// codeEcho has no handler here: served, it is answered REQUEST_CODE_NOT_SUPPORTED.
	if resp, err := cl.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil)); err != nil || Code(resp.Code) != RequestCodeNotSupported {
		t.Fatalf("after the oneway answer: %v %v, want REQUEST_CODE_NOT_SUPPORTED", resp, err)
	}
}

// TestServerInvokesClient checks requests from the server to the client over the client's own
// connection: a client Handler answers them, a client without one answers code 3.
func TestServerInvokesClient(t *testing.T) {
	tests := []struct {
		name       string
		handler    Handler
		wantCode   Code
		wantRemark string
	}{
		{"client handler", HandlerFunc(func(ctx context.Context, conn *Conn, req *Command) *Command {
			resp := NewResponse(req, int16(Success), "checked")
			resp.SetField("state", "COMMIT_MESSAGE")
			return resp
		}), Success, "checked"},
		{"no client handler", nil, RequestCodeNotSupported, " request type 39 not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, addr := startServer(t, ServerOptions{}, testMux(newBlocker()))
			cl := newClient(t, ClientOptions{Handler: tc.handler})
			ctx := testCtx(t)
			if _, err := cl.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil)); err != nil {
				t.Fatal(err)
			}
			conns := srv.Conns()
			if len(conns) != 1 {
				t.Fatalf("%d server connections, want 1", len(conns))
			}
			clientConn, _ := cl.Conn(ctx, addr)
			if conns[0].RemoteAddr() != clientConn.LocalAddr() {
				t.Fatalf("server sees %s, client is %s", conns[0].RemoteAddr(), clientConn.LocalAddr())
			}
			resp, err := conns[0].Invoke(ctx, NewRequest(CheckTransactionState, map[string]string{"msgId": "m"}, nil))
			if err != nil {
				t.Fatal(err)
			}
			if Code(resp.Code) != tc.wantCode || resp.Remark != tc.wantRemark {
				t.Fatalf("got %s %q, want %s %q", Code(resp.Code), resp.Remark, tc.wantCode, tc.wantRemark)
			}
			if tc.wantCode == Success && resp.Field("state") != "COMMIT_MESSAGE" {
				t.Fatalf("fields %v", resp.Header())
			}
		})
	}
}

// TestDefaultInflight: with the default limits one connection may have 1,000 requests in its
// handlers at once, as an asynchronous producer has while the broker waits on a slow disk.
func TestDefaultInflight(t *testing.T) {
	const n = 1000
	b := &blocker{entered: make(chan *Command, n), release: make(chan struct{})}
	_, addr := startServer(t, ServerOptions{}, testMux(b))
	cl := newClient(t, ClientOptions{})
	ctx := testCtx(t)
	done := make(chan error, n)
	for range n {
		go func() {
			resp, err := cl.Invoke(ctx, addr, NewRequest(codeBlock, nil, nil))
			if err == nil {
				err = ResponseErr(resp)
			}
			done <- err
		}()
	}
	for i := range n {
		select {
		case <-b.entered:
		case err := <-done:
			t.Fatalf("with %d requests in the handlers, one ended before the release: %v", i, err)
		}
	}
	close(b.release)
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestSystemBusy(t *testing.T) {
	tests := []struct {
		name    string
		opts    ServerOptions
		clients int // requests are spread over this many connections
	}{
		{"per connection", ServerOptions{MaxInflightPerConn: 2}, 1},
		{"global", ServerOptions{MaxInflightPerConn: 10, MaxInflight: 2}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBlocker()
			_, addr := startServer(t, tc.opts, testMux(b))
			ctx := testCtx(t)
			clients := make([]*Client, tc.clients)
			for i := range clients {
				clients[i] = newClient(t, ClientOptions{})
			}
			held := make(chan error, 2)
			for i := range 2 {
				go func() {
					resp, err := clients[i%len(clients)].Invoke(ctx, addr, NewRequest(codeBlock, nil, nil))
					if err == nil {
						err = ResponseErr(resp)
					}
					held <- err
				}()
			}
			<-b.entered
			<-b.entered
			for _, cl := range clients {
				resp, err := cl.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
				if err != nil {
					t.Fatal(err)
				}
				if Code(resp.Code) != SystemBusy || !strings.HasPrefix(resp.Remark, "[OVERLOAD]") {
					t.Fatalf("got %s %q, want SYSTEM_BUSY [OVERLOAD]", Code(resp.Code), resp.Remark)
				}
			}
			// A oneway request over the limit is dropped silently.
			if err := clients[0].InvokeOneway(ctx, addr, NewRequest(codeBlock, nil, nil)); err != nil {
				t.Fatal(err)
			}
			close(b.release)
			for range 2 {
				if err := <-held; err != nil {
					t.Fatal(err)
				}
			}
			// Slots are given back.
			resp, err := clients[0].Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
			if err != nil || Code(resp.Code) != Success {
				t.Fatalf("after release: %v %v", resp, err)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	var logs logBuffer
	srv, addr := startServer(t, ServerOptions{IdleTimeout: 200 * time.Millisecond, Logger: logs.logger()}, testMux(newBlocker()))
	cl := newClient(t, ClientOptions{IdleTimeout: -1})
	ctx := testCtx(t)
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx, NewRequest(codeEcho, nil, nil)); err != nil {
		t.Fatal(err)
	}
	serverConn := srv.Conns()[0]
	start := time.Now()
	waitClosed(t, c.Done(), "the idle connection to close")
	waitClosed(t, serverConn.Done(), "the server side to close")
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", el)
	}
	if !errors.Is(serverConn.Err(), errIdle) {
		t.Fatalf("server conn error %v, want the idle timeout", serverConn.Err())
	}
	if !strings.Contains(logs.String(), "closing idle connection") {
		t.Fatalf("no idle log in:\n%s", logs.String())
	}
	// The client dials again.
	if _, err := cl.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil)); err != nil {
		t.Fatal(err)
	}
}

// TestTrafficKeepsAlive checks that a connection with traffic more often than IdleTimeout
// stays open.
func TestTrafficKeepsAlive(t *testing.T) {
	srv, addr := startServer(t, ServerOptions{IdleTimeout: 400 * time.Millisecond}, testMux(newBlocker()))
	cl := newClient(t, ClientOptions{IdleTimeout: -1})
	ctx := testCtx(t)
	c, err := cl.Conn(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for range 25 { // 1 s, 2.5 idle timeouts
		<-tick.C
		if _, err := c.Invoke(ctx, NewRequest(codeEcho, nil, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if len(srv.Conns()) != 1 {
		t.Fatal("connection replaced")
	}
}

// TestWriteStallCloses: a peer that keeps sending but stops reading its answers has its
// connection closed by the write deadline (at most 1.5 IdleTimeout after the last write that
// went through), though reads keep the connection from counting as idle.
func TestWriteStallCloses(t *testing.T) {
	srv, addr := startServer(t, ServerOptions{IdleTimeout: 300 * time.Millisecond}, testMux(newBlocker()))
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	frame, err := AppendFrame(nil, &Command{Code: codeEcho, Serialize: RocketMQ, Body: make([]byte, 64<<10)})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // sends until the connection fails or the test ends; never reads
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := nc.Write(frame); err != nil {
				return
			}
		}
	}()
	var serverConn *Conn
	for deadline := time.Now().Add(waitLimit); serverConn == nil; runtime.Gosched() {
		if cs := srv.Conns(); len(cs) > 0 {
			serverConn = cs[0]
		} else if time.Now().After(deadline) {
			t.Fatal("the server accepted no connection")
		}
	}
	waitClosed(t, serverConn.Done(), "the stalled connection to close")
	if err := serverConn.Err(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("server conn error %v, want the write deadline", err)
	}
}

func TestBodyPartsAndRelease(t *testing.T) {
	var released atomic.Int32
	releasedCh := make(chan chan struct{}, 1) // the channel the next response's Release closes
	m := NewMux()
	m.HandleFunc(PullMessage, func(ctx context.Context, conn *Conn, req *Command) *Command {
		resp := NewResponse(req, int16(Success), "")
		resp.SetField("nextBeginOffset", "3")
		resp.Body = []byte("head|")
		resp.BodyParts = [][]byte{[]byte("rec1|"), nil, []byte("rec2|"), make([]byte, 100<<10)}
		ch := <-releasedCh
		resp.Release = func() {
			released.Add(1)
			close(ch) // a second call panics
		}
		return resp
	})
	srv, addr := startServer(t, ServerOptions{}, m)
	cl := newClient(t, ClientOptions{})
	for _, st := range []SerializeType{JSON, RocketMQ} {
		t.Run(serializeName(st), func(t *testing.T) {
			ch := make(chan struct{})
			releasedCh <- ch
			req := NewRequest(PullMessage, nil, nil)
			req.Serialize = st
			resp, err := cl.Invoke(testCtx(t), addr, req)
			if err != nil {
				t.Fatal(err)
			}
			want := "head|rec1|rec2|" + string(make([]byte, 100<<10))
			if string(resp.Body) != want || resp.Field("nextBeginOffset") != "3" {
				t.Fatalf("body of %d bytes, fields %v", len(resp.Body), resp.Header())
			}
			waitClosed(t, ch, "Release")
		})
	}
	closeServer(t, srv)
	if n := released.Load(); n != 2 {
		t.Fatalf("Release called %d times for 2 responses", n)
	}
}

func TestReleaseOnDrop(t *testing.T) {
	srv, addr := startServer(t, ServerOptions{}, testMux(newBlocker()))
	cl := newClient(t, ClientOptions{})
	ctx := testCtx(t)
	if _, err := cl.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil)); err != nil {
		t.Fatal(err)
	}
	conn := srv.Conns()[0]
	conn.Close()
	var released atomic.Int32
	resp := &Command{Flag: FlagResponse, Release: func() { released.Add(1) }}
	if err := conn.Send(resp); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("Send on a closed connection: %v", err)
	}
	bad := &Command{Serialize: 9, Release: func() { released.Add(1) }}
	c, _ := cl.Conn(ctx, addr)
	if err := c.InvokeOneway(ctx, bad); err == nil {
		t.Fatal("unencodable command sent")
	}
	if n := released.Load(); n != 2 {
		t.Fatalf("Release called %d times, want 2", n)
	}
}

func TestInvokeContext(t *testing.T) {
	b := newBlocker()
	_, addr := startServer(t, ServerOptions{}, testMux(b))
	cl := newClient(t, ClientOptions{})
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	_, err := cl.Invoke(ctx, addr, NewRequest(codeBlock, nil, nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	c, _ := cl.Conn(testCtx(t), addr)
	noPending(t, c, "after the timeout")
	close(b.release) // the late response is dropped
	if _, err := c.Invoke(testCtx(t), NewRequest(codeEcho, nil, nil)); err != nil {
		t.Fatal(err)
	}
}

func TestCloseFailsPendingInvokes(t *testing.T) {
	tests := []struct {
		name  string
		close func(srv *Server, cl *Client, addr string)
	}{
		{"client closes", func(srv *Server, cl *Client, addr string) { cl.CloseConn(addr) }},
		{"server closes the connection", func(srv *Server, cl *Client, addr string) { srv.Conns()[0].Close() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBlocker()
			srv, addr := startServer(t, ServerOptions{}, testMux(b))
			cl := newClient(t, ClientOptions{})
			ctx := testCtx(t)
			errs := make(chan error, 3)
			for range 3 {
				go func() {
					_, err := cl.Invoke(ctx, addr, NewRequest(codeBlock, nil, nil))
					errs <- err
				}()
			}
			for range 3 {
				<-b.entered
			}
			tc.close(srv, cl, addr)
			for range 3 {
				if err := <-errs; !errors.Is(err, ErrConnClosed) {
					t.Fatalf("got %v, want ErrConnClosed", err)
				}
			}
			c, err := cl.Conn(ctx, addr) // a new connection
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Invoke(ctx, NewRequest(codeEcho, nil, nil)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestServerCloseStuckHandler checks that Close gives up on a handler that ignores its ctx when
// Close's ctx ends, and waits for it otherwise.
func TestServerCloseStuckHandler(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	cancelled := make(chan struct{})
	m := NewMux()
	m.HandleFunc(codeBlock, func(ctx context.Context, conn *Conn, req *Command) *Command {
		close(entered)
		<-ctx.Done()
		close(cancelled)
		<-release // ignores ctx from here on
		return nil
	})
	srv := NewServer(ServerOptions{}, m)
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, ClientOptions{})
	go cl.Invoke(testCtx(t), addr.String(), NewRequest(codeBlock, nil, nil))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a stuck handler: %v", err)
	}
	<-cancelled
	close(release)
	closeServer(t, srv)
	if _, err := srv.Listen("127.0.0.1:0"); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Listen after Close: %v", err)
	}
}

func TestServeReturnsAfterClose(t *testing.T) {
	var connected, disconnected atomic.Int32
	srv := NewServer(ServerOptions{
		OnConnect:    func(*Conn) { connected.Add(1) },
		OnDisconnect: func(*Conn) { disconnected.Add(1) },
	}, testMux(newBlocker()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	cl := newClient(t, ClientOptions{})
	if _, err := cl.Invoke(testCtx(t), ln.Addr().String(), NewRequest(codeEcho, nil, nil)); err != nil {
		t.Fatal(err)
	}
	closeServer(t, srv)
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	if connected.Load() != 1 || disconnected.Load() != 1 {
		t.Fatalf("%d connects, %d disconnects", connected.Load(), disconnected.Load())
	}
	if _, err := cl.Invoke(testCtx(t), ln.Addr().String(), NewRequest(codeEcho, nil, nil)); !errors.Is(err, ErrConnClosed) && !isDialErr(err) {
		t.Fatalf("invoke after server close: %v", err)
	}
}

func isDialErr(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connect")
}

// TestRawSocketProtocol speaks to the server with hand-made bytes, as Go v2.1.2 does: a stray
// response with an unknown opaque is dropped, and a heartbeat frame is answered with the exact
// response bytes the Go client decodes.
func TestRawSocketProtocol(t *testing.T) {
	_, addr := startServer(t, ServerOptions{}, NewMux())
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(waitLimit))
	stray := frameOf(JSON, []byte(`{"code":0,"language":"GO","version":317,"opaque":777,"flag":1,"remark":"","extFields":{}}`), nil)
	heartbeat := frameOf(JSON, []byte(`{"code":34,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{}}`), []byte(`{"clientID":"x"}`))
	if _, err := nc.Write(append(stray, heartbeat...)); err != nil {
		t.Fatal(err)
	}
	const wantHeader = `{"code":3,"language":"GO","version":401,"opaque":1,"flag":1,"remark":" request type 34 not supported","extFields":{}}`
	want := frameOf(JSON, []byte(wantHeader), nil)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(nc, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("response\n got %q\nwant %q", got, want)
	}
}

// TestConnValues checks that OnConnect runs before the first request is served, and the
// connection's attachments.
func TestConnValues(t *testing.T) {
	type clientKey struct{}
	m := NewMux()
	m.HandleFunc(codeEcho, func(ctx context.Context, conn *Conn, req *Command) *Command {
		resp := NewResponse(req, int16(Success), "")
		v, _ := conn.Value(clientKey{}).(string)
		resp.SetField("tag", v)
		conn.SetValue(clientKey{}, "client-1@host")
		return resp
	})
	_, addr := startServer(t, ServerOptions{OnConnect: func(c *Conn) { c.SetValue(clientKey{}, "connected") }}, m)
	cl := newClient(t, ClientOptions{})
	ctx := testCtx(t)
	for _, want := range []string{"connected", "client-1@host"} {
		resp, err := cl.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Field("tag") != want {
			t.Fatalf("tag %q, want %q", resp.Field("tag"), want)
		}
	}
	c, _ := cl.Conn(ctx, addr)
	c.SetValue("k", 1)
	c.SetValue("k", nil)
	if c.Value("k") != nil {
		t.Fatal("SetValue(k, nil) did not remove k")
	}
}

// TestInvokeStop: InvokeStop gives up when its stop channel closes, with ErrStopped, forgets
// the request, and the connection goes on serving.
func TestInvokeStop(t *testing.T) {
	b, c := blockingConn(t)
	stop := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.InvokeStop(testCtx(t), stop, NewRequest(codeBlock, nil, nil))
		errc <- err
	}()
	<-b.entered // the request is in flight
	close(stop)
	if err := <-errc; !errors.Is(err, ErrStopped) {
		t.Fatalf("InvokeStop after stop: %v, want ErrStopped", err)
	}
	noPending(t, c, "after the stop")
	close(b.release)
	if _, err := c.InvokeStop(testCtx(t), nil, NewRequest(codeEcho, nil, nil)); err != nil {
		t.Fatal(err)
	}
}

// TestWorkersReused: the handlers of sequential requests run on a reused goroutine, not a new
// one per request (whose stack would grow again each time).
func TestWorkersReused(t *testing.T) {
	ids := make(chan string, 1)
	m := NewMux()
	m.HandleFunc(codeEcho, func(ctx context.Context, conn *Conn, req *Command) *Command {
		ids <- goroutineID()
		return NewResponse(req, int16(Success), "")
	})
	_, addr := startServer(t, ServerOptions{}, m)
	cl := newClient(t, ClientOptions{})
	seen := map[string]int{}
	for range 20 {
		if _, err := cl.Invoke(testCtx(t), addr, NewRequest(codeEcho, nil, nil)); err != nil {
			t.Fatal(err)
		}
		seen[<-ids]++
	}
	// One, unless a request arrived before its worker was back waiting: at most a few.
	if len(seen) > 3 {
		t.Fatalf("20 sequential requests ran on %d goroutines, want 1 (at most 3): %v", len(seen), seen)
	}
}

// TestWorkersRetire: a worker survives the end of an idle period in which it served, and
// exits at the end of one in which it did not. The test ends the periods itself.
func TestWorkersRetire(t *testing.T) {
	ids := make(chan string, 1)
	cfg := connConfig{handler: HandlerFunc(func(ctx context.Context, conn *Conn, req *Command) *Command {
		ids <- goroutineID()
		return nil
	})}.withDefaults(DefaultMaxInflightPerConn)
	stop := make(chan struct{})
	defer close(stop)
	var track sync.WaitGroup
	w := newWorkersIdle(stop, &track, time.Hour) // no period ends but the test's
	nc, peer := net.Pipe()
	defer peer.Close()
	c := newConn(context.Background(), nc, &cfg)
	defer c.shutdown(nil)
	serve := func() string {
		c.inflight <- struct{}{} // the slot dispatch would take; serve gives it back
		w.run(task{c, NewRequest(codeEcho, nil, nil)})
		return <-ids
	}

	id := serve()
	waitParked(t, id)
	w.endPeriod() // it served in this period: it stays
	waitParked(t, id)
	if again := serve(); again != id {
		t.Fatalf("the request after a period in which the worker served ran on goroutine %s, want the worker %s", again, id)
	}
	waitParked(t, id)
	w.endPeriod() // it served: it stays
	waitParked(t, id)
	w.endPeriod() // it did not: it exits
	exited := make(chan struct{})
	go func() {
		track.Wait()
		close(exited)
	}()
	waitClosed(t, exited, "the idle worker to exit")
}

// goroutineID returns the calling goroutine's id.
func goroutineID() string {
	var buf [64]byte
	n := runtime.Stack(buf[:], false) // "goroutine 123 [running]:..."
	return strings.Fields(string(buf[:n]))[1]
}

// waitParked waits until goroutine id waits in a select; it fails t if the goroutine is gone.
func waitParked(t *testing.T, id string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for limit := time.Now().Add(waitLimit); time.Now().Before(limit); runtime.Gosched() {
		all := string(buf[:runtime.Stack(buf, true)])
		i := strings.Index(all, "goroutine "+id+" [")
		if i < 0 {
			t.Fatalf("goroutine %s has exited", id)
		}
		if strings.HasPrefix(all[i+len("goroutine "+id+" ["):], "select") {
			return
		}
	}
	t.Fatalf("goroutine %s did not wait in a select within %v", id, waitLimit)
}

// TestInvokeUntil checks the deadline of InvokeUntil: a call without a response fails with a
// deadline error, not before its deadline, and leaves nothing pending; calls answered in time,
// on recycled timers, get their own responses; a call already past its deadline is not sent.
func TestInvokeUntil(t *testing.T) {
	b, c := blockingConn(t)
	start := time.Now()
	_, err := c.InvokeUntil(testCtx(t), nil, start.Add(50*time.Millisecond), NewRequest(codeBlock, nil, nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before its deadline", waited)
	}
	noPending(t, c, "after the deadline")
	close(b.release) // the late response is dropped
	// Calls answered in time: their timers are recycled, the expired one above among them.
	for i := range 100 {
		resp, err := c.InvokeUntil(testCtx(t), nil, time.Now().Add(time.Minute), NewRequest(codeEcho, nil, []byte{byte(i)}))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if len(resp.Body) != 1 || resp.Body[0] != byte(i) {
			t.Fatalf("call %d: body %v", i, resp.Body)
		}
	}
	if _, err := c.InvokeUntil(testCtx(t), nil, time.Now().Add(-time.Second), NewRequest(codeEcho, nil, nil)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call past its deadline: got %v, want a deadline error", err)
	}
}

// TestInvokeUntilRaces runs calls whose deadlines fall around their round trip, so that the
// response, the timer and the recycling of calls race: each call must end with its own
// response or a deadline error no earlier than its deadline: a recycled call must never see
// an outcome meant for the call that used it before.
func TestInvokeUntilRaces(t *testing.T) {
	_, c := blockingConn(t)
	const workers, each = 8, 300
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range each {
				body := []byte{byte(w), byte(i), byte(i >> 8)}
				deadline := time.Now().Add(time.Duration(rng.IntN(400)) * time.Microsecond)
				resp, err := c.InvokeUntil(testCtx(t), nil, deadline, NewRequest(codeEcho, nil, body))
				switch {
				case errors.Is(err, context.DeadlineExceeded):
					if early := time.Until(deadline); early > 0 {
						errc <- fmt.Errorf("call %d/%d timed out %v before its deadline", w, i, early)
						return
					}
				case err != nil:
					errc <- fmt.Errorf("call %d/%d: %v", w, i, err)
					return
				case !bytes.Equal(resp.Body, body):
					errc <- fmt.Errorf("call %d/%d got body %v, want %v", w, i, resp.Body, body)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	noPending(t, c, "after the calls")
}

// TestInvokeClosed: a call waiting for its response when the connection closes fails with
// ErrConnClosed, and one made after fails the same way without being sent.
func TestInvokeClosed(t *testing.T) {
	b, c := blockingConn(t)
	defer close(b.release)
	errc := make(chan error, 1)
	go func() {
		_, err := c.InvokeUntil(testCtx(t), nil, time.Now().Add(time.Minute), NewRequest(codeBlock, nil, nil))
		errc <- err
	}()
	<-b.entered
	c.Close()
	if err := <-errc; !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call in flight at close: %v, want ErrConnClosed", err)
	}
	if _, err := c.InvokeUntil(testCtx(t), nil, time.Now().Add(time.Minute), NewRequest(codeEcho, nil, nil)); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call after close: %v, want ErrConnClosed", err)
	}
	noPending(t, c, "after the close")
}

// TestClientOpen checks that Open returns only an open connection and never dials, also in
// the window where a closed connection is still in the client's map, which Conn then dials
// again.
func TestClientOpen(t *testing.T) {
	_, addr := startServer(t, ServerOptions{}, testMux(newBlocker()))
	cl := newClient(t, ClientOptions{})
	if c := cl.Open(addr); c != nil {
		t.Fatal("Open returned a connection before any dial")
	}
	c, err := cl.Conn(testCtx(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	if got := cl.Open(addr); got != c {
		t.Fatalf("Open returned %p, want the open connection %p", got, c)
	}
	cl.mu.Lock()
	d := cl.conns[addr]
	cl.mu.Unlock()
	c.Close() // returns once c is done; the client may have removed it by then
	if got := cl.Open(addr); got != nil {
		t.Fatal("Open returned a closed connection")
	}
	cl.mu.Lock()
	cl.conns[addr] = d // closed, not yet removed
	cl.mu.Unlock()
	if got := cl.Open(addr); got != nil {
		t.Fatal("Open returned a closed connection still in the client's map")
	}
	again, err := cl.Conn(testCtx(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	if again == c || cl.Open(addr) != again {
		t.Fatal("Conn did not dial again past the closed connection")
	}
}

// blockingConn returns a connection to a new server whose codeBlock requests wait until
// b.release closes.
func blockingConn(t *testing.T) (*blocker, *Conn) {
	t.Helper()
	b := newBlocker()
	_, addr := startServer(t, ServerOptions{}, testMux(b))
	c, err := newClient(t, ClientOptions{}).Conn(testCtx(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}

// noPending fails t if c still has calls waiting for a response; when says when.
func noPending(t *testing.T, c *Conn, when string) {
	t.Helper()
	c.mu.Lock()
	pending := len(c.pending)
	c.mu.Unlock()
	if pending != 0 {
		t.Fatalf("%d pending entries %s", pending, when)
	}
}
