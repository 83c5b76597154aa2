package broker

import (
	"net"
	"strconv"
	"testing"
)

// TestHAPortFallsBack: when the default HA port (the listen port + 1) is taken, the broker
// listens on another one and advertises it; a configured haListenAddr that is taken fails.
func TestHAPortFallsBack(t *testing.T) {
	var busy net.Listener
	var listen string
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		probe, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port-1))
		if err != nil {
			ln.Close()
			continue // port-1 is taken too: try another
		}
		probe.Close()
		busy, listen = ln, "127.0.0.1:"+strconv.Itoa(port-1)
		break
	}
	if busy == nil {
		t.Skip("found no free port below a taken one")
	}
	defer busy.Close()
	b := newUnstarted(t, func(c *Config) { c.ListenAddr, c.BrokerAddr = listen, listen })
	if got := b.haAddr(); got == "" || got == busy.Addr().String() {
		t.Fatalf("HA address %q with %s taken", got, busy.Addr())
	}
	cfg := DefaultConfig(t.TempDir())
	cfg.ListenAddr, cfg.BrokerAddr, cfg.NamesrvAddr, cfg.HAListenAddr = "127.0.0.1:0", "127.0.0.1:0", "", busy.Addr().String()
	if _, err := New(cfg, nil); err == nil {
		t.Fatal("a configured haListenAddr that is taken was accepted")
	}
}
