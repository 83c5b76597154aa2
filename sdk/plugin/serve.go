package plugin

import (
	"math"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// MaxMessageSize is the largest gRPC message a plugin server accepts (a Match or Check batch
// with its bodies). The host splits larger batches.
const MaxMessageSize = 256 << 20

// GRPCPlugin is what each kind's Plugin type implements: a go-plugin plugin that is served
// over gRPC only (the net/rpc methods fail).
type GRPCPlugin interface {
	goplugin.Plugin
	goplugin.GRPCPlugin
}

// ServeConfig is the go-plugin configuration Serve uses: the handshake, one plugin under the
// name string(kind), gRPC only, and a server that accepts messages up to MaxMessageSize.
func ServeConfig(kind Kind, p GRPCPlugin) *goplugin.ServeConfig {
	return &goplugin.ServeConfig{
		HandshakeConfig: Handshake(),
		Plugins:         PluginSet(kind, p),
		GRPCServer:      newGRPCServer,
	}
}

// PluginSet is the go-plugin plugin set of one kind: p under the name string(kind), which is
// the name the host dispenses.
func PluginSet(kind Kind, p GRPCPlugin) goplugin.PluginSet {
	return goplugin.PluginSet{string(kind): p}
}

// Serve serves p as a plugin of the given kind over gRPC and returns when the host has gone.
// It is meant for a plugin binary's main; each kind's package wraps it (filter.Serve).
func Serve(kind Kind, p GRPCPlugin) {
	goplugin.Serve(ServeConfig(kind, p))
}

func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(math.MaxInt32))
	return grpc.NewServer(opts...)
}
