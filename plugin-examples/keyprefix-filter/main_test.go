package main

import (
	"testing"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
	"github.com/ternmq/tern/sdk/plugin/filter/filtertest"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
)

var cases = filtertest.Cases{
	Match: []filtertest.Case{{
		Name: "prefix", ExpressionType: "KEYPREFIX", Expression: "order-",
		Messages: []filter.Message{{Topic: "T", Keys: []string{"x", "order-1"}}, {Topic: "T", Keys: []string{"refund-1"}}, {Topic: "T"}},
		Want:     []bool{true, false, false},
	}},
	Bad: []filtertest.BadExpression{{Name: "empty", ExpressionType: "KEYPREFIX", Expression: ""}},
}

func TestConformance(t *testing.T) {
	filtertest.Run(t, func(*testing.T) filter.Filter { return keyPrefix{} }, cases)
}

// TestConformanceAsProcess builds the plugin and runs the suite against the real process.
func TestConformanceAsProcess(t *testing.T) {
	bin := plugintest.Build(t, ".")
	filtertest.Run(t, func(t *testing.T) filter.Filter {
		return plugintest.Launch[filter.Filter](t, plugin.KindFilter, &filter.Plugin{}, bin)
	}, cases)
}
