package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
	"github.com/ternmq/tern/sdk/plugin/filter/filtertest"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
)

// bodies of the conformance messages.
var bodies = []string{
	`{"status":"paid","amount":150,"customer":{"country":"DE","vip":true}}`,
	`{"status":"open","amount":99.5,"customer":{"country":"US"}}`,
	`{"status":"paid","amount":100,"customer":{"country":"FR"},"note":null}`,
	`hello, not JSON`,
	`{}`,
	`[{"status":"paid"}]`,
	`{"status":["paid"],"amount":"150"}`,
}

func conformanceMessages() []filter.Message {
	msgs := make([]filter.Message, len(bodies))
	for i, b := range bodies {
		msgs[i] = filter.Message{
			Topic: filtertest.Topic, QueueID: int32(i % 4), QueueOffset: int64(100 + i),
			Tags: []string{"TagA"}, Keys: []string{"k1", "k2"},
			Properties:    map[string]string{"TAGS": "TagA", "KEYS": "k1 k2", "source": "conformance"},
			BornTimestamp: 1_700_000_000_000, StoreTimestamp: 1_700_000_000_005, ReconsumeTimes: int32(i % 2),
			Body: []byte(b),
		}
	}
	return msgs
}

// conformanceCases: the messages above against expressions of every operator.
func conformanceCases() filtertest.Cases {
	msgs := conformanceMessages()
	c := func(expr string, want ...bool) filtertest.Case {
		return filtertest.Case{Name: expr, Expression: expr, Messages: msgs, Want: want}
	}
	const F, T = false, true
	return filtertest.Cases{
		Config: map[string]any{"cache_size": 2}, // small, so the suite also runs through resets
		Match: []filtertest.Case{
			c(`status == "paid"`, T, F, T, F, F, F, F),
			c(`status != "paid"`, F, T, F, F, F, F, T),
			c(`amount > 100`, T, F, F, F, F, F, F),
			c(`amount >= 100`, T, F, T, F, F, F, F),
			c(`amount < 1e2`, F, T, F, F, F, F, F),
			c(`customer.country in ["DE","FR"]`, T, F, T, F, F, F, F),
			c(`customer.vip == true`, T, F, F, F, F, F, F),
			c(`note == null`, F, F, T, F, F, F, F),
			c(`status <= "open"`, F, T, F, F, F, F, F),
			{Name: "one message", Expression: `amount == 150`, Messages: msgs[:1], Want: []bool{T}},
		},
		Bad: []filtertest.BadExpression{
			{Name: "single equals", Expression: `status = "paid"`},
			{Name: "no value", Expression: `amount >`},
			{Name: "empty", Expression: ``},
			{Name: "leading dot", Expression: `.status == "paid"`},
			{Name: "single quotes", Expression: `status == 'paid'`},
			{Name: "array for ==", Expression: `status == ["paid"]`},
			{Name: "bool for >", Expression: `amount > true`},
			{Name: "in without array", Expression: `status in "paid"`},
			{Name: "trailing words", Expression: `status == "paid" and amount > 1`},
		},
	}
}

func TestConformanceInProcess(t *testing.T) {
	filtertest.Run(t, func(*testing.T) filter.Filter { return newFilter() }, conformanceCases())
}

func TestConformanceGRPC(t *testing.T) {
	filtertest.Run(t, func(t *testing.T) filter.Filter {
		return filtertest.NewInProcess(t, newFilter())
	}, conformanceCases())
}

// TestProcess builds the plugin binary and runs it as the broker does.
func TestProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin := plugintest.Build(t, ".")

	t.Run("Conformance", func(t *testing.T) {
		filtertest.Run(t, func(t *testing.T) filter.Filter { return filtertest.Launch(t, bin) }, conformanceCases())
	})

	t.Run("WrongChecksum", func(t *testing.T) {
		sum, err := plugintest.Checksum(bin)
		if err != nil {
			t.Fatal(err)
		}
		sum[0] ^= 0xff
		_, err = plugintest.Start[filter.Filter](t, plugin.KindFilter, &filter.Plugin{}, exec.Command(bin), sum)
		if !errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			t.Fatalf("start with a wrong checksum: got %v, want goplugin.ErrChecksumsDoNotMatch", err)
		}
		if !strings.Contains(err.Error(), "checksums did not match") || !strings.Contains(err.Error(), bin) {
			t.Errorf("error %q does not say which binary failed its checksum", err)
		}
	})

	t.Run("BadConfig", func(t *testing.T) {
		f := filtertest.Launch(t, bin)
		_, err := f.Init(t.Context(), map[string]any{"colour": "blue"})
		if !errors.Is(err, plugin.ErrInvalidArgument) || !strings.Contains(err.Error(), `unknown config key "colour"`) {
			t.Errorf("Init with a bad config: %v, want ErrInvalidArgument naming the key", err)
		}
	})
}
