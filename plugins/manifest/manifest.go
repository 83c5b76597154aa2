// Package manifest reads the plugin manifest: the YAML file that tells the broker which plugins
// to run, where their code comes from and how the host treats them when they fail.
//
// # Format
//
//	plugins:
//	  - name: jsonfield                  # unique, [a-z0-9-]+ (at most 63 characters)
//	    kind: filter                     # filter | scheduler | txchecker | discovery
//	    command: ./bin/jsonfield-filter  # an executable; or builtin: NAME (exactly one of the two)
//	    args: ["--x"]                    # only with command
//	    env: {FOO: bar}                  # only with command; the plugin's whole environment
//	    sha256: 9f86d081884c7d65...      # required with command: 64 hex digits of the executable
//	    config: {anything: [goes]}       # opaque, handed to the plugin's Init
//	    failurePolicy: closed            # open | closed; default closed
//	    timeout: 2s                      # per call; default 2s
//	    maxBatch: 256                    # messages per call; default 256
//	    topics: [orders, "audit-*"]      # schedulers only: the topics it decides for
//	  - name: cel
//	    kind: filter
//	    builtin: cel                     # runs in the broker's process
//
// The decoder is strict: a field the schema does not know is an error naming the field, the
// line and the fields that are allowed, so a typo ("commnd") never turns into a silently ignored
// setting. Every other problem is reported by Validate, all at once, each with the line of the
// plugin entry it concerns (file.yaml:7: plugin "jsonfield": ...).
//
// A relative command resolves against the directory of the manifest file (Plugin.Path holds the
// result); a bare name is not looked up in $PATH. The plugin process gets exactly the env of
// its entry, plus the few variables go-plugin uses for its handshake: nothing of the broker's
// own environment leaks into it.
//
// The zero values of failurePolicy, timeout and maxBatch mean the defaults; the accessors
// Plugin.Policy, Plugin.CallTimeout and Plugin.BatchSize apply them.
//
// Failure policies: with open, a filter that cannot answer (down, restarting, timed out,
// crashed) is treated as matching every message and delivery goes on; with closed, delivery to
// the consumer groups that use it is held until the plugin is back, and no message is skipped.
package manifest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ternmq/tern/sdk/plugin"
)

// Defaults for the per-plugin settings a manifest leaves out.
const (
	DefaultTimeout  = 2 * time.Second
	DefaultMaxBatch = 256
	DefaultPolicy   = FailClosed

	// MaxSize is the largest manifest file Parse accepts.
	MaxSize = 1 << 20
	// MaxNameLen is the longest plugin or builtin name.
	MaxNameLen = 63
	// MaxBatchLimit is the largest maxBatch.
	MaxBatchLimit = 65536
)

// FailurePolicy says what the host does with a call when the plugin cannot answer.
type FailurePolicy string

// The failure policies.
const (
	// FailOpen treats the call as succeeding with the permissive answer (a filter matches
	// every message) and goes on.
	FailOpen FailurePolicy = "open"
	// FailClosed fails the call with an error wrapping plugin.ErrUnavailable; the broker holds
	// the work (a group's delivery) and retries later.
	FailClosed FailurePolicy = "closed"
)

// Manifest is a parsed plugin manifest.
type Manifest struct {
	Plugins []Plugin `yaml:"plugins"`

	// Source names where the manifest came from (its file name) in error messages.
	Source string `yaml:"-"`
	// lines[i] is the line of Plugins[i] in the source; absent for manifests built in code.
	lines []int
}

// Plugin is one manifest entry.
type Plugin struct {
	Name          string            `yaml:"name"`
	Kind          plugin.Kind       `yaml:"kind"`
	Command       string            `yaml:"command,omitempty"`
	Builtin       string            `yaml:"builtin,omitempty"`
	Args          []string          `yaml:"args,omitempty"`
	Env           map[string]string `yaml:"env,omitempty"`
	SHA256        string            `yaml:"sha256,omitempty"`
	Config        map[string]any    `yaml:"config,omitempty"`
	FailurePolicy FailurePolicy     `yaml:"failurePolicy,omitempty"`
	Timeout       time.Duration     `yaml:"timeout,omitempty"`
	MaxBatch      int               `yaml:"maxBatch,omitempty"`
	// Topics (schedulers only) names the topics whose every message this scheduler decides
	// for, delayed or not: topic names or path.Match patterns ("orders-*").
	Topics []string `yaml:"topics,omitempty"`

	// Path is Command resolved against the manifest's directory, set by Parse and Load. Empty
	// for built-ins; for entries built in code the host falls back to Command.
	Path string `yaml:"-"`
}

// IsBuiltin reports whether the plugin runs in the broker's process.
func (p *Plugin) IsBuiltin() bool { return p.Builtin != "" }

// Executable returns the file the host runs: Path if set, else Command.
func (p *Plugin) Executable() string {
	if p.Path != "" {
		return p.Path
	}
	return p.Command
}

// Policy returns the failure policy, defaulted.
func (p *Plugin) Policy() FailurePolicy {
	if p.FailurePolicy == "" {
		return DefaultPolicy
	}
	return p.FailurePolicy
}

// CallTimeout returns the per-call timeout, defaulted.
func (p *Plugin) CallTimeout() time.Duration {
	if p.Timeout == 0 {
		return DefaultTimeout
	}
	return p.Timeout
}

// BatchSize returns the largest number of messages per call, defaulted.
func (p *Plugin) BatchSize() int {
	if p.MaxBatch == 0 {
		return DefaultMaxBatch
	}
	return p.MaxBatch
}

// Load reads and parses the manifest file at path. Relative commands resolve against the
// file's directory.
func Load(path string) (*Manifest, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return parse(data, path, filepath.Dir(abs))
}

// Parse decodes and validates a manifest. name is the file the data came from: it prefixes
// error messages, and relative commands resolve against its directory ("" means the current
// directory). On a validation error Parse returns the decoded manifest with the error.
func Parse(data []byte, name string) (*Manifest, error) {
	return parse(data, name, filepath.Dir(name))
}

func parse(data []byte, src, dir string) (*Manifest, error) {
	if src == "" {
		src = "manifest"
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: %d bytes, larger than %d", src, len(data), MaxSize)
	}
	m, err := decode(data, src)
	if err != nil {
		return nil, err
	}
	for i := range m.Plugins {
		p := &m.Plugins[i]
		if p.Command != "" {
			p.Path = resolve(dir, p.Command)
		}
		// Empty is absent: `env: {}` and no env are the same entry.
		if len(p.Args) == 0 {
			p.Args = nil
		}
		if len(p.Env) == 0 {
			p.Env = nil
		}
		if len(p.Config) == 0 {
			p.Config = nil
		}
		if len(p.Topics) == 0 {
			p.Topics = nil
		}
	}
	return m, m.Validate()
}

// resolve returns cmd relative to dir, in a form exec never looks up in $PATH.
func resolve(dir, cmd string) string {
	if filepath.IsAbs(cmd) {
		return filepath.Clean(cmd)
	}
	p := filepath.Join(dir, cmd)
	if !strings.ContainsRune(p, filepath.Separator) {
		p = "." + string(filepath.Separator) + p
	}
	return p
}

// Default returns the manifest the broker runs without one, all built-ins in process: the tag
// and cel filters, the levels scheduler and the producer transaction checker. The host keeps
// the entries of kinds the broker does not consume yet (scheduler, txchecker) unwired; the
// namesrv discovery built-in joins when discovery is wired.
func Default() *Manifest {
	return &Manifest{
		Source: "default manifest",
		Plugins: []Plugin{
			{Name: "tag", Kind: plugin.KindFilter, Builtin: "tag"},
			{Name: "cel", Kind: plugin.KindFilter, Builtin: "cel"},
			{Name: "levels", Kind: plugin.KindScheduler, Builtin: "levels"},
			{Name: "producer", Kind: plugin.KindTxChecker, Builtin: "producer"},
		},
	}
}

// Lookup returns the entry named name.
func (m *Manifest) Lookup(name string) (*Plugin, bool) {
	for i := range m.Plugins {
		if m.Plugins[i].Name == name {
			return &m.Plugins[i], true
		}
	}
	return nil, false
}
