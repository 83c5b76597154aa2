package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ternmq/tern/sdk/plugin"
)

func TestStatusTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error      // what the plugin returns
		code codes.Code // on the wire
		is   []error    // on the host
	}{
		{"invalid argument", fmt.Errorf("%w: column 3: bad", plugin.ErrInvalidArgument), codes.InvalidArgument, []error{plugin.ErrInvalidArgument}},
		{"not found", fmt.Errorf("route of %q: %w", "T", plugin.ErrNotFound), codes.NotFound, []error{plugin.ErrNotFound}},
		{"unsupported", plugin.ErrUnsupported, codes.Unimplemented, []error{plugin.ErrUnsupported}},
		{"unavailable", fmt.Errorf("%w: etcd down", plugin.ErrUnavailable), codes.Unavailable, []error{plugin.ErrUnavailable}},
		{"timeout", fmt.Errorf("%w: 5s", plugin.ErrTimeout), codes.DeadlineExceeded, []error{plugin.ErrTimeout, context.DeadlineExceeded}},
		{"internal", fmt.Errorf("%w: nil map", plugin.ErrInternal), codes.Internal, []error{plugin.ErrInternal}},
		{"deadline exceeded", fmt.Errorf("lookup: %w", context.DeadlineExceeded), codes.DeadlineExceeded, []error{plugin.ErrTimeout, context.DeadlineExceeded}},
		{"canceled", context.Canceled, codes.Canceled, []error{context.Canceled}},
		{"plain error", io.ErrUnexpectedEOF, codes.Internal, []error{plugin.ErrInternal}},
		{"status kept", status.Error(codes.PermissionDenied, "no"), codes.PermissionDenied, []error{plugin.ErrInternal}},
		{"resource exhausted", status.Error(codes.ResourceExhausted, "message larger than max"), codes.ResourceExhausted, []error{plugin.ErrUnavailable}},
		{"sentinel wins over status", fmt.Errorf("%w: %w", plugin.ErrNotFound, status.Error(codes.Internal, "x")), codes.NotFound, []error{plugin.ErrNotFound}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wire := plugin.ToStatus(tc.err)
			s, ok := status.FromError(wire)
			if !ok {
				t.Fatalf("ToStatus(%v) = %v, not a status", tc.err, wire)
			}
			if s.Code() != tc.code {
				t.Errorf("code = %v, want %v", s.Code(), tc.code)
			}
			if _, isStatus := status.FromError(tc.err); !isStatus && s.Message() != tc.err.Error() {
				t.Errorf("message = %q, want %q", s.Message(), tc.err.Error())
			}
			host := plugin.FromStatus(wire)
			for _, want := range tc.is {
				if !errors.Is(host, want) {
					t.Errorf("FromStatus: errors.Is(%v, %v) = false", host, want)
				}
			}
			if host.Error() != s.Message() {
				t.Errorf("FromStatus: Error() = %q, want the message %q", host.Error(), s.Message())
			}
			// A host that serves the error on (a plugin calling a plugin) sends it unchanged.
			again, _ := status.FromError(plugin.ToStatus(host))
			if again.Code() != s.Code() || again.Message() != s.Message() {
				t.Errorf("ToStatus(FromStatus(x)) = %v %q, want %v %q", again.Code(), again.Message(), s.Code(), s.Message())
			}
		})
	}
}

func TestStatusEdges(t *testing.T) {
	if plugin.ToStatus(nil) != nil || plugin.FromStatus(nil) != nil {
		t.Error("nil did not stay nil")
	}
	if err := plugin.FromStatus(io.EOF); err != io.EOF {
		t.Errorf("FromStatus of a non-status error = %v, want it unchanged", err)
	}
	// An empty message falls back to the sentinel's text.
	if got := plugin.FromStatus(status.Error(codes.NotFound, "")).Error(); got != plugin.ErrNotFound.Error() {
		t.Errorf("empty message: Error() = %q", got)
	}
	// Every sentinel survives the trip on its own.
	for _, err := range []error{plugin.ErrInvalidArgument, plugin.ErrNotFound, plugin.ErrUnsupported,
		plugin.ErrUnavailable, plugin.ErrTimeout, plugin.ErrInternal} {
		if got := plugin.FromStatus(plugin.ToStatus(err)); !errors.Is(got, err) || got.Error() != err.Error() {
			t.Errorf("%v came back as %v", err, got)
		}
	}
}
