// Command tern runs Tern: the NameServer, the broker, both at once for development, and the
// admin and benchmark tools.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
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
