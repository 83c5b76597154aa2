package cel_test

import (
	"os/exec"
	"testing"

	"github.com/ternmq/tern/filters/cel"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
	"github.com/ternmq/tern/sdk/plugin/filter/filtertest"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
)

func conformanceCases(config map[string]any) filtertest.Cases {
	msgs := []filter.Message{sample, bare}
	c := filtertest.Cases{
		Config: config,
		Match: []filtertest.Case{
			{Name: "cel tags", ExpressionType: cel.TypeCEL, Expression: `"TagA" in tags`, Messages: msgs, Want: []bool{true, false}},
			{Name: "cel props", ExpressionType: cel.TypeCEL, Expression: `int(props.amount) > 100`, Messages: msgs, Want: []bool{true, false}},
			{Name: "sql92", ExpressionType: cel.TypeSQL92, Expression: `region = 'eu' OR region IS NULL`, Messages: msgs, Want: []bool{true, true}},
			{Name: "sql92 null", ExpressionType: cel.TypeSQL92, Expression: `NOT (amount > 200)`, Messages: msgs, Want: []bool{true, false}},
		},
		Bad: []filtertest.BadExpression{
			{Name: "cel syntax", ExpressionType: cel.TypeCEL, Expression: `tags in`},
			{Name: "cel not bool", ExpressionType: cel.TypeCEL, Expression: `topic`},
			{Name: "sql92 null comparison", ExpressionType: cel.TypeSQL92, Expression: `a = NULL`},
		},
	}
	if config["needsBody"] == true {
		c.Match = append(c.Match, filtertest.Case{Name: "body", ExpressionType: cel.TypeCEL,
			Expression: `string(body).contains("refund")`, Messages: msgs, Want: []bool{true, false}})
	} else {
		c.Bad = append(c.Bad, filtertest.BadExpression{Name: "body", ExpressionType: cel.TypeCEL, Expression: `size(body) > 0`})
	}
	return c
}

func TestConformance(t *testing.T) {
	for _, config := range []map[string]any{nil, {"needsBody": true, "costLimit": 1000}} {
		t.Run("in process", func(t *testing.T) {
			filtertest.Run(t, func(*testing.T) filter.Filter { return cel.New() }, conformanceCases(config))
		})
		t.Run("over gRPC", func(t *testing.T) {
			filtertest.Run(t, func(t *testing.T) filter.Filter { return filtertest.NewInProcess(t, cel.New()) }, conformanceCases(config))
		})
	}
}

// TestConformanceOutOfProcess runs the suite against the built-in as the broker runs it from a
// manifest entry `command: tern, args: [plugin, serve, cel]`: a real process of the tern binary.
func TestConformanceOutOfProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tern binary")
	}
	tern := plugintest.Build(t, "github.com/ternmq/tern/cmd/tern")
	for _, config := range []map[string]any{nil, {"needsBody": true, "costLimit": 1000}} {
		filtertest.Run(t, func(t *testing.T) filter.Filter {
			f, err := plugintest.Start[filter.Filter](t, plugin.KindFilter, &filter.Plugin{}, exec.Command(tern, "plugin", "serve", "cel"), nil)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, conformanceCases(config))
	}
}
