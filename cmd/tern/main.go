// Command tern runs Tern: the NameServer, the broker, both at once for development, and the
// admin and benchmark tools.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

// defaultGOGC is the garbage collector's target when $GOGC is not set. A broker keeps its
// messages in mapped files, outside the Go heap, so its live heap is small and the default
// (100) collects after every few megabytes of per-request garbage; 400 spends about a fifth
// less CPU per message for a heap that stays in the tens of megabytes.
const defaultGOGC = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGOGC)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "tern:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "tern",
		Short:         "Tern: a plugin-based messaging platform, wire-compatible with RocketMQ 4.x",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newDevCmd(), newBrokerCmd(), newNamesrvCmd(), newAdminCmd(), newBenchCmd())
	root.AddCommand(newPluginCmd(), newPluginsCmd())
	return root
}
