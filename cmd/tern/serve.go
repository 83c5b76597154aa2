package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/discovery/namesrv"
)

// serverFlags are the flags shared by dev, broker and namesrv.
type serverFlags struct {
	data        string
	namesrvAddr string
	brokerAddr  string
	configFile  string
	sets        []string
	logLevel    string
}

func (f *serverFlags) register(cmd *cobra.Command, broker, nameserver bool) {
	fl := cmd.Flags()
	if broker {
		fl.StringVar(&f.data, "data", "./tern-data", "data directory")
		fl.StringVar(&f.brokerAddr, "broker-addr", "127.0.0.1:10911", "broker listen address (IPv4 ip:port, also advertised to clients)")
		fl.StringVar(&f.configFile, "config", "", "broker configuration file (YAML, RocketMQ key names)")
		fl.StringArrayVar(&f.sets, "set", nil, "set a broker or store option, key=value (repeatable), e.g. --set flushDiskType=SYNC_FLUSH")
	}
	fl.StringVar(&f.namesrvAddr, "namesrv-addr", "127.0.0.1:9876", map[bool]string{true: "NameServer listen address", false: "NameServer addresses (';'-separated)"}[nameserver])
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
}

func (f *serverFlags) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", f.logLevel, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})), nil
}

// brokerConfig builds the broker configuration: defaults, then --config, then flags, then --set.
func (f *serverFlags) brokerConfig() (broker.Config, error) {
	cfg := broker.DefaultConfig(f.data)
	if f.configFile != "" {
		if err := cfg.LoadFile(f.configFile); err != nil {
			return cfg, err
		}
	}
	cfg.ListenAddr, cfg.BrokerAddr, cfg.NamesrvAddr = f.brokerAddr, f.brokerAddr, f.namesrvAddr
	for _, kv := range f.sets {
		if err := cfg.Set(kv); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.Validate()
}

func newDevCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a NameServer and a broker in one process, with the data in ./tern-data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := f.logger()
			if err != nil {
				return err
			}
			cfg, err := f.brokerConfig()
			if err != nil {
				return err
			}
			ns, err := startNamesrv(f.namesrvAddr, log)
			if err != nil {
				return err
			}
			cfg.NamesrvAddr = ns.Addr().String() // the port it really got
			b, err := startBroker(cmd.Context(), cfg, log)
			if err != nil {
				ns.Close(context.Background())
				return err
			}
			log.Info("tern dev ready", "namesrv", ns.Addr().String(), "broker", b.Addr().String(), "data", cfg.Store.StorePathRootDir,
				"flush", cfg.Store.FlushDiskType)
			<-cmd.Context().Done()
			log.Info("shutting down")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			berr := b.Close(ctx)
			nerr := ns.Close(ctx)
			if berr != nil {
				return berr
			}
			return nerr
		},
	}
	f.register(cmd, true, true)
	return cmd
}

func newBrokerCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run a broker",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := f.logger()
			if err != nil {
				return err
			}
			cfg, err := f.brokerConfig()
			if err != nil {
				return err
			}
			b, err := startBroker(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			log.Info("tern broker ready", "broker", b.Addr().String(), "namesrv", cfg.NamesrvAddr, "data", cfg.Store.StorePathRootDir,
				"flush", cfg.Store.FlushDiskType)
			<-cmd.Context().Done()
			log.Info("shutting down")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return b.Close(ctx)
		},
	}
	f.register(cmd, true, false)
	return cmd
}

func newNamesrvCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "namesrv",
		Short: "Run a NameServer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := f.logger()
			if err != nil {
				return err
			}
			ns, err := startNamesrv(f.namesrvAddr, log)
			if err != nil {
				return err
			}
			log.Info("tern namesrv ready", "namesrv", ns.Addr().String())
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return ns.Close(ctx)
		},
	}
	f.register(cmd, false, true)
	return cmd
}

func startBroker(ctx context.Context, cfg broker.Config, log *slog.Logger) (*broker.Broker, error) {
	b, err := broker.New(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := b.Start(ctx); err != nil {
		b.Close(context.Background())
		return nil, err
	}
	return b, nil
}

func startNamesrv(addr string, log *slog.Logger) (*namesrv.Server, error) {
	cfg := namesrv.DefaultConfig()
	cfg.ListenAddr = addr
	ns := namesrv.New(cfg, log.With("component", "namesrv"))
	if err := ns.Start(); err != nil {
		return nil, err
	}
	return ns, nil
}
