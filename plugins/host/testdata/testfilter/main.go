// Command testfilter is the filter plugin the host's tests run as a real process. What it does
// is driven by its config and by the expression:
//
//	config: version (string, default "v1"), types (list of expression types; default [TEST];
//	        an empty list declares none), needsBody (bool), greeting (logged at Init),
//	        refuse (true: Init fails with plugin.ErrInvalidArgument)
//	expression "bad"     Compile and Match fail with plugin.ErrInvalidArgument
//	expression "crash"   Match exits the process with status 2
//	expression "hang"    Match blocks forever
//	expression "fail"    Match fails with plugin.ErrInternal
//	anything else        Match selects the messages that carry the expression as a tag
//
// Info.Version is "<version>;env=<names of its environment variables, sorted>;FOO=<$FOO>;pid=<pid>",
// so a test sees exactly which environment the host gave it, and which process answered.
package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

type testFilter struct {
	log   hclog.Logger
	types []string
}

func (f *testFilter) Init(_ context.Context, config map[string]any) (filter.Info, error) {
	version, _ := config["version"].(string)
	if version == "" {
		version = "v1"
	}
	if config["refuse"] == true {
		return filter.Info{}, fmt.Errorf("%w: config says refuse", plugin.ErrInvalidArgument)
	}
	f.types = []string{"TEST"}
	if ts, ok := config["types"].([]any); ok {
		f.types = nil
		for _, t := range ts {
			f.types = append(f.types, fmt.Sprint(t))
		}
	}
	needsBody, _ := config["needsBody"].(bool)
	var names []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	slices.Sort(names)
	f.log.Info("testfilter init", "greeting", config["greeting"])
	f.log.Warn("testfilter warns")
	// After Serve, os.Stderr is go-plugin's stdio stream to the host.
	fmt.Fprintln(os.Stderr, "testfilter stderr line")
	return filter.Info{
		Name:            "testfilter",
		Version:         fmt.Sprintf("%s;env=%s;FOO=%s;pid=%d", version, strings.Join(names, ","), os.Getenv("FOO"), os.Getpid()),
		ExpressionTypes: f.types,
		NeedsBody:       needsBody,
	}, nil
}

func (f *testFilter) check(sub filter.Subscription) error {
	if !slices.Contains(f.types, sub.ExpressionType) && !(len(f.types) == 0 && sub.ExpressionType == "TESTFILTER") {
		return fmt.Errorf("%w: expression type %q is not one of %q", plugin.ErrInvalidArgument, sub.ExpressionType, f.types)
	}
	if sub.Expression == "bad" {
		return fmt.Errorf("%w: expression %q is bad", plugin.ErrInvalidArgument, sub.Expression)
	}
	return nil
}

func (f *testFilter) Compile(_ context.Context, sub filter.Subscription) error { return f.check(sub) }

func (f *testFilter) Match(ctx context.Context, sub filter.Subscription, msgs []filter.Message) ([]bool, error) {
	if err := f.check(sub); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch sub.Expression {
	case "crash":
		f.log.Error("testfilter crashing")
		os.Exit(2)
	case "hang":
		<-make(chan struct{})
	case "fail":
		return nil, fmt.Errorf("%w: asked to fail", plugin.ErrInternal)
	}
	out := make([]bool, len(msgs))
	for i, m := range msgs {
		out[i] = slices.Contains(m.Tags, sub.Expression)
	}
	return out, nil
}

func main() {
	// Created before Serve, the logger writes to the process's real stderr, which go-plugin
	// reads and relays to the host's logger.
	log := hclog.New(&hclog.LoggerOptions{Output: os.Stderr, JSONFormat: true, Level: hclog.Debug})
	filter.Serve(&testFilter{log: log})
}
