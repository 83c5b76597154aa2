// Package shim holds what the gRPC shims of the plugin kinds (sdk/plugin/filter, scheduler,
// txchecker, discovery) share, so each kind's shims only name its calls and converters: the
// Init call on both sides, batch calls on both sides (conversion, the error mapping of
// plugin.ToStatus and plugin.FromStatus, and the check that a batch gets one result per
// item), and batch conversion between Go structs and protobuf messages.
package shim

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/ternmq/tern/plugins/proto/pluginv1"
	"github.com/ternmq/tern/sdk/plugin"
)

// ToProto converts a batch of Go structs into protobuf messages. The messages are allocated in
// one block; fill sets the fields of the zero message dst from src.
func ToProto[T, P any](in []T, fill func(dst *P, src *T)) []*P {
	if len(in) == 0 {
		return nil
	}
	block := make([]P, len(in))
	out := make([]*P, len(in))
	for i := range in {
		fill(&block[i], &in[i])
		out[i] = &block[i]
	}
	return out
}

// FromProto converts a batch of protobuf messages into Go structs.
func FromProto[P, T any](in []*P, conv func(*P) T) []T {
	if len(in) == 0 {
		return nil
	}
	out := make([]T, len(in))
	for i, p := range in {
		out[i] = conv(p)
	}
	return out
}

// CheckLen reports a batch answer with the wrong number of results, a bug of the plugin, as
// an error wrapping plugin.ErrInternal.
func CheckLen(call string, got, want int) error {
	if got != want {
		return fmt.Errorf("%w: %s returned %d results for %d items", plugin.ErrInternal, call, got, want)
	}
	return nil
}

// InitRequest encodes a manifest config for Init.
func InitRequest(config map[string]any) (*pluginv1.InitRequest, error) {
	s, err := plugin.ConfigToStruct(config)
	if err != nil {
		return nil, err
	}
	return &pluginv1.InitRequest{Config: s}, nil
}

// ServeInit is the server side of Init: it decodes the config, calls init and encodes the
// Info with toProto.
func ServeInit[I, P any](ctx context.Context, req *pluginv1.InitRequest,
	init func(context.Context, map[string]any) (I, error), toProto func(I) P) (P, error) {
	info, err := init(ctx, plugin.StructToConfig(req.GetConfig()))
	if err != nil {
		var zero P
		return zero, plugin.ToStatus(err)
	}
	return toProto(info), nil
}

// CallInit is the client side of Init: it encodes the config, makes the call and decodes the
// Info with fromProto.
func CallInit[I, P any](ctx context.Context, config map[string]any,
	call func(context.Context, *pluginv1.InitRequest, ...grpc.CallOption) (P, error), fromProto func(P) I) (I, error) {
	var zero I
	req, err := InitRequest(config)
	if err != nil {
		return zero, err
	}
	info, err := call(ctx, req)
	if err != nil {
		return zero, plugin.FromStatus(err)
	}
	return fromProto(info), nil
}

// ServeBatch is the server side of a batch call named name: it converts the request's items,
// calls impl and checks that it answered one result per item. Errors are gRPC statuses.
func ServeBatch[P, T, R any](ctx context.Context, name string, in []*P, conv func(*P) T,
	impl func(context.Context, []T) ([]R, error)) ([]R, error) {
	items := FromProto(in, conv)
	out, err := impl(ctx, items)
	if err == nil {
		err = CheckLen(name, len(out), len(items))
	}
	if err != nil {
		return nil, plugin.ToStatus(err)
	}
	return out, nil
}

// CallBatch is the client side of a batch call named name of n items: given the call's
// results and error (protobuf getters are nil-safe, so results may come from a nil response),
// it returns the plugin's error or checks that there is one result per item.
func CallBatch[R any](name string, n int, results []R, err error) ([]R, error) {
	if err != nil {
		return nil, plugin.FromStatus(err)
	}
	if err := CheckLen(name, len(results), n); err != nil {
		return nil, err
	}
	return results, nil
}
