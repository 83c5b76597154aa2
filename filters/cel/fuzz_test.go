package cel_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ternmq/tern/filters/cel"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

// The seed corpora are in testdata/fuzz/<FuzzName>; inputs the fuzzer finds go there too. Run:
//
//	go test ./filters/cel/ -run '^$' -fuzz '^FuzzCompile$' -fuzztime 30s
//	go test ./filters/cel/ -run '^$' -fuzz '^FuzzMatch$' -fuzztime 30s

// fuzzType picks an expression type from a fuzzed byte: CEL, SQL92, a lower-case spelling,
// or one the filter does not know.
func fuzzType(b byte) string {
	return [...]string{cel.TypeCEL, cel.TypeSQL92, "sql92", "cel", "TAG"}[int(b)%5]
}

// FuzzCompile: compiling any expression returns nil or an error wrapping
// plugin.ErrInvalidArgument, never panics and never fails for another reason; Compile and
// Match agree on whether the subscription is valid, and a second Compile (from the cache)
// gives the same answer.
func FuzzCompile(f *testing.F) {
	filt := cel.New()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, typ byte, expr string) {
		s := filter.Subscription{Group: "g", Topic: "t", ExpressionType: fuzzType(typ), Expression: expr}
		err := filt.Compile(ctx, s)
		if err != nil && !errors.Is(err, plugin.ErrInvalidArgument) {
			t.Fatalf("Compile(%s %q) = %v, not an invalid argument", s.ExpressionType, expr, err)
		}
		again := filt.Compile(ctx, s)
		if (again == nil) != (err == nil) || err != nil && again.Error() != err.Error() {
			t.Fatalf("Compile(%s %q) = %v, then %v", s.ExpressionType, expr, err, again)
		}
		got, merr := filt.Match(ctx, s, []filter.Message{{}})
		if (merr == nil) != (err == nil) {
			t.Fatalf("Compile(%s %q) = %v, Match = %v", s.ExpressionType, expr, err, merr)
		}
		if merr == nil && len(got) != 1 {
			t.Fatalf("Match returned %d results for 1 message", len(got))
		}
	})
}

// fuzzMessage builds a message from fuzzed text: props is RocketMQ's property encoding
// (key \x01 value \x02 ...), and TAGS and KEYS are split as the broker splits them.
func fuzzMessage(topic, props string, n int64) filter.Message {
	m := filter.Message{Topic: topic, Properties: map[string]string{}, QueueID: int32(n), QueueOffset: n,
		BornTimestamp: n, StoreTimestamp: n ^ 0x5555, ReconsumeTimes: int32(n >> 32), Body: []byte(props)}
	for kv := range strings.SplitSeq(props, "\x02") {
		if k, v, ok := strings.Cut(kv, "\x01"); ok && k != "" {
			m.Properties[k] = v
		}
	}
	if tags := m.Properties["TAGS"]; tags != "" {
		m.Tags = strings.Split(tags, "||")
	}
	if keys := m.Properties["KEYS"]; keys != "" {
		m.Keys = strings.Fields(keys)
	}
	return m
}

// FuzzMatch evaluates arbitrary expressions over messages with arbitrary properties, with a
// cost limit. Match of a compiled expression never fails and never panics; a message's
// result does not depend on the other messages of the batch nor on the run; an expression
// that does not compile fails Match with an invalid argument.
func FuzzMatch(f *testing.F) {
	filt := cel.New()
	if _, err := filt.Init(context.Background(), map[string]any{"costLimit": 100000, "needsBody": true}); err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, typ byte, expr, topic, props string, n int64) {
		s := filter.Subscription{Group: "g", Topic: topic, ExpressionType: fuzzType(typ), Expression: expr}
		m := fuzzMessage(topic, props, n)
		batch := []filter.Message{m, {}, fuzzMessage(props, topic, -n), m}
		got, err := filt.Match(ctx, s, batch)
		if err != nil {
			if !errors.Is(err, plugin.ErrInvalidArgument) {
				t.Fatalf("Match(%s %q) = %v, not an invalid argument", s.ExpressionType, expr, err)
			}
			return
		}
		if len(got) != len(batch) {
			t.Fatalf("Match returned %d results for %d messages", len(got), len(batch))
		}
		// CEL leaves the order of a map's iteration open ([k for k in props][0] may differ
		// from run to run): results are compared for messages of at most one property.
		if len(m.Properties) <= 1 && got[0] != got[3] {
			t.Fatalf("Match(%s %q): the same message matched %v and %v in one batch", s.ExpressionType, expr, got[0], got[3])
		}
		for i, msg := range batch {
			if len(msg.Properties) > 1 {
				continue
			}
			one, err := filt.Match(ctx, s, []filter.Message{msg})
			if err != nil || len(one) != 1 || one[0] != got[i] {
				t.Fatalf("Match(%s %q) of message %d alone = %v %v, in the batch %v", s.ExpressionType, expr, i, one, err, got[i])
			}
		}
		if again, err := filt.Match(ctx, s, batch); err != nil || len(m.Properties) <= 1 && !slices.Equal(again[:2], got[:2]) {
			t.Fatalf("Match(%s %q) = %v, then %v %v", s.ExpressionType, expr, got, again, err)
		}
	})
}
