package client

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ternmq/tern/core/protocol"
)

// TestSelectors: expression types pass through unchanged; the zero Selector takes everything.
func TestSelectors(t *testing.T) {
	for _, tc := range []struct {
		sel            Selector
		typ, expr, str string
	}{
		{Selector{}, "TAG", "*", "TAG(*)"},
		{Tag("A || B"), "TAG", "A || B", "TAG(A || B)"},
		{SQL92("a > 1"), "SQL92", "a > 1", "SQL92(a > 1)"},
		{CEL("a > 1"), "CEL", "a > 1", "CEL(a > 1)"},
		{Expr("MyPlugin", "x"), "MyPlugin", "x", "MyPlugin(x)"},
	} {
		if tc.sel.Type() != tc.typ || tc.sel.Expression() != tc.expr || tc.sel.String() != tc.str {
			t.Errorf("%#v: %q %q %q", tc.sel, tc.sel.Type(), tc.sel.Expression(), tc.sel.String())
		}
	}
	s := newSubscription("T", Tag("A || B"), nil)
	for tag, want := range map[string]bool{"A": true, "B": true, "C": false, "": false, "C||B": true} {
		if got := s.matches(&MessageExt{Message: Message{Tag: tag}}); got != want {
			t.Errorf("tag %q matches %v, want %v", tag, got, want)
		}
	}
	if !newSubscription("T", SQL92("a > 1"), nil).matches(&MessageExt{}) {
		t.Error("a SQL92 subscription filtered on the client")
	}
	if err := Tag("||").validate(); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Tag(\"||\") validates: %v", err)
	}
	pc, err := NewPushConsumer("g", WithNameServers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(context.Background())
	if err := pc.Subscribe("T", Tag("||"), func(context.Context, []*MessageExt) (ConsumeResult, error) { return ConsumeSuccess, nil }); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Subscribe with a tag expression of separators only: %v", err)
	}
}

// TestPushHeartbeatData: what a consumer announces (§3.2): its subscriptions with their
// expression types, and the retry topic for clustering.
func TestPushHeartbeatData(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []PushConsumerOption
		model  protocol.MessageModel
		from   protocol.ConsumeFromWhere
		topics []string
	}{
		{"clustering", nil, protocol.Clustering, protocol.ConsumeFromLastOffset, []string{"%RETRY%g", "A", "B"}},
		{"broadcasting", []PushConsumerOption{WithBroadcasting(), WithOffsetStoreDir(t.TempDir()), WithConsumeFrom(ConsumeFromTimestamp(time.Now()))},
			protocol.Broadcasting, protocol.ConsumeFromTimestamp, []string{"A", "B"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc, err := NewPushConsumer("g", append(tc.opts, WithNameServers("127.0.0.1:1"))...)
			if err != nil {
				t.Fatal(err)
			}
			defer consClose(t, pc)
			h := func(ctx context.Context, msgs []*MessageExt) (ConsumeResult, error) { return ConsumeSuccess, nil }
			if err := pc.Subscribe("A", Tag("x || y"), h); err != nil {
				t.Fatal(err)
			}
			if err := pc.Subscribe("B", SQL92("a > 1"), h); err != nil {
				t.Fatal(err)
			}
			if tc.model == protocol.Clustering { // as Start adds it
				pc.subs["%RETRY%g"] = newSubscription("%RETRY%g", Tag("*"), nil)
			}
			hb := pc.heartbeatData()
			cd := hb.ConsumerDataSet[0]
			if cd.GroupName != "g" || cd.ConsumeType != protocol.ConsumePassively || cd.MessageModel != tc.model || cd.ConsumeFromWhere != tc.from {
				t.Errorf("consumer data %+v", cd)
			}
			var topics []string
			for _, s := range cd.SubscriptionDataSet {
				topics = append(topics, s.Topic)
				switch s.Topic {
				case "A":
					if s.ExpressionType != "TAG" || s.SubString != "x || y" || !slices.Equal(s.TagsSet, []string{"x", "y"}) || len(s.CodeSet) != 2 || s.SubVersion == 0 {
						t.Errorf("tag subscription %+v", s)
					}
				case "B":
					if s.ExpressionType != "SQL92" || s.SubString != "a > 1" || len(s.TagsSet) != 0 {
						t.Errorf("SQL92 subscription %+v", s)
					}
				}
			}
			if !slices.Equal(topics, tc.topics) {
				t.Errorf("subscribed %v, want %v", topics, tc.topics)
			}
		})
	}
}

// TestBackoffAndMoveCheck: backoffs stay within [min/2, max) and grow; an offset move is
// believed the second time in a row.
func TestBackoffAndMoveCheck(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	var last time.Duration
	for i := range 40 {
		d := b.next()
		if d < 50*time.Millisecond || d > time.Second {
			t.Fatalf("step %d: %v out of bounds", i, d)
		}
		last = d
	}
	if last < 500*time.Millisecond {
		t.Errorf("backoff did not grow: %v", last)
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Errorf("after reset: %v", d)
	}
	var m offsetMoveCheck
	if m.confirmed(5) || m.confirmed(6) || !m.confirmed(6) || m.confirmed(6) {
		t.Error("a move must be confirmed by the next answer for the same offset, once")
	}
}
