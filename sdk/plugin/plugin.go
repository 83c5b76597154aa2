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
//
// # Protocol
//
// Plugins are processes started by the host with hashicorp/go-plugin, speaking gRPC (never
// net/rpc) over a Unix socket with automatic mutual TLS; the services are in plugins/proto
// (package tern.plugin.v1). Host and plugin first compare Handshake: the magic cookie and
// ProtocolVersion. A breaking change to the .proto files (a field renumbered, retyped,
// removed or given a new meaning) bumps ProtocolVersion, so an old plugin is refused at the
// handshake instead of misread; adding fields, enum values or RPCs does not bump it (an old
// plugin answers a new RPC with Unimplemented, which arrives as ErrUnsupported).
//
// A plugin binary serves exactly one kind, under the go-plugin name string(kind) ("filter",
// "scheduler", "txchecker", "discovery"), which is what the host passes to Dispense.
//
// Errors: the table in status.go maps each sentinel below to one gRPC code (and
// context.Canceled and context.DeadlineExceeded to theirs). The server shims send a plugin's
// error as ToStatus(err), with err.Error() as the message; the client shims return
// FromStatus(err), which wraps the sentinel and whose Error() is that message.
//
// Config: Init carries the manifest's config block as a google.protobuf.Struct
// (ConfigToStruct); the plugin sees StructToConfig's map, in which whole numbers are int.
// NormalizeConfig gives a built-in the same view.
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
