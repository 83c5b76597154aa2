package tag_test

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"testing"

	"github.com/ternmq/tern/filters/tag"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
	"github.com/ternmq/tern/sdk/plugin/filter/filtertest"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
)

func msg(tags ...string) filter.Message { return filter.Message{Topic: "t", Tags: tags} }

var conformance = filtertest.Cases{
	Match: []filtertest.Case{
		{
			Name:       "one of two tags",
			Expression: "TagA || TagB",
			Messages:   []filter.Message{msg("TagA"), msg("TagC"), msg(), msg("TagC", "TagB")},
			Want:       []bool{true, false, false, true},
		},
		{
			Name:       "all",
			Expression: "*",
			Messages:   []filter.Message{msg("TagA"), msg()},
			Want:       []bool{true, true},
		},
		{
			Name:           "empty expression type is TAG",
			ExpressionType: "",
			Expression:     "",
			Messages:       []filter.Message{msg("x")},
			Want:           []bool{true},
		},
	},
	Bad: []filtertest.BadExpression{
		{Name: "only separators", Expression: "||"},
	},
}

func TestConformance(t *testing.T) {
	filtertest.Run(t, func(*testing.T) filter.Filter { return tag.New() }, conformance)
}

func TestConformanceOverGRPC(t *testing.T) {
	filtertest.Run(t, func(t *testing.T) filter.Filter { return filtertest.NewInProcess(t, tag.New()) }, conformance)
}

// TestConformanceOutOfProcess runs the suite against the built-in as a real process of the tern
// binary (`tern plugin serve tag`), as a manifest entry with a command runs it.
func TestConformanceOutOfProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tern binary")
	}
	tern := plugintest.Build(t, "github.com/ternmq/tern/cmd/tern")
	filtertest.Run(t, func(t *testing.T) filter.Filter {
		f, err := plugintest.Start[filter.Filter](t, plugin.KindFilter, &filter.Plugin{}, exec.Command(tern, "plugin", "serve", "tag"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}, conformance)
}

func TestFilter(t *testing.T) {
	ctx := context.Background()
	f := tag.New()
	info, err := f.Init(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "tag" || info.Version == "" || !slices.Equal(info.ExpressionTypes, []string{"TAG"}) || info.NeedsBody {
		t.Errorf("Info = %+v", info)
	}
	if _, err := f.Init(ctx, map[string]any{"x": 1}); !errors.Is(err, plugin.ErrInvalidArgument) {
		t.Errorf("Init with an unknown key: %v, want ErrInvalidArgument", err)
	}
	tests := []struct {
		name    string
		sub     filter.Subscription
		msgs    []filter.Message
		want    []bool
		wantErr error
	}{
		{"lower-case type", filter.Subscription{ExpressionType: "tag", Expression: "A"}, []filter.Message{msg("A"), msg("B")}, []bool{true, false}, nil},
		{"SQL92 refused", filter.Subscription{ExpressionType: "SQL92", Expression: "a = 1"}, nil, nil, plugin.ErrInvalidArgument},
		{"bad expression", filter.Subscription{ExpressionType: "TAG", Expression: "||||"}, []filter.Message{msg("A")}, nil, plugin.ErrInvalidArgument},
		{"no messages", filter.Subscription{ExpressionType: "TAG", Expression: "A"}, nil, []bool{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Match(ctx, tt.sub, tt.msgs)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Match error %v, want %v", err, tt.wantErr)
			}
			if cerr := f.Compile(ctx, tt.sub); !errors.Is(cerr, tt.wantErr) {
				t.Errorf("Compile error %v, want %v", cerr, tt.wantErr)
			}
			if err == nil && !slices.Equal(got, tt.want) {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchCanceledMidBatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msgs := make([]filter.Message, 1000)
	if _, err := tag.New().Match(ctx, filter.Subscription{Expression: "A"}, msgs); !errors.Is(err, context.Canceled) {
		t.Errorf("Match = %v, want context.Canceled", err)
	}
}

func BenchmarkMatch(b *testing.B) {
	f := tag.New()
	ctx := context.Background()
	sub := filter.Subscription{ExpressionType: "TAG", Expression: "TagA || TagB || TagC"}
	msgs := make([]filter.Message, 32)
	for i := range msgs {
		msgs[i] = msg([]string{"TagA", "TagX", "TagC"}[i%3])
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Match(ctx, sub, msgs); err != nil {
			b.Fatal(err)
		}
	}
}
