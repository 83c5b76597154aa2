package client

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
)

// TestProducerRequestReply: a requester's Request reaches a responder, whose NewReply, sent by
// another producer, comes back to the waiting Request through the broker's push.
func TestProducerRequestReply(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "Req")
	c := prodCluster(t, topic, 1, nil)
	requester := prodNew(t, c.NamesrvAddr)
	responder := prodNew(t, c.NamesrvAddr)
	ctx := prodCtx(t, 30*time.Second)
	big := bytes.Repeat([]byte("large reply "), 1000) // compressed on the way back

	const n = 3
	pl := newProdPuller(t, c.BrokerAddr)
	served := make(chan error, 1)
	go func() {
		var off int64
		for replied := 0; replied < n; {
			reqs, next, err := pl.pull(ctx, topic, 0, off)
			if err != nil {
				served <- err
				return
			}
			for _, req := range reqs {
				body := append([]byte("pong:"), req.Body...)
				if string(req.Body) == "ping-2" {
					body = big
				}
				reply, err := NewReply(req, body)
				if err == nil {
					reply.Tag = "pong"
					_, err = responder.Send(ctx, reply)
				}
				if err != nil {
					served <- err
					return
				}
				replied++
			}
			off = next
		}
		served <- nil
	}()
	for i := range n {
		body := "ping-" + strconv.Itoa(i)
		reply, err := requester.Request(ctx, &Message{Topic: topic, Body: []byte(body)})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		want := []byte("pong:" + body)
		if i == 2 {
			want = big
		}
		if !bytes.Equal(reply.Body, want) || reply.Tag != "pong" || reply.Topic != protocol.ReplyTopic(c.Config.BrokerClusterName) {
			t.Errorf("reply %d: topic %s tag %q body %.20q", i, reply.Topic, reply.Tag, reply.Body)
		}
		if reply.Properties[message.PropertyCorrelationID] == "" || reply.Properties[message.PropertyReplyToClient] != requester.ClientID() ||
			reply.Properties[message.PropertyMessageType] != replyMessageType || reply.Properties[message.PropertyReplyMessageArriveTime] == "" {
			t.Errorf("reply %d properties %v", i, reply.Properties)
		}
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	requester.replies.mu.Lock()
	defer requester.replies.mu.Unlock()
	if len(requester.replies.m) != 0 {
		t.Errorf("%d waiters left", len(requester.replies.m))
	}
}

func TestProducerRequestTimesOut(t *testing.T) {
	t.Parallel()
	topic := prodName(t, "Req")
	c := prodCluster(t, topic, 1, nil)
	p := prodNew(t, c.NamesrvAddr, WithRequestTimeout(300*time.Millisecond))
	start := time.Now()
	_, err := p.Request(context.Background(), &Message{Topic: topic, Body: []byte("nobody answers")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request without a responder: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("request timed out after %v", d)
	}
	// The request was stored with its TTL, and the waiter is gone.
	stored := prodStored(t, c, topic, 1)
	if len(stored) != 1 {
		t.Fatalf("%d stored", len(stored))
	}
	if ttl, _ := strconv.Atoi(stored[0].Properties[message.PropertyMessageTTL]); ttl <= 0 || ttl > 300 {
		t.Errorf("TTL %q", stored[0].Properties[message.PropertyMessageTTL])
	}
	p.replies.mu.Lock()
	defer p.replies.mu.Unlock()
	if len(p.replies.m) != 0 {
		t.Errorf("%d waiters left", len(p.replies.m))
	}
}

func TestNewReplyRefusesNonRequests(t *testing.T) {
	t.Parallel()
	req := func(props map[string]string) *MessageExt {
		m := &MessageExt{}
		m.Properties = props
		return m
	}
	full := map[string]string{message.PropertyCluster: "C", message.PropertyCorrelationID: "id", message.PropertyReplyToClient: "me", message.PropertyMessageTTL: "3000"}
	for _, tc := range []struct {
		name string
		req  *MessageExt
	}{
		{"nil", nil},
		{"no properties", req(nil)},
		{"no cluster", req(map[string]string{message.PropertyCorrelationID: "id", message.PropertyReplyToClient: "me"})},
		{"no correlation id", req(map[string]string{message.PropertyCluster: "C", message.PropertyReplyToClient: "me"})},
		{"no reply-to", req(map[string]string{message.PropertyCluster: "C", message.PropertyCorrelationID: "id"})},
	} {
		if _, err := NewReply(tc.req, []byte("x")); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	r, err := NewReply(req(full), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Topic != "C_REPLY_TOPIC" || r.Properties[message.PropertyMessageType] != "reply" || r.Properties[message.PropertyCorrelationID] != "id" ||
		r.Properties[message.PropertyReplyToClient] != "me" || r.Properties[message.PropertyMessageTTL] != "3000" {
		t.Errorf("reply %+v", r)
	}
}
