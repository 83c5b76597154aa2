package broker_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// rawConn speaks frames to the broker by hand.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	fr *remoting.FrameReader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, fr: remoting.NewFrameReader(nc, 16<<20)}
}

func (r *rawConn) call(req *remoting.Command) *remoting.Command {
	r.t.Helper()
	req.Opaque = 7
	b, err := remoting.AppendFrame(nil, req)
	if err != nil {
		r.t.Fatal(err)
	}
	r.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
	resp, err := r.fr.Read()
	if err != nil {
		r.t.Fatalf("no response: %v", err)
	}
	if resp.Opaque != 7 || !resp.IsResponse() {
		r.t.Fatalf("response opaque %d flag %d", resp.Opaque, resp.Flag)
	}
	return resp
}

// closedAfter writes raw bytes and expects the broker to close the connection.
func (r *rawConn) closedAfter(raw []byte) {
	r.t.Helper()
	r.nc.SetDeadline(time.Now().Add(10 * time.Second))
	r.nc.Write(raw)
	_, err := io.ReadAll(r.nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatal("the broker kept a connection that sent a bad frame")
	}
}

func sendReq(topic string, body []byte) *remoting.Command {
	h := protocol.SendMessageHeader{ProducerGroup: "pg", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 0, BornTimestamp: time.Now().UnixMilli()}
	return remoting.NewRequest(remoting.SendMessageV2, h.Encode(true), body)
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	c := brokertest.Start(t, func(cfg *broker.Config) { cfg.Store.MaxMessageSize = 64 << 10 })
	createTopic(t, c, "Good", 1)
	healthy := dialRaw(t, c.BrokerAddr)
	if resp := healthy.call(sendReq("Good", []byte("ok"))); resp.Code != 0 {
		t.Fatalf("healthy send: %d %s", resp.Code, resp.Remark)
	}

	for _, tc := range []struct {
		name   string
		req    *remoting.Command
		code   remoting.Code
		remark string
	}{
		{"unknown code", remoting.NewRequest(9999, nil, nil), remoting.RequestCodeNotSupported, "not supported"},
		{"invalid topic name", sendReq("bad topic!", []byte("x")), remoting.MessageIllegal, "topic"},
		{"system topic", sendReq("SCHEDULE_TOPIC_XXXX", []byte("x")), remoting.NoPermission, "system topic"},
		{"body over maxMessageSize", sendReq("Good", make([]byte, 65<<10)), remoting.MessageIllegal, "maxMessageSize"},
		{"missing header field", remoting.NewRequest(remoting.SendMessageV2, map[string]string{"b": "Good"}, []byte("x")), remoting.MessageIllegal, "missing"},
		{"bad number", remoting.NewRequest(remoting.PullMessage, map[string]string{"consumerGroup": "g", "topic": "Good", "queueId": "zero"}, nil), remoting.SystemError, "queueId"},
		{"bad SQL92 subscription", func() *remoting.Command {
			h := protocol.PullMessageHeader{ConsumerGroup: "g", Topic: "Good", MaxMsgNums: 1, SysFlag: 1 << 2, Subscription: "a > ", ExpressionType: "SQL92"}
			return remoting.NewRequest(remoting.PullMessage, h.Encode(), nil)
		}(), remoting.SubscriptionParseFailed, "sql92: line 1, column 5"},
		{"subscription of an unknown expression type", func() *remoting.Command {
			h := protocol.PullMessageHeader{ConsumerGroup: "g", Topic: "Good", MaxMsgNums: 1, SysFlag: 1 << 2, Subscription: "x", ExpressionType: "NOPE"}
			return remoting.NewRequest(remoting.PullMessage, h.Encode(), nil)
		}(), remoting.SubscriptionParseFailed, "no filter plugin evaluates expression type NOPE"},
		{"bad tag expression", func() *remoting.Command {
			h := protocol.PullMessageHeader{ConsumerGroup: "g", Topic: "Good", MaxMsgNums: 1, SysFlag: 1 << 2, Subscription: "||", ExpressionType: "TAG"}
			return remoting.NewRequest(remoting.PullMessage, h.Encode(), nil)
		}(), remoting.SubscriptionParseFailed, "only separators"},
		{"unknown topic pull", func() *remoting.Command {
			h := protocol.PullMessageHeader{ConsumerGroup: "g", Topic: "Nope", MaxMsgNums: 1, SysFlag: 1 << 2, Subscription: "*"}
			return remoting.NewRequest(remoting.PullMessage, h.Encode(), nil)
		}(), remoting.TopicNotExist, "not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := dialRaw(t, c.BrokerAddr).call(tc.req)
			if remoting.Code(resp.Code) != tc.code || !strings.Contains(resp.Remark, tc.remark) {
				t.Fatalf("code %v remark %q, want %v containing %q", remoting.Code(resp.Code), resp.Remark, tc.code, tc.remark)
			}
		})
	}

	garbage := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	absurd := binary.BigEndian.AppendUint32(nil, 0x7fffffff)
	short := binary.BigEndian.AppendUint32(nil, 2)
	badHeader := append(binary.BigEndian.AppendUint32(nil, 8), 0, 0, 0, 200, 'x', 'x', 'x', 'x') // header longer than the frame
	for name, raw := range map[string][]byte{"garbage": garbage, "absurd length": absurd, "length below 4": short, "header beyond frame": badHeader} {
		t.Run(name, func(t *testing.T) { dialRaw(t, c.BrokerAddr).closedAfter(raw) })
	}

	// The healthy connection and the broker are unaffected.
	if resp := healthy.call(sendReq("Good", []byte("still ok"))); resp.Code != 0 {
		t.Fatalf("healthy send after bad input: %d %s", resp.Code, resp.Remark)
	}
	waitDispatched(t, c)
	if n := c.Broker.Store().MaxOffset("Good", 0); n != 2 {
		t.Fatalf("%d messages stored, want the 2 good ones", n)
	}
}
