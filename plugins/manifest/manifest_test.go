package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/sdk/plugin"
)

const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestParseFull(t *testing.T) {
	src := `# a manifest
plugins:
  - name: jsonfield
    kind: filter
    command: ./bin/jsonfield-filter
    args: ["--x"]
    env: {FOO: bar}
    sha256: ` + sum + `
    config: {anything: [goes, 1, true]}
    failurePolicy: open
    timeout: 500ms
    maxBatch: 64
  - name: cel
    kind: filter
    builtin: cel
`
	m, err := Parse([]byte(src), "/etc/tern/plugins.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Plugin{{
		Name: "jsonfield", Kind: plugin.KindFilter, Command: "./bin/jsonfield-filter",
		Args: []string{"--x"}, Env: map[string]string{"FOO": "bar"}, SHA256: sum,
		Config:        map[string]any{"anything": []any{"goes", 1, true}},
		FailurePolicy: FailOpen, Timeout: 500 * time.Millisecond, MaxBatch: 64,
		Path: "/etc/tern/bin/jsonfield-filter",
	}, {Name: "cel", Kind: plugin.KindFilter, Builtin: "cel"}}
	if !reflect.DeepEqual(m.Plugins, want) {
		t.Fatalf("got  %+v\nwant %+v", m.Plugins, want)
	}
	if m.lineOf(0) != 3 || m.lineOf(1) != 13 {
		t.Fatalf("lines %v", m.lines)
	}
	cel, ok := m.Lookup("cel")
	if !ok || !cel.IsBuiltin() || cel.Policy() != FailClosed || cel.CallTimeout() != DefaultTimeout || cel.BatchSize() != DefaultMaxBatch {
		t.Fatalf("defaults of %+v", cel)
	}
	if _, ok := m.Lookup("nope"); ok {
		t.Fatal("found nope")
	}
	if cs, err := m.Plugins[0].Checksum(); err != nil || len(cs) != 32 {
		t.Fatal(cs, err)
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct{ name, dir, cmd, want string }{
		{"relative", "/etc/tern", "bin/f", "/etc/tern/bin/f"},
		{"dot", "/etc/tern", "./f", "/etc/tern/f"},
		{"up", "/etc/tern", "../f", "/etc/f"},
		{"absolute", "/etc/tern", "/usr/bin/f", "/usr/bin/f"},
		{"bare in cwd", ".", "f", "./f"},
		{"dot in cwd", ".", "./f", "./f"},
		{"relative dir", "conf", "f", "conf/f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolve(tc.dir, tc.cmd); got != tc.want {
				t.Fatalf("resolve(%q, %q) = %q, want %q", tc.dir, tc.cmd, got, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plugins.yaml")
	data := "plugins:\n  - name: f\n    kind: filter\n    command: f\n    sha256: " + sum + "\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Plugins[0].Executable(); got != filepath.Join(dir, "f") {
		t.Fatalf("executable %q", got)
	}
	if m.Source != path {
		t.Fatalf("source %q", m.Source)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("big file: %v", err)
	}
}

func TestDefault(t *testing.T) {
	m := Default()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tag", "cel"} {
		if p, ok := m.Lookup(name); !ok || p.Builtin != name || p.Kind != plugin.KindFilter {
			t.Fatalf("default %s: %+v", name, p)
		}
	}
}

// TestDecodeErrors: what the strict decoder says, with the line, for YAML that does not fit
// the schema.
func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"typo in entry", "plugins:\n  - name: a\n    kind: filter\n    commnd: ./x\n",
			`m.yaml:4: unknown field "commnd" in a plugin entry (did you mean "command"?); known fields: name, kind, command, builtin`},
		{"wrong case", "plugins:\n  - name: a\n    failurepolicy: open\n", `m.yaml:3: unknown field "failurepolicy" in a plugin entry (did you mean "failurePolicy"?)`},
		{"unknown, no suggestion", "plugins:\n  - name: a\n    frobnicate: 1\n", `m.yaml:3: unknown field "frobnicate" in a plugin entry; known fields:`},
		{"top level", "plugin:\n  - name: a\n", `m.yaml:1: unknown field "plugin" in the top level (did you mean "plugins"?); known fields: plugins`},
		{"bad duration", "plugins:\n  - name: a\n    timeout: soon\n", "m.yaml:3: cannot unmarshal !!str `soon` into a duration (like 2s or 500ms)"},
		{"number as duration", "plugins:\n  - name: a\n    timeout: 2\n", "m.yaml:3: cannot unmarshal !!int `2` into a duration"},
		{"bad int", "plugins:\n  - name: a\n    maxBatch: lots\n", "m.yaml:3: cannot unmarshal !!str `lots` into an integer"},
		{"env not a map", "plugins:\n  - name: a\n    env: [A]\n", "m.yaml:3: cannot unmarshal !!seq into a mapping of strings"},
		{"entry not a map", "plugins:\n  - a\n", "m.yaml:2: cannot unmarshal !!str `a` into a plugin entry (a mapping)"},
		{"not a mapping", "- a\n", "m.yaml:1: cannot unmarshal !!seq into a manifest"},
		{"syntax", "plugins: [\n", "m.yaml:1: did not find expected node content"},
		{"duplicate key", "plugins:\n  - name: a\n    name: b\n", `m.yaml:3: mapping key "name" already defined at line 2`},
		{"empty", "", "m.yaml: empty manifest"},
		{"comment only", "# nothing\n", "m.yaml: empty manifest"},
		{"two documents", "plugins: []\n---\nplugins: []\n", "m.yaml:2: a second YAML document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src), "m.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestValidateErrors: one case per validation rule, each error naming the file, the line of
// the entry and the plugin.
func TestValidateErrors(t *testing.T) {
	const head = "plugins:\n  - name: ok\n    kind: filter\n    builtin: tag\n"
	entry := func(fields string) string { return head + "  - " + strings.TrimPrefix(fields, "    ") }
	cmd := "    name: p\n    kind: filter\n    command: ./p\n    sha256: " + sum + "\n"
	for _, tc := range []struct{ name, src, want string }{
		{"no name", entry("    kind: filter\n    builtin: tag\n"), `m.yaml:5: plugin #2: name is required`},
		{"bad name", entry("    name: Json_Field\n    kind: filter\n    builtin: tag\n"), `m.yaml:5: plugin "Json_Field": name "Json_Field": want lowercase letters, digits and '-'`},
		{"long name", entry("    name: " + strings.Repeat("a", 64) + "\n    kind: filter\n    builtin: tag\n"), "longer than 63 characters"},
		{"duplicate name", entry("    name: ok\n    kind: filter\n    builtin: cel\n"), `m.yaml:5: plugin "ok": duplicate name: plugin #1 has it too`},
		{"no kind", entry("    name: p\n    builtin: tag\n"), `m.yaml:5: plugin "p": kind is required`},
		{"bad kind", entry("    name: p\n    kind: filtre\n    builtin: tag\n"), `plugin "p": kind "filtre": want filter, scheduler, txchecker or discovery`},
		{"neither", entry("    name: p\n    kind: filter\n"), `plugin "p": command or builtin is required`},
		{"both", entry(cmd + "    builtin: tag\n"), `plugin "p": command and builtin are exclusive`},
		{"bad builtin", entry("    name: p\n    kind: filter\n    builtin: CEL\n"), `plugin "p": builtin "CEL": want lowercase`},
		{"args with builtin", entry("    name: p\n    kind: filter\n    builtin: tag\n    args: [x]\n"), `plugin "p": args is only for a command, not a builtin`},
		{"env with builtin", entry("    name: p\n    kind: filter\n    builtin: tag\n    env: {A: b}\n"), `plugin "p": env is only for a command`},
		{"sha256 with builtin", entry("    name: p\n    kind: filter\n    builtin: tag\n    sha256: " + sum + "\n"), `plugin "p": sha256 is only for a command`},
		{"no sha256", entry("    name: p\n    kind: filter\n    command: ./p\n"), `plugin "p": sha256 is required with command`},
		{"short sha256", entry("    name: p\n    kind: filter\n    command: ./p\n    sha256: abc\n"), `plugin "p": sha256 "abc": want 64 hex digits`},
		{"non-hex sha256", entry("    name: p\n    kind: filter\n    command: ./p\n    sha256: " + strings.Repeat("zz", 32) + "\n"), `want 64 hex digits`},
		{"env name with =", entry(cmd + "    env: {\"A=B\": c}\n"), `plugin "p": env "A=B": names are non-empty`},
		{"empty env name", entry(cmd + "    env: {\"\": c}\n"), `plugin "p": env "": names are non-empty`},
		{"NUL in env value", entry(cmd + "    env: {A: \"x\\0y\"}\n"), `plugin "p": env "A"`},
		{"NUL in arg", entry(cmd + "    args: [\"a\\0\"]\n"), `plugin "p": args[0] contains a NUL byte`},
		{"NUL in command", entry("    name: p\n    kind: filter\n    command: \"./p\\0\"\n    sha256: " + sum + "\n"), `plugin "p": command contains a NUL byte`},
		{"bad policy", entry(cmd + "    failurePolicy: sometimes\n"), `plugin "p": failurePolicy "sometimes": want open or closed`},
		{"negative timeout", entry(cmd + "    timeout: -1s\n"), `plugin "p": timeout -1s: must be positive`},
		{"negative maxBatch", entry(cmd + "    maxBatch: -1\n"), `plugin "p": maxBatch -1: want 1 to 65536`},
		{"huge maxBatch", entry(cmd + "    maxBatch: 100000\n"), `plugin "p": maxBatch 100000`},
		{"non-string config key", entry(cmd + "    config: {a: {1: x}}\n"), `plugin "p": config.a: mapping keys must be strings`},
		{"nested in list", entry(cmd + "    config: {a: [{b: {true: x}}]}\n"), `config.a[0].b: mapping keys must be strings`},
		{"topics on a filter", entry(cmd + "    topics: [orders]\n"), `plugin "p": topics is only for schedulers`},
		{"bad topic pattern", entry("    name: p\n    kind: scheduler\n    builtin: levels\n    topics: [\"a[\"]\n"), `plugin "p": topics: "a[" is not a topic name or pattern`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.src), "m.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			if m == nil {
				t.Fatal("Parse returned no manifest with a validation error")
			}
			var e *Error
			if !errors.As(err, &e) || e.Source != "m.yaml" || e.Line != 5 {
				t.Fatalf("error %#v", e)
			}
		})
	}
}

func TestValidateOnePerKind(t *testing.T) {
	src := "plugins:\n" +
		"  - {name: a, kind: txchecker, builtin: producer}\n" +
		"  - {name: b, kind: txchecker, builtin: producer}\n" +
		"  - {name: c, kind: discovery, builtin: etcd}\n" +
		"  - {name: d, kind: discovery, builtin: etcd}\n" +
		"  - {name: e, kind: scheduler, builtin: levels}\n" +
		"  - {name: f, kind: scheduler, builtin: levels, topics: [x]}\n"
	_, err := Parse([]byte(src), "m.yaml")
	for _, want := range []string{
		`m.yaml:3: plugin "b": a broker uses one txchecker plugin: plugin #1 is one too`,
		`m.yaml:5: plugin "d": a broker uses one discovery plugin: plugin #3 is one too`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant %s", err, want)
		}
	}
	if n := len(unwrapJoined(err)); n != 2 {
		t.Errorf("%d errors, want 2 (several schedulers are fine): %v", n, err)
	}
}

func unwrapJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return nil
}

func TestValidateAllProblems(t *testing.T) {
	src := "plugins:\n  - name: A\n    kind: x\n  - name: b\n    kind: filter\n    builtin: tag\n    sha256: " + sum + "\n"
	_, err := Parse([]byte(src), "m.yaml")
	want := []string{
		`m.yaml:2: plugin "A": name "A"`,
		`m.yaml:2: plugin "A": kind "x"`,
		`m.yaml:2: plugin "A": command or builtin is required`,
		`m.yaml:4: plugin "b": sha256 is only for a command`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got\n%v", err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want prefix %q", i, lines[i], w)
		}
	}
}

func TestValidateInCode(t *testing.T) {
	m := &Manifest{Plugins: []Plugin{{Name: "x", Kind: plugin.KindFilter}}}
	if err := m.Validate(); err == nil || err.Error() != `manifest: plugin "x": command or builtin is required` {
		t.Fatal(err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	src := "plugins:\n  - name: p\n    kind: filter\n    command: ./p\n    sha256: " + sum +
		"\n    env: {B: \"1\", A: x}\n    config: {n: 1, f: 1.5, l: [a, {b: null}]}\n    timeout: 1m30s\n"
	m, err := Parse([]byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Parse(enc, "")
	if err != nil {
		t.Fatalf("%v\n%s", err, enc)
	}
	if !reflect.DeepEqual(m.Plugins, m2.Plugins) {
		t.Fatalf("round trip:\n%+v\n%+v\n%s", m.Plugins, m2.Plugins, enc)
	}
}
