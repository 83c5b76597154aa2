package manifest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/ternmq/tern/sdk/plugin"
)

// Error is one problem with one manifest entry. Validate returns them joined.
type Error struct {
	Source string // the manifest file
	Line   int    // line of the plugin entry; 0 when unknown (a manifest built in code)
	Plugin string // the entry's name; "" when it has none
	Index  int    // the entry's position in the plugins: list, from 0
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Plugin != "" {
		fmt.Fprintf(&b, ": plugin %q: ", e.Plugin)
	} else {
		fmt.Fprintf(&b, ": plugin #%d: ", e.Index+1)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Validate checks every entry and returns all problems found, joined; each is an *Error.
func (m *Manifest) Validate() error {
	src := m.Source
	if src == "" {
		src = "manifest"
	}
	var errs []error
	seen := map[string]int{}
	single := map[plugin.Kind]int{} // the one txchecker and the one discovery backend
	for i := range m.Plugins {
		p := &m.Plugins[i]
		fail := func(format string, args ...any) {
			errs = append(errs, &Error{Source: src, Line: m.lineOf(i), Plugin: p.Name, Index: i, Msg: fmt.Sprintf(format, args...)})
		}
		if j, dup := seen[p.Name]; dup && p.Name != "" {
			fail("duplicate name: plugin #%d has it too", j+1)
		}
		seen[p.Name] = i
		if p.Kind == plugin.KindTxChecker || p.Kind == plugin.KindDiscovery {
			if j, dup := single[p.Kind]; dup {
				fail("a broker uses one %s plugin: plugin #%d is one too", p.Kind, j+1)
			}
			single[p.Kind] = i
		}
		p.check(fail)
	}
	return errors.Join(errs...)
}

// check reports each problem of one entry through fail.
func (p *Plugin) check(fail func(format string, args ...any)) {
	switch err := checkName(p.Name); {
	case p.Name == "":
		fail("name is required")
	case err != nil:
		fail("name %q: %v", p.Name, err)
	}
	switch p.Kind {
	case plugin.KindFilter, plugin.KindScheduler, plugin.KindTxChecker, plugin.KindDiscovery:
	case "":
		fail("kind is required (filter, scheduler, txchecker or discovery)")
	default:
		fail("kind %q: want filter, scheduler, txchecker or discovery", p.Kind)
	}
	switch {
	case p.Command == "" && p.Builtin == "":
		fail("command or builtin is required")
	case p.Command != "" && p.Builtin != "":
		fail("command and builtin are exclusive: give one")
	case p.Builtin != "":
		if err := checkName(p.Builtin); err != nil {
			fail("builtin %q: %v", p.Builtin, err)
		}
		for _, f := range []struct {
			name string
			set  bool
		}{{"args", len(p.Args) > 0}, {"env", len(p.Env) > 0}, {"sha256", p.SHA256 != ""}} {
			if f.set {
				fail("%s is only for a command, not a builtin", f.name)
			}
		}
	default:
		p.checkCommand(fail)
	}
	switch p.FailurePolicy {
	case "", FailOpen, FailClosed:
	default:
		fail("failurePolicy %q: want open or closed", p.FailurePolicy)
	}
	if p.Timeout < 0 {
		fail("timeout %v: must be positive", p.Timeout)
	}
	if p.MaxBatch < 0 || p.MaxBatch > MaxBatchLimit {
		fail("maxBatch %d: want 1 to %d", p.MaxBatch, MaxBatchLimit)
	}
	if len(p.Topics) > 0 && p.Kind != plugin.KindScheduler {
		fail("topics is only for schedulers")
	}
	for _, t := range p.Topics {
		if _, err := path.Match(t, ""); err != nil || t == "" {
			fail("topics: %q is not a topic name or pattern", t)
		}
	}
	if where, ok := nonStringKey(p.Config, "config"); !ok {
		fail("%s: mapping keys must be strings", where)
	}
}

func (p *Plugin) checkCommand(fail func(format string, args ...any)) {
	if strings.ContainsRune(p.Command, 0) {
		fail("command contains a NUL byte")
	}
	for i, a := range p.Args {
		if strings.ContainsRune(a, 0) {
			fail("args[%d] contains a NUL byte", i)
		}
	}
	keys := make([]string, 0, len(p.Env))
	for k := range p.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(p.Env[k], 0) {
			fail("env %q: names are non-empty without '=' or NUL, values without NUL", k)
		}
	}
	switch b, err := hex.DecodeString(p.SHA256); {
	case p.SHA256 == "":
		fail("sha256 is required with command: the SHA-256 of the executable, 64 hex digits (sha256sum %s)", p.Command)
	case err != nil || len(b) != 32:
		fail("sha256 %q: want 64 hex digits", p.SHA256)
	}
}

// checkName accepts [a-z0-9-]+ up to MaxNameLen.
func checkName(s string) error {
	if len(s) > MaxNameLen {
		return fmt.Errorf("longer than %d characters", MaxNameLen)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("want lowercase letters, digits and '-'")
		}
	}
	if s == "" {
		return fmt.Errorf("empty")
	}
	return nil
}

// nonStringKey walks decoded YAML and reports the first mapping with a non-string key.
func nonStringKey(v any, path string) (string, bool) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if p, ok := nonStringKey(v[k], path+"."+k); !ok {
				return p, false
			}
		}
	case []any:
		for i, e := range v {
			if p, ok := nonStringKey(e, fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
	case map[any]any:
		return path, false
	}
	return path, true
}

// Checksum returns the decoded sha256 of a command entry.
func (p *Plugin) Checksum() ([]byte, error) {
	b, err := hex.DecodeString(p.SHA256)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("manifest: plugin %q: sha256 %q: want 64 hex digits", p.Name, p.SHA256)
	}
	return b, nil
}
