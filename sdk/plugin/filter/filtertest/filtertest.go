// Package filtertest is the conformance suite of filter plugins (Run) and the helpers that put
// a filter behind a real gRPC connection: NewInProcess in the test process, Launch as a
// separate process the way the host starts plugins.
//
// The suite checks the contract of filter.Filter, so it is run against every implementation
// in every form: a built-in in process, the same built-in over NewInProcess, and a plugin
// binary over Launch. What it checks:
//
//   - Init returns an Info with a Name and at least one expression type, and every case's
//     expression type is one of them;
//   - Compile accepts the good expressions and refuses each bad one with an error wrapping
//     plugin.ErrInvalidArgument that says more than the sentinel; an expression type the
//     filter does not declare is refused with plugin.ErrInvalidArgument or
//     plugin.ErrUnsupported;
//   - Match returns exactly one result per message with the expected selection, both without
//     and after Compile (a restarted plugin sees Match first), for an empty or nil batch, and
//     from many goroutines at once; it fails a bad expression with plugin.ErrInvalidArgument
//     and a cancelled context with context.Canceled; it leaves the messages as they were;
//   - bodies: the suite passes Message.Body only when Info.NeedsBody, as the broker does, so
//     a filter that reads bodies without declaring it fails its cases.
package filtertest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
)

// NewInProcess serves impl over a gRPC connection within the test process and returns the
// host's client for it, as the host would dispense it. See plugintest.InProcess.
func NewInProcess(t testing.TB, impl filter.Filter) filter.Filter {
	t.Helper()
	return plugintest.InProcess[filter.Filter](t, plugin.KindFilter, &filter.Plugin{Impl: impl})
}

// Launch starts the filter plugin binary at path as the host does (handshake, sha256
// checksum of the file, automatic mutual TLS) and returns the client. See plugintest.Launch.
func Launch(t testing.TB, path string) filter.Filter {
	t.Helper()
	return plugintest.Launch[filter.Filter](t, plugin.KindFilter, &filter.Plugin{}, path)
}

// Case is an expression, messages and the selection the filter must make.
type Case struct {
	Name string
	// ExpressionType defaults to the first of Info.ExpressionTypes.
	ExpressionType string
	Expression     string
	Messages       []filter.Message
	// Want has one entry per message.
	Want []bool
}

// BadExpression is an expression Compile must refuse.
type BadExpression struct {
	Name string
	// ExpressionType defaults to the first of Info.ExpressionTypes.
	ExpressionType string
	Expression     string
}

// Cases are the filter-specific inputs of the suite. Match needs at least one case and Bad at
// least one expression.
type Cases struct {
	// Config is passed to Init.
	Config map[string]any
	Match  []Case
	Bad    []BadExpression
}

// Group and Topic are the subscription's group and topic in the suite.
const (
	Group = "conformance-group"
	Topic = "conformance-topic"
)

// unknownType is an expression type no filter declares.
const unknownType = "TERN_CONFORMANCE_NO_SUCH_TYPE"

// Run runs the suite. newFilter returns a fresh, not yet initialised filter for each subtest;
// it registers its own cleanup with t.
func Run(t *testing.T, newFilter func(t *testing.T) filter.Filter, cases Cases) {
	if len(cases.Match) == 0 || len(cases.Bad) == 0 {
		t.Fatal("filtertest: Cases needs at least one Match case and one Bad expression")
	}
	for _, c := range cases.Match {
		if len(c.Want) != len(c.Messages) {
			t.Fatalf("filtertest: case %q has %d messages but %d wanted results", c.Name, len(c.Messages), len(c.Want))
		}
	}
	s := &suite{newFilter: newFilter, cases: cases}
	t.Run("Info", s.testInfo)
	t.Run("CompileGood", s.testCompileGood)
	t.Run("CompileBad", s.testCompileBad)
	t.Run("CompileUnknownType", s.testCompileUnknownType)
	t.Run("Match", s.testMatch)
	t.Run("MatchBadExpression", s.testMatchBad)
	t.Run("EmptyBatch", s.testEmptyBatch)
	t.Run("Concurrent", s.testConcurrent)
	t.Run("Canceled", s.testCanceled)
	t.Run("InputUnchanged", s.testInputUnchanged)
}

type suite struct {
	newFilter func(t *testing.T) filter.Filter
	cases     Cases
}

// callTimeout bounds every call of the suite, so a hung plugin fails instead of stalling.
const callTimeout = 30 * time.Second

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// start returns a fresh filter after Init.
func (s *suite) start(t *testing.T) (filter.Filter, filter.Info) {
	t.Helper()
	f := s.newFilter(t)
	info, err := f.Init(ctxFor(t), s.cases.Config)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if len(info.ExpressionTypes) == 0 {
		t.Fatalf("Init: Info.ExpressionTypes is empty: %+v", info)
	}
	return f, info
}

func subscription(info filter.Info, exprType, expr string) filter.Subscription {
	if exprType == "" {
		exprType = info.ExpressionTypes[0]
	}
	return filter.Subscription{Group: Group, Topic: Topic, ExpressionType: exprType, Expression: expr}
}

// messages returns c's messages as the broker passes them: without bodies or properties unless
// the filter needs them. The slice is a copy; bodies, maps and slices are shared.
func messages(info filter.Info, c Case) []filter.Message {
	msgs := slices.Clone(c.Messages)
	for i := range msgs {
		if !info.NeedsBody {
			msgs[i].Body = nil
		}
		if info.OmitProperties {
			msgs[i].Properties = nil
		}
	}
	return msgs
}

func (s *suite) testInfo(t *testing.T) {
	_, info := s.start(t)
	if info.Name == "" {
		t.Errorf("Info.Name is empty: %+v", info)
	}
	declared := func(typ string) bool { return typ == "" || slices.Contains(info.ExpressionTypes, typ) }
	for _, c := range s.cases.Match {
		if !declared(c.ExpressionType) {
			t.Errorf("case %q: expression type %q is not in Info.ExpressionTypes %q", c.Name, c.ExpressionType, info.ExpressionTypes)
		}
	}
	for _, b := range s.cases.Bad {
		if !declared(b.ExpressionType) {
			t.Errorf("bad expression %q: expression type %q is not in Info.ExpressionTypes %q", b.Name, b.ExpressionType, info.ExpressionTypes)
		}
	}
}

func (s *suite) testCompileGood(t *testing.T) {
	f, info := s.start(t)
	for _, c := range s.cases.Match {
		if err := f.Compile(ctxFor(t), subscription(info, c.ExpressionType, c.Expression)); err != nil {
			t.Errorf("case %q: Compile(%q): %v", c.Name, c.Expression, err)
		}
	}
}

// checkInvalid checks that err is a useful ErrInvalidArgument.
func checkInvalid(t *testing.T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error, want one wrapping plugin.ErrInvalidArgument", what)
	case !errors.Is(err, plugin.ErrInvalidArgument):
		t.Errorf("%s: error %q (%T) does not wrap plugin.ErrInvalidArgument", what, err, err)
	case strings.Trim(strings.Replace(err.Error(), plugin.ErrInvalidArgument.Error(), "", 1), " :") == "":
		t.Errorf("%s: error %q says nothing beyond the sentinel", what, err)
	}
}

func (s *suite) testCompileBad(t *testing.T) {
	f, info := s.start(t)
	for _, b := range s.cases.Bad {
		err := f.Compile(ctxFor(t), subscription(info, b.ExpressionType, b.Expression))
		checkInvalid(t, fmt.Sprintf("bad expression %q: Compile(%q)", b.Name, b.Expression), err)
	}
}

func (s *suite) testCompileUnknownType(t *testing.T) {
	f, info := s.start(t)
	err := f.Compile(ctxFor(t), subscription(info, unknownType, s.cases.Match[0].Expression))
	if !errors.Is(err, plugin.ErrInvalidArgument) && !errors.Is(err, plugin.ErrUnsupported) {
		t.Errorf("Compile with expression type %q: got %v, want an error wrapping plugin.ErrInvalidArgument or plugin.ErrUnsupported", unknownType, err)
	}
}

// match runs one case and compares the results.
func match(ctx context.Context, t *testing.T, f filter.Filter, info filter.Info, c Case) {
	t.Helper()
	got, err := f.Match(ctx, subscription(info, c.ExpressionType, c.Expression), messages(info, c))
	if err != nil {
		t.Errorf("case %q: Match: %v", c.Name, err)
		return
	}
	if len(got) != len(c.Messages) {
		t.Errorf("case %q: Match returned %d results for %d messages", c.Name, len(got), len(c.Messages))
		return
	}
	if !slices.Equal(got, c.Want) {
		t.Errorf("case %q: Match(%q) = %v, want %v", c.Name, c.Expression, got, c.Want)
	}
}

func (s *suite) testMatch(t *testing.T) {
	f, info := s.start(t)
	for _, c := range s.cases.Match {
		// First without Compile (the plugin restarted since the consumer subscribed), then after.
		ctx := ctxFor(t)
		match(ctx, t, f, info, c)
		if err := f.Compile(ctx, subscription(info, c.ExpressionType, c.Expression)); err != nil {
			t.Errorf("case %q: Compile: %v", c.Name, err)
		}
		match(ctx, t, f, info, c)
	}
}

func (s *suite) testMatchBad(t *testing.T) {
	f, info := s.start(t)
	msgs := messages(info, s.cases.Match[0])
	for _, b := range s.cases.Bad {
		got, err := f.Match(ctxFor(t), subscription(info, b.ExpressionType, b.Expression), msgs)
		checkInvalid(t, fmt.Sprintf("bad expression %q: Match(%q)", b.Name, b.Expression), err)
		if err != nil && got != nil {
			t.Errorf("bad expression %q: Match returned results %v with its error", b.Name, got)
		}
	}
}

func (s *suite) testEmptyBatch(t *testing.T) {
	f, info := s.start(t)
	for _, c := range s.cases.Match {
		for _, msgs := range [][]filter.Message{nil, {}} {
			got, err := f.Match(ctxFor(t), subscription(info, c.ExpressionType, c.Expression), msgs)
			if err != nil || len(got) != 0 {
				t.Errorf("case %q: Match(%#v) = %v, %v; want no results, no error", c.Name, msgs, got, err)
			}
		}
	}
}

// Concurrency of the Concurrent subtest.
const (
	goroutines = 8
	rounds     = 25
)

func (s *suite) testConcurrent(t *testing.T) {
	f, info := s.start(t)
	ctx := ctxFor(t)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				// Each goroutine walks the cases from a different start.
				c := s.cases.Match[(g+r)%len(s.cases.Match)]
				match(ctx, t, f, info, c)
			}
		})
	}
	wg.Wait()
}

func (s *suite) testCanceled(t *testing.T) {
	f, info := s.start(t)
	c := s.cases.Match[0]
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	got, err := f.Match(ctx, subscription(info, c.ExpressionType, c.Expression), messages(info, c))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Match with a cancelled context = %v, %v; want an error wrapping context.Canceled", got, err)
	}
}

func (s *suite) testInputUnchanged(t *testing.T) {
	f, info := s.start(t)
	for _, c := range s.cases.Match {
		msgs := messages(info, c)
		want := deepCopy(msgs)
		if _, err := f.Match(ctxFor(t), subscription(info, c.ExpressionType, c.Expression), msgs); err != nil {
			t.Errorf("case %q: Match: %v", c.Name, err)
			continue
		}
		if !reflect.DeepEqual(msgs, want) {
			t.Errorf("case %q: Match modified its messages", c.Name)
		}
	}
}

func deepCopy(msgs []filter.Message) []filter.Message {
	out := slices.Clone(msgs)
	for i := range out {
		out[i].Tags = slices.Clone(out[i].Tags)
		out[i].Keys = slices.Clone(out[i].Keys)
		out[i].Properties = maps.Clone(out[i].Properties)
		out[i].Body = slices.Clone(out[i].Body)
	}
	return out
}
