package cel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ternmq/tern/filters/cel"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

// sample is a message with every field set.
var sample = filter.Message{
	Topic:          "orders",
	QueueID:        3,
	QueueOffset:    1234,
	Tags:           []string{"TagA", "TagB"},
	Keys:           []string{"k1", "k2"},
	Properties:     map[string]string{"region": "eu", "amount": "150", "bad": "12x", "dash-key": "v", "TAGS": "TagA||TagB"},
	BornTimestamp:  1_700_000_000_000,
	StoreTimestamp: 1_700_000_000_500,
	ReconsumeTimes: 2,
	Body:           []byte(`{"kind":"refund"}`),
}

// bare is a message with nothing set.
var bare = filter.Message{}

func sub(typ, expr string) filter.Subscription {
	return filter.Subscription{Group: "g", Topic: "orders", ExpressionType: typ, Expression: expr}
}

func newFilter(t testing.TB, config map[string]any) *cel.Filter {
	t.Helper()
	f := cel.New()
	if _, err := f.Init(context.Background(), config); err != nil {
		t.Fatalf("Init(%v): %v", config, err)
	}
	return f
}

// TestExpressions evaluates CEL expressions over sample and bare: the variables, the list
// and map helpers, and what makes an evaluation fail (which is no match, not an error).
func TestExpressions(t *testing.T) {
	tests := []struct {
		name       string
		expr       string
		sample     bool
		bare       bool
		evalErrors uint64 // failed evaluations among the two
	}{
		{"topic", `topic == "orders"`, true, false, 0},
		{"queue", `queueId == 3 && queueOffset == 1234`, true, false, 0},
		{"timestamps", `storeTimestamp - bornTimestamp == 500 && bornTimestamp > 0`, true, false, 0},
		{"reconsume times", `reconsumeTimes >= 2`, true, false, 0},
		{"tag membership", `"TagB" in tags`, true, false, 0},
		{"several tags", `"TagA" in tags && "TagB" in tags`, true, false, 0},
		{"any tag of a set", `tags.exists(t, t in ["TagX", "TagB"])`, true, false, 0},
		{"tag count", `size(tags) == 2`, true, false, 0},
		{"no tags", `size(tags) == 0`, false, true, 0},
		{"tag index", `tags[0] == "TagA"`, true, false, 1},
		{"keys", `"k2" in keys && !("k3" in keys)`, true, false, 0},
		{"property", `props.region == "eu"`, true, false, 1},
		{"property by index", `props["dash-key"] == "v"`, true, false, 1},
		{"typed property", `props.region == "eu" && int(props.amount) > 100`, true, false, 1},
		{"double property", `double(props.amount) >= 150.0`, true, false, 1},
		{"bad int", `int(props.bad) > 1`, false, false, 2},
		{"missing key", `props.nope == "x"`, false, false, 2},
		{"has", `has(props.region)`, true, false, 0},
		{"not has", `!has(props.nope)`, true, true, 0},
		{"in map", `"amount" in props`, true, false, 0},
		{"optional", `props.?region.orValue("us") == "eu"`, true, false, 0},
		{"optional default", `props.?nope.orValue("us") == "us"`, true, true, 0},
		{"optional int", `int(props.?amount.orValue("0")) > 100`, true, false, 0},
		{"map size", `size(props) == 5`, true, false, 0},
		{"map comprehension", `props.exists(k, k.startsWith("dash"))`, true, false, 0},
		{"strings extension", `props.region.upperAscii() == "EU"`, true, false, 1},
		{"mixed numbers", `int(props.amount) > 99.5`, true, false, 1},
		{"division by zero", `1 / (queueId - 3) == 0`, false, true, 1},
		{"sql92 helper", `sql.gt(sql.prop(props, "amount"), 100) == true`, true, false, 0},
		{"map equality", `props == {"region": "eu", "amount": "150", "bad": "12x", "dash-key": "v", "TAGS": "TagA||TagB"}`, true, false, 0},
		{"list equality", `tags == ["TagA", "TagB"] && tags + ["x"] == ["TagA", "TagB", "x"]`, true, false, 0},
	}
	f := newFilter(t, nil)
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.Stats().EvalErrors
			got, err := f.Match(ctx, sub(cel.TypeCEL, tt.expr), []filter.Message{sample, bare})
			if err != nil {
				t.Fatalf("Match(%s): %v", tt.expr, err)
			}
			if want := []bool{tt.sample, tt.bare}; !slices.Equal(got, want) {
				t.Errorf("Match(%s) = %v, want %v", tt.expr, got, want)
			}
			if n := f.Stats().EvalErrors - before; n != tt.evalErrors {
				t.Errorf("%d evaluation errors, want %d", n, tt.evalErrors)
			}
		})
	}
}

func TestSQL92(t *testing.T) {
	f := newFilter(t, nil)
	tests := []struct {
		name, expr string
		want       []bool
	}{
		{"translated", "region = 'eu' AND amount > 100", []bool{true, false}},
		{"tags property", "TAGS = 'TagA||TagB'", []bool{true, false}},
		{"null selects nothing", "NOT (nope = 'x')", []bool{false, false}},
		{"type mismatch is no match", "bad > 1", []bool{false, false}},
		{"lower-case type", "region IS NULL", []bool{false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := cel.TypeSQL92
			if tt.name == "lower-case type" {
				typ = "sql92"
			}
			got, err := f.Match(context.Background(), sub(typ, tt.expr), []filter.Message{sample, bare})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Match(%s) = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

// TestRefused checks the expressions Compile refuses, and that Match fails on them the same way.
func TestRefused(t *testing.T) {
	tests := []struct {
		name   string
		config map[string]any
		typ    string
		expr   string
		want   string
	}{
		{"syntax", nil, cel.TypeCEL, `topic ==`, "Syntax error"},
		{"undeclared", nil, cel.TypeCEL, `tpoic == "x"`, "undeclared reference to 'tpoic'"},
		{"type error", nil, cel.TypeCEL, `topic + 1 == "x"`, "found no matching overload for '_+_'"},
		{"not bool", nil, cel.TypeCEL, `topic`, "the expression is of type string, want bool"},
		{"dyn is not bool", nil, cel.TypeCEL, `sql.cast(null)`, "want bool"},
		{"int is not bool", nil, cel.TypeCEL, `queueId + 1`, "of type int, want bool"},
		{"empty", nil, cel.TypeCEL, ``, "Syntax error"},
		{"body without needsBody", nil, cel.TypeCEL, `size(body) > 0`, "uses body, but the filter is not configured with needsBody: true"},
		{"body in a comprehension", nil, cel.TypeCEL, `tags.exists(t, string(body).contains(t))`, "uses body"},
		{"over budget", map[string]any{"costBudget": 100}, cel.TypeCEL, `tags.exists(t, t.startsWith("x"))`, "is over the budget of 100"},
		{"over default budget", nil, cel.TypeCEL, `tags.exists(t, props.exists(k, k == t))`, "is over the budget of 1000000"},
		{"sql92 syntax", nil, cel.TypeSQL92, `a = NULL`, "sql92: line 1, column 5: NULL cannot be compared with ="},
		{"sql92 empty", nil, cel.TypeSQL92, ``, "found end of expression"},
		{"unknown type", nil, "XPATH", `a`, `expression type "XPATH" is not one of CEL and SQL92`},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFilter(t, tt.config)
			err := f.Compile(ctx, sub(tt.typ, tt.expr))
			if !errors.Is(err, plugin.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile(%s) = %v, want ErrInvalidArgument containing %q", tt.expr, err, tt.want)
			}
			got, err := f.Match(ctx, sub(tt.typ, tt.expr), []filter.Message{sample})
			if got != nil || !errors.Is(err, plugin.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Match(%s) = %v, %v; want ErrInvalidArgument containing %q", tt.expr, got, err, tt.want)
			}
		})
	}
}

func TestBody(t *testing.T) {
	ctx := context.Background()
	expr := sub(cel.TypeCEL, `string(body).contains("refund")`)
	off := newFilter(t, nil)
	if off.Info().NeedsBody {
		t.Error("NeedsBody without needsBody")
	}
	if err := off.Compile(ctx, expr); !errors.Is(err, plugin.ErrInvalidArgument) {
		t.Errorf("Compile without needsBody: %v", err)
	}
	on := newFilter(t, map[string]any{"needsBody": true})
	if !on.Info().NeedsBody {
		t.Error("no NeedsBody with needsBody: true")
	}
	got, err := on.Match(ctx, expr, []filter.Message{sample, bare})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []bool{true, false}) {
		t.Errorf("Match = %v, want [true false]", got)
	}
	// Init clears what was compiled under the earlier configuration.
	if _, err := on.Init(ctx, map[string]any{"needsBody": false}); err != nil {
		t.Fatal(err)
	}
	if _, err := on.Match(ctx, expr, []filter.Message{sample}); !errors.Is(err, plugin.ErrInvalidArgument) {
		t.Errorf("Match after needsBody: false = %v, want ErrInvalidArgument", err)
	}
}

func TestCostLimit(t *testing.T) {
	f := newFilter(t, map[string]any{"costLimit": 50})
	many := filter.Message{Tags: make([]string, 200)}
	for i := range many.Tags {
		many.Tags[i] = fmt.Sprint("t", i)
	}
	few := filter.Message{Tags: []string{"x1"}}
	got, err := f.Match(context.Background(), sub(cel.TypeCEL, `tags.exists(t, t.startsWith("x"))`), []filter.Message{many, few})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []bool{false, true}) {
		t.Errorf("Match = %v, want [false true]", got)
	}
	if s := f.Stats(); s.CostLimitExceeded != 1 || s.EvalErrors != 1 || s.Evaluations != 2 {
		t.Errorf("Stats = %+v, want one evaluation over the cost limit of two", s)
	}
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	f := newFilter(t, map[string]any{"cacheSize": 2})
	a, b, c := sub(cel.TypeCEL, `topic == "a"`), sub(cel.TypeCEL, `topic == "b"`), sub(cel.TypeCEL, `topic == "c"`)
	bad := sub(cel.TypeCEL, `topic`)
	steps := []struct {
		name     string
		do       func() error
		compiles uint64 // total after the step
		hits     uint64
	}{
		{"compile a", func() error { return f.Compile(ctx, a) }, 1, 0},
		{"match a hits", func() error { _, err := f.Match(ctx, a, []filter.Message{sample}); return err }, 1, 1},
		{"other group misses", func() error { s := a; s.Group = "g2"; return f.Compile(ctx, s) }, 2, 1},
		{"type case does not matter", func() error { s := a; s.ExpressionType = "cel"; return f.Compile(ctx, s) }, 2, 2},
		{"match b compiles", func() error { _, err := f.Match(ctx, b, nil); return err }, 3, 2},
		{"c evicts a", func() error { return f.Compile(ctx, c) }, 4, 2},
		{"a again compiles", func() error { return f.Compile(ctx, a) }, 5, 2},
		{"refusal is remembered", func() error { f.Compile(ctx, bad); return nil }, 6, 2},
		{"refusal hit", func() error {
			if err := f.Compile(ctx, bad); !errors.Is(err, plugin.ErrInvalidArgument) {
				return fmt.Errorf("cached refusal: %v", err)
			}
			return nil
		}, 6, 3},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if st := f.Stats(); st.Compiles != s.compiles || st.CacheHits != s.hits {
			t.Errorf("after %s: %d compiles, %d hits; want %d, %d", s.name, st.Compiles, st.CacheHits, s.compiles, s.hits)
		}
	}
}

func TestInit(t *testing.T) {
	tests := []struct {
		name    string
		config  map[string]any
		wantErr string
	}{
		{"nil", nil, ""},
		{"all keys", map[string]any{"costBudget": 10, "costLimit": uint64(20), "needsBody": true, "cacheSize": 5}, ""},
		{"json numbers", map[string]any{"costBudget": 10.0, "cacheSize": float64(3)}, ""},
		{"zero means none", map[string]any{"costBudget": 0, "costLimit": 0, "cacheSize": 0}, ""},
		{"unknown key", map[string]any{"costbudget": 1}, `unknown config key "costbudget"`},
		{"negative", map[string]any{"costLimit": -1}, "costLimit: want a non-negative integer"},
		{"fraction", map[string]any{"cacheSize": 1.5}, "cacheSize: want a non-negative integer"},
		{"string", map[string]any{"costBudget": "100"}, "costBudget: want a non-negative integer"},
		{"needsBody not bool", map[string]any{"needsBody": "yes"}, "needsBody: want true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := cel.New().Init(context.Background(), tt.config)
			if tt.wantErr != "" {
				if !errors.Is(err, plugin.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Init = %v, want ErrInvalidArgument containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Name != "cel" || info.Version == "" || !slices.Equal(info.ExpressionTypes, []string{"CEL", "SQL92"}) {
				t.Errorf("Info = %+v", info)
			}
			if info.NeedsBody != (tt.config["needsBody"] == true) {
				t.Errorf("NeedsBody = %t", info.NeedsBody)
			}
		})
	}
}

func TestCanceled(t *testing.T) {
	f := newFilter(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Match(ctx, sub(cel.TypeCEL, "true"), []filter.Message{sample}); !errors.Is(err, context.Canceled) {
		t.Errorf("Match = %v, want context.Canceled", err)
	}
	if err := f.Compile(ctx, sub(cel.TypeCEL, "true")); !errors.Is(err, context.Canceled) {
		t.Errorf("Compile = %v, want context.Canceled", err)
	}
}

// TestConcurrent matches from many goroutines while Init replaces the configuration.
func TestConcurrent(t *testing.T) {
	f := newFilter(t, map[string]any{"cacheSize": 3})
	exprs := []filter.Subscription{
		sub(cel.TypeCEL, `"TagA" in tags`),
		sub(cel.TypeCEL, `int(props.amount) > 100`),
		sub(cel.TypeSQL92, `region = 'eu' AND amount BETWEEN 100 AND 200`),
		sub(cel.TypeSQL92, `region = 'us'`),
		sub(cel.TypeCEL, `topic == "orders"`),
	}
	want := [][]bool{{true, false}, {true, false}, {true, false}, {false, false}, {true, false}}
	msgs := []filter.Message{sample, bare}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(exprs)
				got, err := f.Match(context.Background(), exprs[k], msgs)
				if err != nil {
					t.Error(err)
					return
				}
				if !slices.Equal(got, want[k]) {
					t.Errorf("Match(%s) = %v, want %v", exprs[k].Expression, got, want[k])
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := f.Init(context.Background(), map[string]any{"cacheSize": 3}); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
}
