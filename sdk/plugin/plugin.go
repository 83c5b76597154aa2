// Package plugin holds what every Tern plugin kind shares: the kinds, and the errors that keep
// their identity across the process boundary.
//
// A plugin returns one of the sentinel errors below, wrapped with its own message
// (fmt.Errorf("%w: ...", plugin.ErrInvalidArgument)). The gRPC shims carry it as a status code
// and the message, and rebuild it on the host, so errors.Is(err, plugin.ErrInvalidArgument)
// holds on the host whether the plugin runs in process or out of process.
//
// The per-kind interfaces live in the sub-packages (filter, scheduler, txchecker, discovery);
// each has Serve for a plugin's main and the shims the host uses.
package plugin

import "errors"

// Kind names a plugin kind, as written in the plugin manifest.
type Kind string

// The plugin kinds.
const (
	KindFilter    Kind = "filter"
	KindScheduler Kind = "scheduler"
	KindTxChecker Kind = "txchecker"
	KindDiscovery Kind = "discovery"
)

// Errors that survive the plugin boundary. Each maps to one gRPC status code.
var (
	// ErrInvalidArgument: the request is wrong and retrying will not help (a bad expression,
	// bad config). codes.InvalidArgument.
	ErrInvalidArgument = errors.New("plugin: invalid argument")
	// ErrNotFound: the named thing does not exist. codes.NotFound.
	ErrNotFound = errors.New("plugin: not found")
	// ErrUnsupported: the plugin does not implement this call or option. codes.Unimplemented.
	ErrUnsupported = errors.New("plugin: unsupported")
	// ErrUnavailable: the plugin cannot answer now (starting, restarting, crashed, overloaded);
	// retrying later may succeed. codes.Unavailable.
	ErrUnavailable = errors.New("plugin: unavailable")
	// ErrTimeout: the call did not finish within its timeout. codes.DeadlineExceeded.
	ErrTimeout = errors.New("plugin: timeout")
	// ErrInternal: anything else went wrong inside the plugin. codes.Internal.
	ErrInternal = errors.New("plugin: internal error")
)
