// Package proto holds the protobuf definitions of Tern's plugin protocol, one gRPC service per
// plugin kind (package tern.plugin.v1 in tern/plugin/v1/*.proto), and generates the Go code
// into pluginv1.
//
// Regenerate with `go generate ./plugins/proto/...`. It needs protoc 3.21.12 (Debian's
// protobuf-compiler, with the well-known types in /usr/include), protoc-gen-go v1.36.12 and
// protoc-gen-go-grpc v1.6.2 on PATH; with these versions the output is byte for byte the
// committed pluginv1/*.pb.go.
//
// Compatibility: the services are protocol version 1 of sdk/plugin.Handshake. Adding fields,
// enum values and RPCs is compatible (an old plugin answers a new RPC with UNIMPLEMENTED,
// which the SDK turns into plugin.ErrUnsupported). Renumbering, retyping or removing a field,
// or changing what a value means, breaks old plugins: such a change bumps
// plugin.ProtocolVersion. Errors are never fields: they travel as gRPC status codes
// (plugin.ToStatus, plugin.FromStatus).
package proto

//go:generate protoc -I . --go_out=. --go_opt=module=github.com/ternmq/tern/plugins/proto --go-grpc_out=. --go-grpc_opt=module=github.com/ternmq/tern/plugins/proto tern/plugin/v1/common.proto tern/plugin/v1/filter.proto tern/plugin/v1/scheduler.proto tern/plugin/v1/txchecker.proto tern/plugin/v1/discovery.proto
