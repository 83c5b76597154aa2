//go:build !race

package broker_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/ternmq/tern/core/acl"
	"github.com/ternmq/tern/core/remoting"
)

func TestOfficialClientACLAllowed(t *testing.T) {
	t.Parallel()
	c, _, _ := aclCluster(t)
	p := newProducer(t, c, producer.WithCredentials(primitive.Credentials{AccessKey: "producer-key", SecretKey: "producer-secret"}))
	ctx := context.Background()
	for i := range 3 {
		res, err := p.SendSync(ctx, primitive.NewMessage("AclOrders", []byte{'m', byte('0' + i)}))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send: %v %v", res, err)
		}
	}
	col := newCollector()
	pc := newPushConsumer(t, c, "cg-"+instance(t), consumer.WithCredentials(primitive.Credentials{AccessKey: "consumer-key", SecretKey: "consumer-secret"}))
	if err := pc.Subscribe("AclOrders", consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		col.add(msgs...)
		return consumer.ConsumeSuccess, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	defer pc.Shutdown()
	col.wait(t, 3, 30*time.Second)
}

func TestOfficialClientACLRefused(t *testing.T) {
	t.Parallel()
	c, _, auditFile := aclCluster(t)
	ctx := context.Background()
	tests := []struct {
		name, topic, secret, remark string
	}{
		{"wrong secret", "AclOrders", "not-the-secret", "signature does not match"},
		{"denied topic", "AclDenied", "producer-secret", "on topic AclDenied: PUB permission needed, its permission is DENY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProducer(t, c, producer.WithCredentials(primitive.Credentials{AccessKey: "producer-key", SecretKey: tt.secret}), producer.WithRetry(0))
			_, err := p.SendSync(ctx, primitive.NewMessage(tt.topic, []byte("x")))
			if err == nil || !strings.Contains(err.Error(), "16") || !strings.Contains(err.Error(), tt.remark) {
				t.Fatalf("send error %v, want NO_PERMISSION (16) with %q", err, tt.remark)
			}
		})
	}
	waitAudit(t, auditFile, func(l map[string]any) bool {
		return l["event"] == "denied" && l["resource"] == "topic AclDenied" && l["access_key"] == "producer-key"
	})
}

// TestOfficialClientSignature checks the signature rocketmq-client-go v2.1.2 computes (with a
// SecurityToken, which it leaves out of the content) against core/acl, on a request it sends
// to a stand-in NameServer.
func TestOfficialClientSignature(t *testing.T) {
	t.Parallel()
	got := make(chan *remoting.Command, 16)
	mux := remoting.NewMux()
	mux.HandleFunc(remoting.GetRouteInfoByTopic, func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		select {
		case got <- req:
		default:
		}
		return remoting.NewResponse(req, int16(remoting.TopicNotExist), "no route")
	})
	srv := remoting.NewServer(remoting.ServerOptions{}, mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close(context.Background())

	creds := primitive.Credentials{AccessKey: "official-key", SecretKey: "official-secret", SecurityToken: "token-1"}
	p, err := producer.NewDefaultProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{ln.Addr().String()})),
		producer.WithInstanceName(instance(t)), producer.WithCredentials(creds), producer.WithRetry(0),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = p.SendSync(ctx, primitive.NewMessage("SignedTopic", []byte("x"))) // fails: no route
	var req *remoting.Command
	select {
	case req = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the official client sent no route query")
	}
	if req.Field("AccessKey") != creds.AccessKey || req.Field("SecurityToken") != creds.SecurityToken || req.Field("Signature") == "" {
		t.Fatalf("extFields %v", req.Header())
	}
	p1, err := acl.Parse([]byte("accounts:\n  - {accessKey: official-key, secretKey: official-secret}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := acl.Request{Code: req.Code, Fields: req.Header(), Body: req.Body, RemoteAddr: "127.0.0.1:1"}
	if err := p1.Validate(r); err != nil {
		t.Fatalf("the official client's signature is refused: %v", err)
	}
	p2, _ := acl.Parse([]byte("accounts:\n  - {accessKey: official-key, secretKey: another-secret}\n"))
	if err := p2.Validate(r); !errors.Is(err, remoting.ErrNoPermission) {
		t.Fatalf("a wrong secret is accepted: %v", err)
	}
}
