package plugin

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// codeTable is the one table between the sentinel errors and gRPC status codes (STYLE rule
// 11); ToStatus reads it top down, FromStatus by code. Wire format: a plugin built against
// this SDK and a host built against a later one must agree, so rows are only ever added.
var codeTable = [...]struct {
	code codes.Code
	err  error
}{
	{codes.InvalidArgument, ErrInvalidArgument},
	{codes.NotFound, ErrNotFound},
	{codes.Unimplemented, ErrUnsupported},
	{codes.Unavailable, ErrUnavailable},
	{codes.DeadlineExceeded, ErrTimeout},
	{codes.Internal, ErrInternal},
	{codes.DeadlineExceeded, context.DeadlineExceeded},
	{codes.Canceled, context.Canceled},
}

// ToStatus turns an error of a plugin implementation into a gRPC status error for the server
// shims, with err's full text as the message. The code is that of an error FromStatus made
// (a plugin passing on what another plugin said), else of the first sentinel (or context
// error) in the table that err wraps, else of a status err carries; any other error is
// codes.Internal. ToStatus(nil) is nil.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if se, ok := errors.AsType[*statusError](err); ok {
		return status.Error(se.status.Code(), err.Error())
	}
	for _, row := range codeTable {
		if errors.Is(err, row.err) {
			return status.Error(row.code, err.Error())
		}
	}
	if s, ok := status.FromError(err); ok {
		return s.Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// FromStatus turns the error of a gRPC call into the error the plugin returned, for the
// client shims: an error whose Error() is the status message and which wraps the code's
// sentinel, so errors.Is(err, ErrInvalidArgument) holds on the host. DeadlineExceeded wraps
// both ErrTimeout and context.DeadlineExceeded; Canceled wraps context.Canceled;
// ResourceExhausted (a message over the size limit) is ErrUnavailable; codes outside the table
// are ErrInternal. Errors without a status are returned unchanged; FromStatus(nil) is nil.
//
// The result keeps its status (it implements GRPCStatus), so ToStatus sends it on unchanged.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := &statusError{status: s}
	for _, row := range codeTable {
		if row.code == s.Code() {
			e.errs = append(e.errs, row.err)
		}
	}
	if len(e.errs) == 0 {
		switch s.Code() {
		case codes.ResourceExhausted:
			e.errs = []error{ErrUnavailable}
		default:
			e.errs = []error{ErrInternal}
		}
	}
	return e
}

// statusError is an error that crossed the plugin boundary.
type statusError struct {
	status *status.Status
	errs   []error // the sentinels it stands for
}

func (e *statusError) Error() string {
	if msg := e.status.Message(); msg != "" {
		return msg
	}
	return e.errs[0].Error()
}

func (e *statusError) Unwrap() []error { return e.errs }

// GRPCStatus lets status.FromError (and so ToStatus) recover the original status.
func (e *statusError) GRPCStatus() *status.Status { return e.status }
