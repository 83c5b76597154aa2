package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ternmq/tern/sdk/plugin"
)

// refusal marks an error after which a plugin is not started again (state refused).
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refused(err error) bool {
	var r *refusal
	return errors.As(err, &r)
}

// supervise is the goroutine of an external plugin, owned by the Host: it launches the
// plugin, sends the outcome of that first launch to first, then watches it and relaunches it
// until ctx ends (Close); then it kills the process and returns.
func (in *instance) supervise(ctx context.Context, first chan<- error) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	health := time.NewTicker(in.h.opts.HealthInterval)
	defer health.Stop()
	defer in.shutdown()

	delay, err := in.launch(ctx)
	first <- err
	if delay > 0 {
		retry.Reset(delay)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-in.kick:
		case <-health.C:
		case <-retry.C:
			if delay, _ = in.launch(ctx); delay > 0 {
				retry.Reset(delay)
			}
			continue
		}
		if delay = in.check(ctx); delay > 0 {
			retry.Reset(delay)
		}
	}
}

// launch starts the plugin's process and runs Init. It returns the delay before the next
// attempt when the launch failed and will be retried (0 when it is up or refused), and the
// launch's error.
func (in *instance) launch(ctx context.Context) (time.Duration, error) {
	in.set(StateStarting, nil)
	c, inf, sum, err := in.start(ctx)
	now := in.h.opts.Now()
	in.mu.Lock()
	if sum != "" {
		in.checksum = sum
	}
	if err != nil {
		var d time.Duration
		if refused(err) {
			in.state = StateRefused
		} else {
			in.state = StateDown
			d = in.m.down(now, in.h.opts.Rand())
		}
		in.err = err
		in.mu.Unlock()
		in.h.notify()
		switch {
		case ctx.Err() != nil: // closing: not worth a log line
		case d > 0:
			in.log.Warn("plugin start failed", "err", err, "retry_in", d)
		default:
			in.log.Error("plugin refused", "err", err)
		}
		return d, err
	}
	restart := in.m.last > 0
	in.m.up(now)
	in.state, in.err = StateUp, nil
	in.impl, in.client, in.rpc, in.sockDir = c.impl, c.client, c.rpc, c.sockDir
	in.info, in.haveInfo, in.checksum = inf, true, sum
	in.c.upSince = now
	if restart {
		in.c.restarts++
	}
	in.mu.Unlock()
	in.h.notify()
	in.log.Info("plugin up", "version", inf.version, "restart", restart)
	return 0, nil
}

// conn is a running plugin process.
type conn struct {
	client  *goplugin.Client
	rpc     goplugin.ClientProtocol
	impl    any
	sockDir string // where the process puts its gRPC socket; see kill
}

// kill stops a plugin process, if it still runs, and removes the directory of its socket
// (go-plugin's PLUGIN_UNIX_SOCKET_DIR, one per launch): a Go plugin removes its socket when it
// exits cleanly, but not when it crashes or is killed, and a plugin crashing in a loop would
// otherwise leave a socket file in the temporary directory at every restart.
func kill(client *goplugin.Client, sockDir string) {
	if client != nil {
		client.Kill()
	}
	if sockDir != "" {
		_ = os.RemoveAll(sockDir)
	}
}

// start verifies the executable, starts it with go-plugin, dispenses the kind and runs Init.
// It returns a *refusal error when trying again cannot help.
func (in *instance) start(ctx context.Context) (*conn, info, string, error) {
	name, path := in.spec.Name, in.spec.Executable()
	want, err := in.spec.Checksum()
	if err != nil {
		return nil, info{}, "", &refusal{err}
	}
	got, err := plugin.FileSHA256(path)
	if err != nil {
		return nil, info{}, "", fmt.Errorf("plugin %q: %w", name, err)
	}
	if !bytes.Equal(got, want) {
		return nil, info{}, hex.EncodeToString(got), &refusal{fmt.Errorf(
			"plugin %q: checksum mismatch for %s: the manifest expects sha256 %x, the file has %x", name, path, want, got)}
	}
	cmd := exec.Command(path, in.spec.Args...)
	cmd.Env = envList(in.spec.Env)
	var sockDir string // go-plugin makes and removes one only with a runner of our own
	if _, set := in.spec.Env[goplugin.EnvUnixSocketDir]; !set {
		if sockDir, err = os.MkdirTemp("", "tern-plugin-"); err != nil {
			return nil, info{}, "", fmt.Errorf("plugin %q: directory for its socket: %w", name, err)
		}
		cmd.Env = append(cmd.Env, goplugin.EnvUnixSocketDir+"="+sockDir)
	}
	out := &lineLogger{log: in.log, stream: "stdout"}
	errOut := &lineLogger{log: in.log, stream: "stderr"}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake(),
		Plugins:          plugin.PluginSet(in.spec.Kind, in.kind.glue()),
		Cmd:              cmd,
		SkipHostEnv:      true,
		SecureConfig:     &goplugin.SecureConfig{Checksum: want, Hash: sha256.New()},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     in.h.opts.StartTimeout,
		Logger:           newHCLogger(in.log),
		SyncStdout:       out,
		SyncStderr:       errOut,
	})
	fail := func(what string, err error) (*conn, info, string, error) {
		kill(client, sockDir)
		err = fmt.Errorf("plugin %q: %s: %w", name, what, err)
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) || errors.Is(err, plugin.ErrInvalidArgument) {
			err = &refusal{err}
		}
		return nil, info{}, hex.EncodeToString(got), err
	}
	rpc, err := client.Client()
	if err != nil {
		return fail("start "+path, err)
	}
	impl, err := rpc.Dispense(string(in.spec.Kind))
	if err != nil {
		return fail("dispense "+string(in.spec.Kind), err)
	}
	ictx, cancel := context.WithTimeout(ctx, in.h.opts.InitTimeout)
	inf, err := in.kind.init(ictx, impl, in.spec.Config)
	cancel()
	if err != nil {
		return fail("init", err)
	}
	return &conn{client: client, rpc: rpc, impl: impl, sockDir: sockDir}, inf, hex.EncodeToString(got), nil
}

// check looks at a plugin that is up after a wake-up or on the health tick: hung (two calls in
// a row past their timeout), exited, or failing its health check, it is taken down. It
// returns the delay before the relaunch, 0 when nothing was done.
func (in *instance) check(ctx context.Context) time.Duration {
	in.mu.Lock()
	client, rpc, hung := in.client, in.rpc, in.m.restart
	up := in.state == StateUp && client != nil
	in.mu.Unlock()
	if !up {
		return 0
	}
	var reason error
	switch {
	case hung:
		reason = fmt.Errorf("hung: %d calls in a row ran past the %v timeout", hangTimeouts, in.spec.CallTimeout())
	case client.Exited():
		reason = errors.New("process exited")
	default:
		if err := in.ping(ctx, rpc); err != nil {
			if ctx.Err() != nil {
				return 0 // closing
			}
			reason = fmt.Errorf("health check: %w", err)
		}
	}
	if reason == nil {
		return 0
	}
	return in.takeDown(reason)
}

// ping runs a gRPC health check within Options.HealthTimeout.
func (in *instance) ping(ctx context.Context, rpc goplugin.ClientProtocol) error {
	g, ok := rpc.(*goplugin.GRPCClient)
	if !ok {
		return rpc.Ping()
	}
	ctx, cancel := context.WithTimeout(ctx, in.h.opts.HealthTimeout)
	defer cancel()
	resp, err := grpc_health_v1.NewHealthClient(g.Conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: goplugin.GRPCServiceName})
	if err != nil {
		return err
	}
	if s := resp.GetStatus(); s != grpc_health_v1.HealthCheckResponse_SERVING {
		return fmt.Errorf("status %v", s)
	}
	return nil
}

// takeDown marks the plugin down, kills its process and returns the backoff delay.
func (in *instance) takeDown(reason error) time.Duration {
	now := in.h.opts.Now()
	in.mu.Lock()
	client, sockDir := in.client, in.sockDir
	in.client, in.rpc, in.impl, in.sockDir = nil, nil, nil, ""
	in.state, in.err = StateDown, reason
	d := in.m.down(now, in.h.opts.Rand())
	in.mu.Unlock()
	in.h.notify()
	in.log.Warn("plugin down", "reason", reason, "restart_in", d)
	kill(client, sockDir)
	return d
}

// shutdown kills the process for good (Close).
func (in *instance) shutdown() {
	in.mu.Lock()
	client, sockDir := in.client, in.sockDir
	in.client, in.rpc, in.impl, in.sockDir = nil, nil, nil, ""
	in.state = StateStopped
	in.mu.Unlock()
	in.h.notify()
	kill(client, sockDir)
}

// startBuiltin creates and initialises a built-in (in process, no supervisor).
func (in *instance) startBuiltin(ctx context.Context, b Builtin) error {
	impl := b.New(in.log)
	config, err := plugin.NormalizeConfig(in.spec.Config)
	if err == nil {
		ictx, cancel := context.WithTimeout(ctx, in.h.opts.InitTimeout)
		var inf info
		inf, err = in.kind.init(ictx, impl, config)
		cancel()
		if err == nil {
			in.mu.Lock()
			in.state, in.err, in.impl = StateUp, nil, impl
			in.info, in.haveInfo = inf, true
			in.c.upSince = in.h.opts.Now()
			in.mu.Unlock()
			in.h.notify()
			return nil
		}
	}
	err = fmt.Errorf("plugin %q: builtin %s: init: %w", in.spec.Name, in.spec.Builtin, err)
	in.set(StateRefused, err)
	return err
}

// envList renders env as the whole environment of a process, sorted, never nil (a nil
// exec.Cmd.Env would inherit the broker's).
func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
