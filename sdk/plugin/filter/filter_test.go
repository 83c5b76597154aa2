package filter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/ternmq/tern/plugins/proto/pluginv1"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
	"github.com/ternmq/tern/sdk/plugin/filter/filtertest"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
)

// childEnv makes the test binary serve testFilter as a plugin process instead of running
// tests: startChild re-executes the binary with it set, as go-plugin's own tests do.
const childEnv = "TERN_FILTER_TEST_PLUGIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		filter.Serve(testFilter{})
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// startChild runs testFilter in a child process, launched like a real plugin.
func startChild(t testing.TB) filter.Filter {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	// atexit_sleep_ms: a race-enabled child would otherwise linger a second at exit.
	cmd.Env = []string{childEnv + "=1", "GORACE=atexit_sleep_ms=0"}
	f, err := plugintest.Start[filter.Filter](t, plugin.KindFilter, &filter.Plugin{}, cmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// testFilter selects by tag ("TagA") or by a body substring ("body:xyz"). Expressions with
// spaces are refused. It fails Match of the expression "fail:<sentinel>" with that sentinel,
// and answers "short" with one result too few.
type testFilter struct{}

func (testFilter) Init(ctx context.Context, config map[string]any) (filter.Info, error) {
	if len(config) != 0 {
		return filter.Info{}, fmt.Errorf("%w: testfilter: no config expected, got %v", plugin.ErrInvalidArgument, config)
	}
	return filter.Info{Name: "testfilter", Version: "0", ExpressionTypes: []string{"TESTTAG"}, NeedsBody: true}, ctx.Err()
}

func (testFilter) Compile(ctx context.Context, sub filter.Subscription) error {
	switch {
	case sub.ExpressionType != "TESTTAG":
		return fmt.Errorf("%w: testfilter: expression type %q", plugin.ErrUnsupported, sub.ExpressionType)
	case sub.Expression == "" || strings.ContainsAny(sub.Expression, " \t"):
		return fmt.Errorf("%w: testfilter: bad expression %q", plugin.ErrInvalidArgument, sub.Expression)
	}
	return ctx.Err()
}

var sentinels = map[string]error{
	"invalid": plugin.ErrInvalidArgument, "notfound": plugin.ErrNotFound, "unsupported": plugin.ErrUnsupported,
	"unavailable": plugin.ErrUnavailable, "timeout": plugin.ErrTimeout, "internal": plugin.ErrInternal,
}

func (f testFilter) Match(ctx context.Context, sub filter.Subscription, msgs []filter.Message) ([]bool, error) {
	if err := f.Compile(ctx, sub); err != nil {
		return nil, err
	}
	if name, ok := strings.CutPrefix(sub.Expression, "fail:"); ok {
		return nil, fmt.Errorf("testfilter says %s: %w", name, sentinels[name])
	}
	out := make([]bool, len(msgs))
	for i, m := range msgs {
		if s, ok := strings.CutPrefix(sub.Expression, "body:"); ok {
			out[i] = bytes.Contains(m.Body, []byte(s))
		} else {
			out[i] = slices.Contains(m.Tags, sub.Expression)
		}
	}
	if sub.Expression == "short" && len(out) > 0 {
		out = out[1:]
	}
	return out, nil
}

func cases() filtertest.Cases {
	msgs := []filter.Message{
		{Topic: filtertest.Topic, Tags: []string{"TagA"}, Body: []byte("hello")},
		{Topic: filtertest.Topic, Tags: []string{"TagB", "TagA"}, Properties: map[string]string{"k": "v"}},
		{Topic: filtertest.Topic, Tags: nil, Body: []byte("say hello")},
	}
	return filtertest.Cases{
		Match: []filtertest.Case{
			{Name: "tag", Expression: "TagA", Messages: msgs, Want: []bool{true, true, false}},
			{Name: "other tag", Expression: "TagB", Messages: msgs, Want: []bool{false, true, false}},
			{Name: "body", Expression: "body:hello", Messages: msgs, Want: []bool{true, false, true}},
		},
		Bad: []filtertest.BadExpression{{Name: "empty", Expression: ""}, {Name: "space", Expression: "a b"}},
	}
}

// forms runs fn against testFilter in each form a host can meet it.
var forms = []struct {
	name string
	new  func(t testing.TB) filter.Filter
}{
	{"InProcess", func(testing.TB) filter.Filter { return testFilter{} }},
	{"GRPC", func(t testing.TB) filter.Filter { return filtertest.NewInProcess(t, testFilter{}) }},
	{"Process", startChild},
}

func TestConformance(t *testing.T) {
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			filtertest.Run(t, func(t *testing.T) filter.Filter { return form.new(t) }, cases())
		})
	}
}

// TestErrorsCrossTheBoundary: a sentinel returned by the plugin is errors.Is on the host, and
// the plugin's message is in the error text.
func TestErrorsCrossTheBoundary(t *testing.T) {
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			f := form.new(t)
			for name, sentinel := range sentinels {
				_, err := f.Match(t.Context(), filter.Subscription{ExpressionType: "TESTTAG", Expression: "fail:" + name}, nil)
				if !errors.Is(err, sentinel) || !strings.Contains(err.Error(), "testfilter says "+name) {
					t.Errorf("%s: got %v, want %v with the plugin's message", name, err, sentinel)
				}
			}
			_, err := f.Init(t.Context(), map[string]any{"x": 1})
			if !errors.Is(err, plugin.ErrInvalidArgument) || !strings.Contains(err.Error(), "no config expected, got map[x:1]") {
				t.Errorf("Init: %v", err)
			}
		})
	}
}

// TestResultCount: a plugin that answers a batch with the wrong number of results fails the
// call with ErrInternal rather than handing the broker a short slice.
func TestResultCount(t *testing.T) {
	for _, form := range forms[1:] {
		t.Run(form.name, func(t *testing.T) {
			got, err := form.new(t).Match(t.Context(), filter.Subscription{ExpressionType: "TESTTAG", Expression: "short"}, make([]filter.Message, 3))
			if !errors.Is(err, plugin.ErrInternal) || !strings.Contains(err.Error(), "2 results for 3 items") {
				t.Errorf("Match = %v, %v; want ErrInternal", got, err)
			}
		})
	}
	// The client checks too, in case a server does not.
	conn := fakeConn{matched: []bool{true}}
	if _, err := filter.NewGRPCClient(conn).Match(t.Context(), filter.Subscription{}, make([]filter.Message, 2)); !errors.Is(err, plugin.ErrInternal) {
		t.Errorf("client with a short answer: %v", err)
	}
}

// fakeConn answers every call with a MatchResponse.
type fakeConn struct{ matched []bool }

func (c fakeConn) Invoke(_ context.Context, method string, _, reply any, _ ...grpc.CallOption) error {
	resp, ok := reply.(*pluginv1.MatchResponse)
	if !ok {
		return fmt.Errorf("unexpected call %s", method)
	}
	resp.Matched = c.matched
	return nil
}

func (fakeConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, errors.New("no streams")
}

// TestLargeBatch: a plugin process accepts a batch beyond gRPC's default 4 MiB limit
// (plugin.Serve raises it to plugin.MaxMessageSize).
func TestLargeBatch(t *testing.T) {
	f := startChild(t)
	msgs := make([]filter.Message, 6)
	for i := range msgs {
		msgs[i].Body = bytes.Repeat([]byte{'a' + byte(i)}, 1<<20)
	}
	got, err := f.Match(t.Context(), filter.Subscription{ExpressionType: "TESTTAG", Expression: "body:ccc"}, msgs)
	if err != nil || !slices.Equal(got, []bool{false, false, true, false, false, false}) {
		t.Errorf("Match of 6 MiB = %v, %v", got, err)
	}
}
