package etcdtest

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
)

// proxy forwards TCP connections from addr to a target, and can cut them all at once.
type proxy struct {
	addr string // listen address; its port 0 is replaced by the one picked at the first start

	mu     sync.Mutex
	ln     net.Listener
	target string
	conns  map[net.Conn]struct{} // both ends of every proxied connection
	wg     sync.WaitGroup        // the accept loop and the copiers
}

// start listens on addr and forwards to target.
func (p *proxy) start(target string) error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("proxy listen on %s: %w", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.target, p.addr = ln, target, ln.Addr().String()
	p.conns = make(map[net.Conn]struct{})
	p.mu.Unlock()
	p.wg.Add(1)
	go p.accept(ln)
	return nil
}

// stop closes the listener and every connection, and waits for the goroutines.
func (p *proxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		in, err := ln.Accept()
		if err != nil {
			return // closed by stop
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		out, err := net.Dial("tcp", target)
		if err != nil {
			_ = in.Close()
			continue
		}
		if !p.track(in, out) {
			return
		}
		p.wg.Add(2)
		go p.copy(out, in)
		go p.copy(in, out)
	}
}

// track records a connection pair, or closes it if the proxy is stopping.
func (p *proxy) track(in, out net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		_, _ = in.Close(), out.Close()
		return false
	}
	p.conns[in], p.conns[out] = struct{}{}, struct{}{}
	return true
}

// copy forwards src to dst until either fails, then closes both.
func (p *proxy) copy(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src) // ends at EOF, or when stop closes a side
	_, _ = dst.Close(), src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Proxy is a TCP proxy in front of an etcd endpoint that a test can cut and heal: a client
// that connects through it is partitioned from etcd while others keep their connections.
type Proxy struct {
	t      testing.TB
	p      *proxy
	target string
}

// NewProxy starts a proxy to endpoint on an ephemeral port of 127.0.0.1. It is stopped at the
// test's cleanup; every goroutine it starts has ended when Cut returns.
func NewProxy(t testing.TB, endpoint string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, p: &proxy{addr: "127.0.0.1:0"}, target: endpoint}
	if err := p.p.start(endpoint); err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(p.p.stop)
	return p
}

// Endpoint returns the proxy's endpoint ("127.0.0.1:PORT"), the same after a Heal.
func (p *Proxy) Endpoint() string {
	p.p.mu.Lock()
	defer p.p.mu.Unlock()
	return p.p.addr
}

// Cut closes the proxy's listener and every connection through it, as a network partition
// would: its clients cannot reach etcd until Heal. Cutting a cut proxy does nothing.
func (p *Proxy) Cut() { p.p.stop() }

// Heal listens again on the same endpoint, so the proxy's clients reconnect by themselves. A
// failure fails the test; healing a proxy that is not cut does nothing.
func (p *Proxy) Heal() {
	p.t.Helper()
	p.p.mu.Lock()
	up := p.p.ln != nil
	p.p.mu.Unlock()
	if up {
		return
	}
	if err := p.p.start(p.target); err != nil {
		p.t.Fatalf("etcdtest: heal: %v", err)
	}
}
