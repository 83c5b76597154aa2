package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ternmq/tern/plugins/builtin"
	"github.com/ternmq/tern/plugins/host"
	"github.com/ternmq/tern/plugins/manifest"
)

// newPluginCmd is `tern plugin serve NAME`: the process side of a built-in run out of process.
func newPluginCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Run Tern's built-in plugins as plugin processes",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "serve NAME",
		Short: "Serve the built-in NAME as an out-of-process plugin (started by the broker's plugin host)",
		Long: "Serve the built-in NAME over go-plugin. A manifest runs it with\n\n" +
			"  command: /path/to/tern\n  args: [plugin, serve, NAME]\n  sha256: <sha256sum of /path/to/tern>",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return builtin.Serve(builtin.Registry(), args[0])
		},
	})
	return cmd
}

// pluginsFlags are the flags of `tern plugins list|check`.
type pluginsFlags struct {
	manifest string
	logLevel string
	timeout  time.Duration
}

// newPluginsCmd is `tern plugins list|check`.
func newPluginsCmd() *cobra.Command {
	var f pluginsFlags
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "Inspect and check the plugins of a manifest",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.manifest, "manifest", "", "plugin manifest (YAML); without it, the default manifest of built-ins")
	pf.StringVar(&f.logLevel, "log-level", "warn", "log level of the host and the plugins: debug, info, warn, error")
	pf.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long starting the plugins may take")
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "Start the plugins, list them (kind, source, version, sha256, expression types, state), stop them",
		Long: "Start the plugins, list them (kind, source, version, sha256, expression types, state) and stop\n" +
			"them. A plugin that fails is listed with its state and error; use check to fail on it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stats, _, err := f.run(cmd, false)
			if stats != nil {
				printPlugins(cmd.OutOrStdout(), stats)
			}
			return err
		},
	}, &cobra.Command{
		Use:   "check",
		Short: "Validate the manifest, verify checksums, start each plugin, check its health, stop them; fail if any fails",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stats, health, err := f.run(cmd, true)
			if stats == nil {
				return err
			}
			failed := 0
			w := cmd.OutOrStdout()
			for i, s := range stats {
				switch {
				case s.State == host.StateUnwired:
					fmt.Fprintf(w, "skip  %s: %s plugins are not used by this broker yet\n", s.Name, s.Kind)
				case health[i] != nil:
					failed++
					fmt.Fprintf(w, "FAIL  %s: %v\n", s.Name, health[i])
				default:
					fmt.Fprintf(w, "ok    %s: %s %s, version %q, expression types %s\n", s.Name, s.Kind, source(s), s.Version, strings.Join(s.ExpressionTypes, ", "))
				}
			}
			if failed > 0 {
				return errors.Join(fmt.Errorf("%d of %d plugins failed", failed, len(stats)), err)
			}
			return err
		},
	})
	return cmd
}

// run loads the manifest, starts a host with the built-ins, snapshots its stats (and, with
// ping, checks each plugin's health: health[i] is nil when plugin i is fine), and closes it.
// err is the manifest's loading error (then stats is nil) or the host's closing error.
func (f *pluginsFlags) run(cmd *cobra.Command, ping bool) (stats []host.PluginStats, health []error, err error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, nil, fmt.Errorf("--log-level %q: %w", f.logLevel, err)
	}
	m := manifest.Default()
	if f.manifest != "" {
		var err error
		if m, err = manifest.Load(f.manifest); m == nil {
			return nil, nil, err
		}
		// An invalid entry is refused by the host, and reported with the others.
	}
	h := host.New(m, host.Options{
		Logger:   slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lvl})),
		Builtins: builtin.Registry(),
	})
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	_ = h.Start(ctx) // its errors are in the stats, plugin by plugin
	stats = h.Stats()
	health = make([]error, len(stats))
	for i, s := range stats {
		switch {
		case s.State == host.StateUnwired:
		case s.State != host.StateUp:
			health[i] = fmt.Errorf("%s: %s", s.State, s.Err)
		case ping:
			health[i] = h.Ping(ctx, s.Name)
		}
	}
	closeCtx, cancelClose := context.WithTimeout(context.WithoutCancel(cmd.Context()), 30*time.Second)
	defer cancelClose()
	return stats, health, h.Close(closeCtx)
}

// source says where a plugin's code comes from.
func source(s host.PluginStats) string {
	if s.Builtin != "" {
		return "builtin:" + s.Builtin
	}
	if len(s.Args) > 0 {
		return fmt.Sprintf("%s %v", s.Command, s.Args)
	}
	return s.Command
}

func printPlugins(out io.Writer, stats []host.PluginStats) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tKIND\tSOURCE\tVERSION\tSHA256\tEXPRESSION TYPES\tSTATE")
	for _, s := range stats {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Kind, source(s), dash(s.Version), dash(s.SHA256),
			dash(strings.Join(s.ExpressionTypes, ",")), s.State)
	}
	_ = w.Flush()
	sep := "\n"
	for _, s := range stats {
		if s.Err != "" {
			fmt.Fprintf(out, "%s%s: %s\n", sep, s.Name, s.Err)
			sep = ""
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
