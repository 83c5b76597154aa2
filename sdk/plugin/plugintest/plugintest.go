// Package plugintest runs a plugin behind a real gRPC connection for tests and benchmarks of
// any plugin kind: in the test process (InProcess), or as a separate process started the way
// a host starts one (Start, Launch: go-plugin handshake, sha256 checksum, automatic mutual
// TLS, gRPC only). Build compiles a plugin binary for Launch.
//
// Every helper registers its cleanup with t: connections are closed, processes killed, and
// the goroutines go-plugin started have ended when the test's cleanups have run, so tests can
// check for leaks with goleak.
package plugintest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/ternmq/tern/sdk/plugin"
)

// InProcess serves p in the test process over a gRPC connection on a Unix socket (go-plugin's
// TestPluginGRPCConn) and returns the client dispensed as kind, asserted to T (filter.Filter
// for plugin.KindFilter). Unlike Serve, the server accepts messages of at most 4 MiB, gRPC's
// default.
func InProcess[T any](t testing.TB, kind plugin.Kind, p plugin.GRPCPlugin) T {
	t.Helper()
	client, server := goplugin.TestPluginGRPCConn(t, false, plugin.PluginSet(kind, p))
	t.Cleanup(func() {
		// Close asks the server to stop (go-plugin's controller Shutdown); stopping it here
		// as well would race with that, so only do it if the server is still up later.
		_ = client.Close()
		select {
		case <-server.DoneCh:
		case <-time.After(stopTimeout):
			server.Stop()
			<-server.DoneCh
		}
	})
	raw, err := client.Dispense(string(kind))
	if err != nil {
		t.Fatalf("dispense %s: %v", kind, err)
	}
	return assert[T](t, kind, raw)
}

// stopTimeout is how long InProcess's cleanup waits for the server to stop by itself.
const stopTimeout = 10 * time.Second

// Start starts cmd as a plugin process, as a host does: the handshake of plugin.Handshake,
// cmd.Path checked against the sha256 checksum, automatic mutual TLS, gRPC only. It returns
// the client dispensed as kind, asserted to T. A nil checksum is the file's own (Checksum).
// The process is killed at cleanup; its log goes to the test's stderr at warning level.
func Start[T any](t testing.TB, kind plugin.Kind, p plugin.GRPCPlugin, cmd *exec.Cmd, checksum []byte) (T, error) {
	t.Helper()
	var zero T
	if checksum == nil {
		var err error
		if checksum, err = Checksum(cmd.Path); err != nil {
			return zero, err
		}
	}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake(),
		Plugins:          plugin.PluginSet(kind, p),
		Cmd:              cmd,
		SecureConfig:     &goplugin.SecureConfig{Checksum: checksum, Hash: sha256.New()},
		AutoMTLS:         true,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Warn, Output: os.Stderr}),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		return zero, fmt.Errorf("start plugin %s: %w", cmd.Path, err)
	}
	raw, err := rpc.Dispense(string(kind))
	if err != nil {
		return zero, fmt.Errorf("dispense %s from %s: %w", kind, cmd.Path, err)
	}
	v, ok := raw.(T)
	if !ok {
		return zero, fmt.Errorf("dispense %s from %s: got %T, want %v", kind, cmd.Path, raw, reflect.TypeFor[T]())
	}
	return v, nil
}

// Launch starts the plugin binary at path (Start with its own checksum) and fails the test if
// that does not work.
func Launch[T any](t testing.TB, kind plugin.Kind, p plugin.GRPCPlugin, path string) T {
	t.Helper()
	v, err := Start[T](t, kind, p, exec.Command(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Checksum returns the sha256 of the file at path, for goplugin.SecureConfig.
func Checksum(path string) ([]byte, error) { return plugin.FileSHA256(path) }

// Build compiles the main package pkg (an import path, or a directory like ".") with `go
// build` into a temporary directory and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("build %s: %v", pkg, err)
	}
	out := filepath.Join(t.TempDir(), "plugin")
	cmd := exec.Command(goTool, "build", "-o", out, pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, stderr.Bytes())
	}
	return out
}

func assert[T any](t testing.TB, kind plugin.Kind, raw any) T {
	t.Helper()
	v, ok := raw.(T)
	if !ok {
		t.Fatalf("dispense %s: got %T, want %v", kind, raw, reflect.TypeFor[T]())
	}
	return v
}
