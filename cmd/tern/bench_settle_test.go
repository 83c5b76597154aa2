package main

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// fakeBehind serves a NameServer's cluster info naming itself as the one master, and runtime
// info whose dispatchBehindBytes is behind(n) at the n-th request (from 1). A broker cannot be
// made to lag on cue, so settle's waiting is tested against this; TestSettleRealBroker runs it
// against a real one.
func fakeBehind(t *testing.T, behind func(n int64) int64) (addr string, asked *atomic.Int64) {
	t.Helper()
	asked = new(atomic.Int64)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	m := remoting.NewMux() // complete before Serve starts: the handlers read it unguarded
	m.HandleFunc(remoting.GetBrokerClusterInfo, func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		ci := protocol.ClusterInfo{
			BrokerAddrTable:  map[string]protocol.BrokerData{"b": {Cluster: "c", BrokerName: "b", BrokerAddrs: map[int64]string{protocol.MasterID: addr}}},
			ClusterAddrTable: map[string][]string{"c": {"b"}},
		}
		resp := remoting.NewResponse(req, int16(remoting.Success), "")
		resp.Body, _ = json.Marshal(ci)
		return resp
	})
	m.HandleFunc(remoting.GetBrokerRuntimeInfo, func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		n := asked.Add(1)
		resp := remoting.NewResponse(req, int16(remoting.Success), "")
		resp.Body, _ = json.Marshal(protocol.KVTable{Table: map[string]string{"dispatchBehindBytes": strconv.FormatInt(behind(n), 10)}})
		return resp
	})
	srv := remoting.NewServer(remoting.ServerOptions{}, m)
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close(context.Background())
		<-served
	})
	return addr, asked
}

// TestSettleWaitsForDispatch: settle returns once the broker reports nothing left to dispatch,
// and not before.
func TestSettleWaitsForDispatch(t *testing.T) {
	addr, asked := fakeBehind(t, func(n int64) int64 { return max(0, 4096*(4-n)) })
	lagging, err := settle(t.Context(), benchFlags{namesrv: addr})
	if err != nil || lagging != "" {
		t.Fatalf("settle: %q, %v", lagging, err)
	}
	if n := asked.Load(); n != 4 {
		t.Fatalf("settle asked %d times; the broker caught up at the 4th", n)
	}
}

// TestSettleGivesUp: a broker that never catches up is named once settleTimeout has passed.
func TestSettleGivesUp(t *testing.T) {
	old := settleTimeout
	settleTimeout = 200 * time.Millisecond
	t.Cleanup(func() { settleTimeout = old })
	addr, _ := fakeBehind(t, func(int64) int64 { return 1 << 20 })
	lagging, err := settle(t.Context(), benchFlags{namesrv: addr})
	if err != nil || !strings.Contains(lagging, addr) || !strings.Contains(lagging, "1048576 bytes behind") {
		t.Fatalf("settle: %q, %v", lagging, err)
	}
}

// TestSettleRealBroker: a real broker reports dispatchBehindBytes, and settle returns once it
// has dispatched what was just sent.
func TestSettleRealBroker(t *testing.T) {
	c := brokertest.Start(t, nil)
	ns := "--namesrv=" + c.NamesrvAddr
	run(t, "bench", "produce", ns, "--topic", "Settle", "--producers", "4", "--messages", "200", "--duration", "20s", "--size", "64", "-o", "json")
	f := benchFlags{namesrv: c.NamesrvAddr}
	lagging, err := settle(t.Context(), f)
	if err != nil || lagging != "" {
		t.Fatalf("settle: %q, %v", lagging, err)
	}
	a := benchAdmin(f)
	defer a.client.Close()
	addrs, err := a.masters(t.Context(), "")
	if err != nil || len(addrs) != 1 {
		t.Fatalf("masters: %v, %v", addrs, err)
	}
	if n, err := dispatchBehind(t.Context(), a, addrs[0]); err != nil || n != 0 {
		t.Fatalf("dispatchBehind after settle: %d, %v", n, err)
	}
	// dispatchBehind takes a missing figure for 0: the broker must report it, or settle waits
	// for nothing.
	info, err := runtimeInfo(t.Context(), a, addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info["dispatchBehindBytes"]; !ok {
		t.Fatalf("the broker's runtime info has no dispatchBehindBytes: %v", info)
	}
}
