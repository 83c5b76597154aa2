package namesrv

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newHandlerServer returns an unstarted Server and a Mux with its handlers.
func newHandlerServer(t *testing.T) (*Server, *remoting.Mux, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: t0}
	cfg := DefaultConfig()
	cfg.Now = clock.Now
	s := New(cfg, nil)
	m := remoting.NewMux()
	s.register(m)
	return s, m, clock
}

func registerBody(t *testing.T, ver int64, compressed bool, topics ...protocol.TopicConfig) []byte {
	t.Helper()
	b := protocol.RegisterBrokerBody{TopicConfigSerializeWrapper: table(ver, topics...)}
	body, err := b.Encode(compressed)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func registerReq(name, addr string, id int64, body []byte, compressed bool) *remoting.Command {
	h := protocol.RegisterBrokerHeader{
		BrokerName: name, BrokerAddr: addr, ClusterName: "DefaultCluster", HAServerAddr: strings.Replace(addr, ":10911", ":10912", 1),
		BrokerID: id, Compressed: compressed, BodyCRC32: protocol.BodyCRC32(body),
	}
	return remoting.NewRequest(remoting.RegisterBroker, h.Encode(), body)
}

func serve(m *remoting.Mux, req *remoting.Command) *remoting.Command {
	req.Opaque = 77
	return m.ServeRemoting(context.Background(), nil, req)
}

func wantCode(t *testing.T, resp *remoting.Command, code remoting.Code, remark string) {
	t.Helper()
	if resp == nil {
		t.Fatal("no response")
	}
	if remoting.Code(resp.Code) != code || !strings.Contains(resp.Remark, remark) || resp.Opaque != 77 || !resp.IsResponse() {
		t.Fatalf("response code %d remark %q opaque %d flag %d, want code %d with %q", resp.Code, resp.Remark, resp.Opaque, resp.Flag, code, remark)
	}
}

const goldenRouteT = `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.5:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`

func TestHandlers(t *testing.T) {
	_, m, _ := newHandlerServer(t)

	// Unknown topic first.
	resp := serve(m, remoting.NewRequest(remoting.GetRouteInfoByTopic, (&protocol.GetRouteInfoHeader{Topic: "T"}).Encode(), nil))
	wantCode(t, resp, remoting.TopicNotExist, "No topic route info in name server for the topic: T")
	if len(resp.Body) != 0 {
		t.Fatalf("body on 17: %s", resp.Body)
	}

	// A master registers (JSON body), then a slave (compressed body).
	resp = serve(m, registerReq("broker-a", "10.0.0.5:10911", 0, registerBody(t, 1, false, tc("T", 4, 6), tc("TBW102", 8, 7)), false))
	wantCode(t, resp, remoting.Success, "")
	if len(resp.Header()) != 0 {
		t.Fatalf("master response header %v, want none", resp.Header())
	}
	resp = serve(m, remoting.NewRequest(remoting.GetRouteInfoByTopic, (&protocol.GetRouteInfoHeader{Topic: "T"}).Encode(), nil))
	wantCode(t, resp, remoting.Success, "")
	if string(resp.Body) != goldenRouteT {
		t.Fatalf("route:\n got %s\nwant %s", resp.Body, goldenRouteT)
	}

	resp = serve(m, registerReq("broker-a", "10.0.0.6:10911", 1, registerBody(t, 1, true, tc("T", 4, 6)), true))
	wantCode(t, resp, remoting.Success, "")
	var rh protocol.RegisterBrokerResponseHeader
	if err := rh.Decode(resp); err != nil || rh.MasterAddr != "10.0.0.5:10911" || rh.HAServerAddr != "10.0.0.5:10912" {
		t.Fatalf("slave response header %v (%v)", resp.Header(), err)
	}
	for k, v := range resp.Header() {
		if v == "" {
			t.Errorf("empty header value %q", k)
		}
	}

	// Cluster info and topic lists.
	resp = serve(m, remoting.NewRequest(remoting.GetBrokerClusterInfo, nil, nil))
	wantCode(t, resp, remoting.Success, "")
	if want := `{"brokerAddrTable":{"broker-a":{"brokerAddrs":{"0":"10.0.0.5:10911","1":"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}`; string(resp.Body) != want {
		t.Fatalf("cluster info:\n got %s\nwant %s", resp.Body, want)
	}
	resp = serve(m, remoting.NewRequest(remoting.GetAllTopicListFromNameServer, nil, nil))
	if want := `{"topicList":["T","TBW102"]}`; string(resp.Body) != want {
		t.Fatalf("topic list %s", resp.Body)
	}
	resp = serve(m, remoting.NewRequest(remoting.GetTopicsByCluster, (&protocol.GetTopicsByClusterHeader{Cluster: "DefaultCluster"}).Encode(), nil))
	if want := `{"topicList":["T","TBW102"]}`; string(resp.Body) != want {
		t.Fatalf("topics by cluster %s", resp.Body)
	}
	resp = serve(m, remoting.NewRequest(remoting.GetTopicsByCluster, (&protocol.GetTopicsByClusterHeader{Cluster: "nope"}).Encode(), nil))
	if want := `{"topicList":[]}`; string(resp.Body) != want {
		t.Fatalf("topics of an unknown cluster %s", resp.Body)
	}

	// Delete a topic.
	resp = serve(m, remoting.NewRequest(remoting.DeleteTopicInNamesrv, (&protocol.DeleteTopicHeader{Topic: "TBW102"}).Encode(), nil))
	wantCode(t, resp, remoting.Success, "")
	resp = serve(m, remoting.NewRequest(remoting.GetRouteInfoByTopic, (&protocol.GetRouteInfoHeader{Topic: "TBW102"}).Encode(), nil))
	wantCode(t, resp, remoting.TopicNotExist, "TBW102")

	// Unregister both: T disappears.
	for _, u := range []protocol.UnregisterBrokerHeader{
		{BrokerName: "broker-a", BrokerAddr: "10.0.0.6:10911", ClusterName: "DefaultCluster", BrokerID: 1},
		{BrokerName: "broker-a", BrokerAddr: "10.0.0.5:10911", ClusterName: "DefaultCluster", BrokerID: 0},
	} {
		wantCode(t, serve(m, remoting.NewRequest(remoting.UnregisterBroker, u.Encode(), nil)), remoting.Success, "")
	}
	wantCode(t, serve(m, remoting.NewRequest(remoting.GetRouteInfoByTopic, (&protocol.GetRouteInfoHeader{Topic: "T"}).Encode(), nil)), remoting.TopicNotExist, "T")

	// Codes a NameServer does not serve.
	wantCode(t, serve(m, remoting.NewRequest(remoting.SendMessage, nil, nil)), remoting.RequestCodeNotSupported, "request type 10 not supported")
}

func TestHandlerErrors(t *testing.T) {
	_, m, _ := newHandlerServer(t)
	body := registerBody(t, 1, false, tc("T", 4, 6))
	good := registerReq("broker-a", "10.0.0.5:10911", 0, body, false).ExtFields

	for _, tc := range []struct {
		name   string
		req    *remoting.Command
		remark string
	}{
		{"route without topic", remoting.NewRequest(remoting.GetRouteInfoByTopic, map[string]string{}, nil), `missing required header field "topic"`},
		{"delete without topic", remoting.NewRequest(remoting.DeleteTopicInNamesrv, nil, nil), `"topic"`},
		{"topics by cluster without cluster", remoting.NewRequest(remoting.GetTopicsByCluster, nil, nil), `"cluster"`},
		{"unregister without id", remoting.NewRequest(remoting.UnregisterBroker, map[string]string{"brokerName": "a", "brokerAddr": "1.1.1.1:1", "clusterName": "c"}, nil), `"brokerId"`},
		{"register without brokerName", func() *remoting.Command {
			f := maps.Clone(good)
			delete(f, "brokerName")
			return remoting.NewRequest(remoting.RegisterBroker, f, body)
		}(), `missing required header field "brokerName"`},
		{"register with a bad brokerId", func() *remoting.Command {
			f := maps.Clone(good)
			f["brokerId"] = "zero"
			return remoting.NewRequest(remoting.RegisterBroker, f, body)
		}(), `header field "brokerId" is not an int64`},
		{"register with a bad crc", func() *remoting.Command {
			f := maps.Clone(good)
			f["bodyCrc32"] = "12345"
			return remoting.NewRequest(remoting.RegisterBroker, f, body)
		}(), "crc32 not match"},
		{"register with a corrupt body", func() *remoting.Command {
			f := maps.Clone(good)
			f["bodyCrc32"] = "0"
			return remoting.NewRequest(remoting.RegisterBroker, f, []byte("{nope"))
		}(), "register broker body"},
		{"register with whitespace in brokerAddr", func() *remoting.Command {
			f := maps.Clone(good)
			f["brokerAddr"] = "10.0.0.5: 10911"
			return remoting.NewRequest(remoting.RegisterBroker, f, body)
		}(), "brokerAddr"},
		{"register without a port", func() *remoting.Command {
			f := maps.Clone(good)
			f["brokerAddr"] = "10.0.0.5"
			return remoting.NewRequest(remoting.RegisterBroker, f, body)
		}(), "brokerAddr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, serve(m, tc.req), remoting.SystemError, tc.remark)
		})
	}
	// None of them registered anything.
	resp := serve(m, remoting.NewRequest(remoting.GetBrokerClusterInfo, nil, nil))
	if string(resp.Body) != `{"brokerAddrTable":{},"clusterAddrTable":{}}` {
		t.Fatalf("cluster info %s", resp.Body)
	}
	// bodyCrc32 0 skips the check, and an empty body registers no topics.
	f := maps.Clone(good)
	f["bodyCrc32"] = "0"
	wantCode(t, serve(m, remoting.NewRequest(remoting.RegisterBroker, f, nil)), remoting.Success, "")
	var ci protocol.ClusterInfo
	if err := json.Unmarshal(serve(m, remoting.NewRequest(remoting.GetBrokerClusterInfo, nil, nil)).Body, &ci); err != nil || len(ci.BrokerAddrTable) != 1 {
		t.Fatalf("%+v %v", ci, err)
	}
}

// A Java broker registers a new topic with a one-topic table and a new data version; the
// other topics stay.
func TestHandlerIncrementalRegistration(t *testing.T) {
	_, m, clock := newHandlerServer(t)
	serve(m, registerReq("broker-a", "10.0.0.5:10911", 0, registerBody(t, 1, false, tc("T", 4, 6), tc("U", 4, 6)), false))
	clock.Advance(time.Second)
	serve(m, registerReq("broker-a", "10.0.0.5:10911", 0, registerBody(t, 2, false, tc("V", 1, 6)), false))
	resp := serve(m, remoting.NewRequest(remoting.GetAllTopicListFromNameServer, nil, nil))
	if want := `{"topicList":["T","U","V"]}`; string(resp.Body) != want {
		t.Fatalf("topics %s", resp.Body)
	}
}
