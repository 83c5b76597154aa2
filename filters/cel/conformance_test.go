package cel_test

import (
	"testing"

	"github.com/ternmq/tern/filters/cel"
	"github.com/ternmq/tern/sdk/plugin/filter"
	"github.com/ternmq/tern/sdk/plugin/filter/filtertest"
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
