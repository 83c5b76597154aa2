package namesrv

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// waitLimit bounds every wait for something that must happen.
const waitLimit = 10 * time.Second

func startServer(t *testing.T, configure func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	if configure != nil {
		configure(&cfg)
	}
	s := New(cfg, nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return s
}

func newClient(t *testing.T) *remoting.Client {
	t.Helper()
	cl := remoting.NewClient(remoting.ClientOptions{})
	t.Cleanup(func() { cl.Close() })
	return cl
}

func invoke(t *testing.T, cl *remoting.Client, addr string, req *remoting.Command) *remoting.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	resp, err := cl.Invoke(ctx, addr, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// eventually polls cond until it holds or waitLimit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServerRegisterAndRoute(t *testing.T) {
	s := startServer(t, nil)
	addr := s.Addr().String()
	broker := newClient(t)
	resp := invoke(t, broker, addr, registerReq("broker-a", "10.0.0.5:10911", 0, registerBody(t, 1, false, tc("T", 4, 6)), false))
	if err := remoting.ResponseErr(resp); err != nil {
		t.Fatal(err)
	}

	client := newClient(t)
	resp = invoke(t, client, addr, remoting.NewRequest(remoting.GetRouteInfoByTopic, (&protocol.GetRouteInfoHeader{Topic: "T"}).Encode(), nil))
	if resp.Code != int16(remoting.Success) || string(resp.Body) != goldenRouteT {
		t.Fatalf("route: code %d body %s", resp.Code, resp.Body)
	}
	resp = invoke(t, client, addr, remoting.NewRequest(remoting.GetRouteInfoByTopic, (&protocol.GetRouteInfoHeader{Topic: "missing"}).Encode(), nil))
	if !strings.Contains(remoting.ResponseErr(resp).Error(), "No topic route info in name server for the topic: missing") || resp.Code != int16(remoting.TopicNotExist) {
		t.Fatalf("missing topic: %d %q", resp.Code, resp.Remark)
	}

	// The broker's connection closes: its registration goes.
	broker.Close()
	eventually(t, "the broker to be dropped", func() bool {
		_, ok := s.Routes().Route("T")
		return !ok
	})
	resp = invoke(t, client, addr, remoting.NewRequest(remoting.GetRouteInfoByTopic, (&protocol.GetRouteInfoHeader{Topic: "T"}).Encode(), nil))
	if resp.Code != int16(remoting.TopicNotExist) {
		t.Fatalf("route after the broker left: %d", resp.Code)
	}
}

// rawRoundTrip sends one JSON-header frame the way rocketmq-client-go v2.1.2 does and returns
// the response's header and body.
func rawRoundTrip(t *testing.T, addr, header string) (map[string]json.RawMessage, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	frame := binary.BigEndian.AppendUint32(nil, uint32(4+len(header)))
	frame = binary.BigEndian.AppendUint32(frame, uint32(len(header))) // serialize type 0: JSON
	frame = append(frame, header...)
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	var pre [8]byte
	if _, err := io.ReadFull(c, pre[:]); err != nil {
		t.Fatal(err)
	}
	total, word := binary.BigEndian.Uint32(pre[:4]), binary.BigEndian.Uint32(pre[4:])
	if word>>24 != 0 {
		t.Fatalf("response serialize type %d, want JSON", word>>24)
	}
	rest := make([]byte, total-4)
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatal(err)
	}
	hl := word & 0xFFFFFF
	var h map[string]json.RawMessage
	if err := json.Unmarshal(rest[:hl], &h); err != nil {
		t.Fatalf("response header %s: %v", rest[:hl], err)
	}
	return h, rest[hl:]
}

func TestServerWireFormat(t *testing.T) {
	s := startServer(t, nil)
	broker := newClient(t)
	invoke(t, broker, s.Addr().String(), registerReq("broker-a", "10.0.0.5:10911", 0, registerBody(t, 1, false, tc("T", 4, 6)), false))

	h, body := rawRoundTrip(t, s.Addr().String(), `{"code":105,"language":"GO","version":317,"opaque":7,"flag":0,"remark":"","extFields":{"topic":"T"}}`)
	if string(h["code"]) != "0" || string(h["opaque"]) != "7" || string(h["flag"]) != "1" {
		t.Fatalf("response header %v", h)
	}
	if string(body) != goldenRouteT {
		t.Fatalf("body %s", body)
	}
	// A slave's register response: every extFields value is a string (the Go decoder wants
	// map[string]string).
	h, _ = rawRoundTrip(t, s.Addr().String(), `{"code":103,"language":"JAVA","version":409,"opaque":8,"flag":0,"extFields":{"brokerName":"broker-a","brokerAddr":"10.0.0.6:10911","clusterName":"DefaultCluster","haServerAddr":"10.0.0.6:10912","brokerId":"1","compressed":"false","bodyCrc32":"0"}}`)
	var ext map[string]string
	if err := json.Unmarshal(h["extFields"], &ext); err != nil || ext["masterAddr"] != "10.0.0.5:10911" || ext["haServerAddr"] != "10.0.0.5:10912" {
		t.Fatalf("register response extFields %s (%v)", h["extFields"], err)
	}
}

func TestServerExpiresSilentBrokers(t *testing.T) {
	clock := &fakeClock{now: t0}
	s := startServer(t, func(c *Config) {
		c.Now = clock.Now
		c.ScanNotActiveBrokerInterval = config.Millis(5 * time.Millisecond)
	})
	broker := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := broker.Conn(ctx, s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := conn.Invoke(ctx, registerReq("broker-a", "10.0.0.5:10911", 0, registerBody(t, 1, false, tc("T", 4, 6)), false))
	if err != nil || resp.Code != 0 {
		t.Fatal(resp, err)
	}
	clock.Advance(119 * time.Second)
	time.Sleep(30 * time.Millisecond) // several scans
	if _, ok := s.Routes().Route("T"); !ok {
		t.Fatal("broker expired early")
	}
	clock.Advance(2 * time.Second)
	eventually(t, "the silent broker to expire", func() bool {
		_, ok := s.Routes().Route("T")
		return !ok
	})
	// Its connection is closed, as RocketMQ closes the channel.
	select {
	case <-conn.Done():
	case <-time.After(waitLimit):
		t.Fatal("the expired broker's connection stayed open")
	}
}

func TestServerLifecycle(t *testing.T) {
	bad := DefaultConfig()
	bad.BrokerChannelExpiredTime = 0
	bad.ListenAddr = ""
	s := New(bad, nil)
	err := s.Start()
	if err == nil || !strings.Contains(err.Error(), "brokerChannelExpiredTime") || !strings.Contains(err.Error(), "listenAddr") {
		t.Fatalf("invalid config: %v", err)
	}
	if s.Addr() != nil {
		t.Fatal("Addr before Start")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	cfg := DefaultConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	s = New(cfg, nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
	if d := DefaultConfig(); d.ListenAddr != ":9876" || d.BrokerChannelExpiredTime.D() != 120*time.Second || d.ScanNotActiveBrokerInterval.D() != 10*time.Second {
		t.Fatalf("defaults %+v", d)
	}
}
