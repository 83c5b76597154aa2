package namesrv

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// startBacked starts a NameServer whose backend is a Client of a fresh in-memory NameServer
// (the store), and returns both. Any discovery.Discovery would do; this one needs no etcd.
func startBacked(t *testing.T, configure func(*Config)) (backed, store *Server) {
	t.Helper()
	store = startServer(t, nil)
	backend := newDiscoveryClient(t, store.Addr().String())
	backed = startServer(t, func(c *Config) {
		c.Backend = backend
		if configure != nil {
			configure(c)
		}
	})
	return backed, store
}

// reads are the read requests whose answers must not depend on the registry behind them.
func reads() map[string]func() *remoting.Command {
	route := func(topic string) func() *remoting.Command {
		return func() *remoting.Command {
			return remoting.NewRequest(remoting.GetRouteInfoByTopic, (&protocol.GetRouteInfoHeader{Topic: topic}).Encode(), nil)
		}
	}
	byCluster := func(cluster string) func() *remoting.Command {
		return func() *remoting.Command {
			return remoting.NewRequest(remoting.GetTopicsByCluster, (&protocol.GetTopicsByClusterHeader{Cluster: cluster}).Encode(), nil)
		}
	}
	return map[string]func() *remoting.Command{
		"route T":         route("T"),
		"route U":         route("U"),
		"route missing":   route("missing"),
		"cluster info":    func() *remoting.Command { return remoting.NewRequest(remoting.GetBrokerClusterInfo, nil, nil) },
		"all topics":      func() *remoting.Command { return remoting.NewRequest(remoting.GetAllTopicListFromNameServer, nil, nil) },
		"cluster topics":  byCluster("DefaultCluster"),
		"unknown cluster": byCluster("Nope"),
	}
}

// sameAnswers fails unless a and b answer every read with the same code, remark, header and
// body bytes.
func sameAnswers(t *testing.T, when string, a, b *Server) {
	t.Helper()
	cl := newClient(t)
	for name, mk := range reads() {
		ra, rb := invoke(t, cl, a.Addr().String(), mk()), invoke(t, cl, b.Addr().String(), mk())
		if ra.Code != rb.Code || ra.Remark != rb.Remark || string(ra.Body) != string(rb.Body) || fmt.Sprint(ra.Header()) != fmt.Sprint(rb.Header()) {
			t.Errorf("%s, %s:\nin memory %d %q %v %s\n  backend %d %q %v %s", when, name,
				ra.Code, ra.Remark, ra.Header(), ra.Body, rb.Code, rb.Remark, rb.Header(), rb.Body)
		}
	}
}

// TestBackendAnswersLikeMemory: brokers register alike at an in-memory NameServer and at one
// backed by a discovery backend; every read is answered with the same bytes, before and after
// a broker's connection closes.
func TestBackendAnswersLikeMemory(t *testing.T) {
	mem := startServer(t, nil)
	backed, store := startBacked(t, nil)
	brokers := map[string]*remoting.Command{} // name → its registration
	brokers["a0"] = registerReq("broker-a", "10.0.0.5:10911", 0, registerBody(t, 1, false, tc("T", 4, 6), tc("U", 2, 6)), false)
	brokers["a1"] = registerReq("broker-a", "10.0.0.7:10911", 1, registerBody(t, 1, false, tc("T", 4, 6)), false)
	brokers["b0"] = registerReq("broker-b", "10.0.0.6:10911", 0, registerBody(t, 3, true, tc("T", 8, 6)), true)
	conns := map[*Server]map[string]*remoting.Client{}
	for _, s := range []*Server{mem, backed} {
		conns[s] = map[string]*remoting.Client{}
		for _, name := range []string{"a0", "a1", "b0"} { // master before slave
			cl := newClient(t) // a connection per broker
			conns[s][name] = cl
			req := brokers[name]
			resp := invoke(t, cl, s.Addr().String(), &remoting.Command{Code: req.Code, ExtFields: req.ExtFields, Body: req.Body})
			if err := remoting.ResponseErr(resp); err != nil {
				t.Fatalf("register %s at %s: %v", name, s.Addr(), err)
			}
			if name == "a1" && (resp.Field("masterAddr") != "10.0.0.5:10911" || resp.Field("haServerAddr") != "10.0.0.5:10912") {
				t.Fatalf("slave's register answer %v", resp.Header())
			}
		}
	}
	if backed.Routes() != nil {
		t.Fatal("a backed NameServer keeps routes of its own")
	}
	if routeJSON(t, store.Routes(), "U") == "" {
		t.Fatal("the registration did not reach the backend")
	}
	sameAnswers(t, "registered", mem, backed)

	// broker-b's connection closes at both: it is unregistered from the backend.
	conns[mem]["b0"].Close()
	conns[backed]["b0"].Close()
	eventually(t, "broker-b to leave", func() bool {
		_, inMem := mem.Routes().ClusterInfo().BrokerAddrTable["broker-b"]
		_, inStore := store.Routes().ClusterInfo().BrokerAddrTable["broker-b"]
		return !inMem && !inStore
	})
	sameAnswers(t, "broker-b gone", mem, backed)

	// An unregister is forwarded.
	for _, s := range []*Server{mem, backed} {
		h := protocol.UnregisterBrokerHeader{BrokerName: "broker-a", BrokerAddr: "10.0.0.7:10911", ClusterName: "DefaultCluster", BrokerID: 1}
		if err := remoting.ResponseErr(invoke(t, newClient(t), s.Addr().String(), remoting.NewRequest(remoting.UnregisterBroker, h.Encode(), nil))); err != nil {
			t.Fatal(err)
		}
	}
	sameAnswers(t, "slave unregistered", mem, backed)

	// Closing a backed NameServer leaves the backend's brokers alone (its peers serve them).
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := backed.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if routeJSON(t, store.Routes(), "U") == "" {
		t.Fatal("closing a backed NameServer unregistered its brokers")
	}
}

// TestBackendExpiry: a broker that stops registering through a backed NameServer is
// unregistered from the backend after its heartbeatTimeoutMillis.
func TestBackendExpiry(t *testing.T) {
	clock := &fakeClock{now: t0}
	backed, store := startBacked(t, func(c *Config) {
		c.Now = clock.Now
		c.ScanNotActiveBrokerInterval = config.Millis(time.Hour) // the test calls ExpireBrokers
	})
	req := registerReq("broker-a", "10.0.0.5:10911", 0, registerBody(t, 1, false, tc("T", 4, 6)), false)
	req.ExtFields[HeartbeatTimeoutField] = strconv.Itoa(3000)
	if err := remoting.ResponseErr(invoke(t, newClient(t), backed.Addr().String(), req)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Second)
	backed.ExpireBrokers()
	if routeJSON(t, store.Routes(), "T") == "" {
		t.Fatal("expired at its timeout, not after it")
	}
	clock.Advance(time.Millisecond)
	backed.ExpireBrokers()
	if routeJSON(t, store.Routes(), "T") != "" {
		t.Fatal("a silent broker stayed in the backend")
	}
}

// TestBackendWithoutListings: a backend without topic listings answers
// REQUEST_CODE_NOT_SUPPORTED to them, and a bad heartbeatTimeoutMillis or haEpoch is refused.
func TestBackendWithoutListings(t *testing.T) {
	store := startServer(t, nil)
	plain := struct{ discovery.Discovery }{newDiscoveryClient(t, store.Addr().String())}
	backed := startServer(t, func(c *Config) { c.Backend = plain })
	cl := newClient(t)
	for _, name := range []string{"all topics", "cluster topics"} {
		resp := invoke(t, cl, backed.Addr().String(), reads()[name]())
		if remoting.Code(resp.Code) != remoting.RequestCodeNotSupported {
			t.Errorf("%s: code %d %q", name, resp.Code, resp.Remark)
		}
	}
	req := registerReq("broker-a", "10.0.0.5:10911", 0, registerBody(t, 1, false), false)
	req.ExtFields[HeartbeatTimeoutField] = "soon"
	if resp := invoke(t, cl, backed.Addr().String(), req); remoting.Code(resp.Code) != remoting.SystemError {
		t.Fatalf("bad heartbeatTimeoutMillis: code %d %q", resp.Code, resp.Remark)
	}
	req = registerReq("broker-a", "10.0.0.5:10911", 0, registerBody(t, 1, false), false)
	req.ExtFields[EpochField] = "-3"
	if resp := invoke(t, cl, backed.Addr().String(), req); remoting.Code(resp.Code) != remoting.SystemError || !strings.Contains(resp.Remark, EpochField) {
		t.Fatalf("bad haEpoch: code %d %q", resp.Code, resp.Remark)
	}
	// DELETE_TOPIC_IN_NAMESRV is a no-op: routes come from the brokers' tables.
	h := protocol.DeleteTopicHeader{Topic: "T"}
	if err := remoting.ResponseErr(invoke(t, cl, backed.Addr().String(), remoting.NewRequest(remoting.DeleteTopicInNamesrv, h.Encode(), nil))); err != nil {
		t.Fatal(err)
	}
}
