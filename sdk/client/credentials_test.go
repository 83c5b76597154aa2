package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
)

const credsACL = `
accounts:
  - accessKey: producer-key
    secretKey: producer-secret
    topicPerms: [Signed=PUB, Refused=DENY]
  - accessKey: consumer-key
    secretKey: consumer-secret
    defaultGroupPerm: SUB
    topicPerms: [Signed=SUB]
`

func credsCluster(t *testing.T) *brokertest.Cluster {
	t.Helper()
	aclFile := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(aclFile, []byte(credsACL), 0o600); err != nil {
		t.Fatal(err)
	}
	c := prodCluster(t, "Signed", 2, func(cfg *broker.Config) { cfg.AclEnable, cfg.AclFile = true, aclFile })
	if err := c.CreateTopic("Refused", 2); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWithCredentialsSendAndConsume(t *testing.T) {
	t.Parallel()
	c := credsCluster(t)
	ctx := prodCtx(t, 30*time.Second)
	p := prodNew(t, c.NamesrvAddr, WithCredentials("producer-key", "producer-secret"))
	for range 3 {
		if _, err := p.Send(ctx, &Message{Topic: "Signed", Body: []byte("signed body")}); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	var got atomic.Int64
	done := make(chan struct{})
	pc, err := NewPushConsumer(consName("signed"), WithNameServers(c.NamesrvAddr), WithLogger(brokertest.Logger()),
		WithCredentials("consumer-key", "consumer-secret"), WithConsumeFrom(ConsumeFromFirstOffset))
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe("Signed", Tag("*"), func(_ context.Context, msgs []*MessageExt) (ConsumeResult, error) {
		if got.Add(int64(len(msgs))) >= 3 {
			select {
			case done <- struct{}{}:
			default:
			}
		}
		return ConsumeSuccess, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer prodClose(t, pc)
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("consumed %d of 3", got.Load())
	}
}

func TestWithCredentialsRefused(t *testing.T) {
	t.Parallel()
	c := credsCluster(t)
	tests := []struct {
		name, topic string
		opts        []ProducerOption
		remark      string
	}{
		{"unsigned", "Signed", nil, "the request is not signed"},
		{"wrong secret", "Signed", []ProducerOption{WithCredentials("producer-key", "wrong-secret")}, "signature does not match"},
		{"denied topic", "Refused", []ProducerOption{WithCredentials("producer-key", "producer-secret")}, "on topic Refused: PUB permission needed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := prodCtx(t, 20*time.Second)
			p := prodNew(t, c.NamesrvAddr, append([]ProducerOption{WithSendRetries(0)}, tt.opts...)...)
			_, err := p.Send(ctx, &Message{Topic: tt.topic, Body: []byte("x")})
			if !errors.Is(err, ErrNoPermission) || !strings.Contains(err.Error(), tt.remark) {
				t.Fatalf("send error %v, want ErrNoPermission with %q", err, tt.remark)
			}
		})
	}
}
