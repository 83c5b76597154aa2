package client

import (
	"context"
	"testing"
	"time"

	"github.com/ternmq/tern/core/remoting"
)

// TestHeaderEncoding: requests carry ROCKETMQ binary headers by default and JSON headers with
// WithHeaderEncoding(remoting.JSON); another value is refused at construction.
func TestHeaderEncoding(t *testing.T) {
	seen := make(chan remoting.SerializeType, 16)
	mux := remoting.NewMux()
	mux.Handle(remoting.GetRouteInfoByTopic, remoting.HandlerFunc(func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		select {
		case seen <- req.Serialize:
		default:
		}
		return remoting.NewResponse(req, int16(remoting.TopicNotExist), "no route")
	}))
	s := remoting.NewServer(remoting.ServerOptions{}, mux)
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })

	for _, tc := range []struct {
		opts []ProducerOption
		want remoting.SerializeType
	}{
		{nil, remoting.RocketMQ},
		{[]ProducerOption{WithHeaderEncoding(remoting.JSON)}, remoting.JSON},
		{[]ProducerOption{WithHeaderEncoding(remoting.RocketMQ)}, remoting.RocketMQ},
	} {
		p := prodNew(t, addr.String(), tc.opts...)
		if _, err := p.Send(prodCtx(t, 5*time.Second), &Message{Topic: "NoSuchTopic", Body: []byte("x")}); err == nil {
			t.Fatal("send to a topic without a route succeeded")
		}
		select {
		case got := <-seen:
			if got != tc.want {
				t.Errorf("request header encoding = %d, want %d", got, tc.want)
			}
		default:
			t.Fatal("the NameServer saw no route request")
		}
		for len(seen) > 0 { // the send may have asked more than once
			<-seen
		}
	}
	if _, err := NewProducer("pg", WithNameServers(addr.String()), WithHeaderEncoding(9)); err == nil {
		t.Error("NewProducer accepted header encoding 9")
	}
}
