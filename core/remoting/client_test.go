package remoting

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// TestClientDialsOnce checks that concurrent first uses of an address share one connection.
func TestClientDialsOnce(t *testing.T) {
	var connects atomic.Int32
	_, addr := startServer(t, ServerOptions{OnConnect: func(*Conn) { connects.Add(1) }}, testMux(newBlocker()))
	cl := newClient(t, ClientOptions{})
	ctx := testCtx(t)
	const n = 32
	conns := make([]*Conn, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := cl.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil))
			if err != nil || Code(resp.Code) != Success {
				t.Errorf("invoke: %v %v", resp, err)
			}
			conns[i], _ = cl.Conn(ctx, addr)
		})
	}
	wg.Wait()
	for _, c := range conns[1:] {
		if c != conns[0] {
			t.Fatal("different connections for one address")
		}
	}
	if got := connects.Load(); got != 1 {
		t.Fatalf("%d connections accepted, want 1", got)
	}
}

func TestClientRedials(t *testing.T) {
	tests := []struct {
		name  string
		close func(cl *Client, c *Conn, addr string)
	}{
		{"CloseConn", func(cl *Client, c *Conn, addr string) { cl.CloseConn(addr) }},
		{"conn Close", func(cl *Client, c *Conn, addr string) { c.Close() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startServer(t, ServerOptions{}, testMux(newBlocker()))
			cl := newClient(t, ClientOptions{})
			ctx := testCtx(t)
			first, err := cl.Conn(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			tc.close(cl, first, addr)
			waitClosed(t, first.Done(), "the closed connection")
			if _, err := first.Invoke(ctx, NewRequest(codeEcho, nil, nil)); !errors.Is(err, ErrConnClosed) {
				t.Fatalf("invoke on a closed conn: %v", err)
			}
			second, err := cl.Conn(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			if second == first {
				t.Fatal("closed connection returned")
			}
			if _, err := cl.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestClientDialErrors(t *testing.T) {
	// A port nothing listens on: listen, note the address, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	cl := newClient(t, ClientOptions{})
	ctx := testCtx(t)
	for range 2 { // a failed dial is not cached
		if _, err := cl.Invoke(ctx, dead, NewRequest(codeEcho, nil, nil)); err == nil {
			t.Fatal("invoke to a closed port succeeded")
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := cl.Conn(cancelled, dead); !errors.Is(err, context.Canceled) {
		t.Fatalf("dial with a cancelled ctx: %v", err)
	}
}

func TestClientClose(t *testing.T) {
	srv, addr := startServer(t, ServerOptions{}, testMux(newBlocker()))
	handlerCancelled := make(chan struct{})
	entered := make(chan struct{})
	cl := NewClient(ClientOptions{Handler: HandlerFunc(func(ctx context.Context, conn *Conn, req *Command) *Command {
		close(entered)
		<-ctx.Done()
		close(handlerCancelled)
		return nil
	})})
	ctx := testCtx(t)
	if _, err := cl.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil)); err != nil {
		t.Fatal(err)
	}
	// The server sends the client a request whose handler runs until the client closes.
	notify := NewRequest(NotifyConsumerIdsChanged, map[string]string{"consumerGroup": "g"}, nil)
	if err := srv.Conns()[0].InvokeOneway(ctx, notify); err != nil {
		t.Fatal(err)
	}
	<-entered
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-handlerCancelled:
	default:
		t.Fatal("Close returned before the handler ended")
	}
	if _, err := cl.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil)); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("invoke after Close: %v", err)
	}
	if err := cl.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
