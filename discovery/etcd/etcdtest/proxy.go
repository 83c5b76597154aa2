package etcdtest

import (
	"fmt"
	"io"
	"net"
	"sync"
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
