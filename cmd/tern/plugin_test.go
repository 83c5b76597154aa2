package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runErr runs tern with args in process and returns its output and error.
func runErr(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// buildTern builds the tern binary into dir and returns its sha256.
func buildTern(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "tern")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestPluginsCheck runs `tern plugin serve tag` as an external plugin (the command relative to
// the manifest's directory) next to the in-process cel built-in, then with a wrong sha256.
func TestPluginsCheck(t *testing.T) {
	dir := t.TempDir()
	sum := buildTern(t, dir)
	path := filepath.Join(dir, "plugins.yaml")
	write := func(sha string) {
		t.Helper()
		m := "plugins:\n" +
			"  - name: tag-ext\n    kind: filter\n    command: ./tern\n    args: [plugin, serve, tag]\n    sha256: " + sha + "\n" +
			"  - name: cel-ext\n    kind: filter\n    command: ./tern\n    args: [plugin, serve, cel]\n    sha256: " + sha + "\n" +
			"  - name: cel\n    kind: filter\n    builtin: cel\n" +
			"  - name: levels\n    kind: scheduler\n    builtin: levels\n"
		if err := os.WriteFile(path, []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	write(sum)
	out, err := runErr(t, "plugins", "check", "--manifest", path, "--log-level", "info")
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	for _, want := range []string{
		"ok    tag-ext: filter " + filepath.Join(dir, "tern"),
		`ok    cel-ext: filter ` + filepath.Join(dir, "tern") + ` [plugin serve cel], version "1.0.0", expression types CEL, SQL92`,
		"ok    cel: filter builtin:cel", "ok    levels: scheduler builtin:levels",
		// The built-in's log, from its process, at its level, with the plugin's name.
		`level=INFO msg="cel filter configured" plugin=cel-ext`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	out, err = runErr(t, "plugins", "list", "--manifest", path)
	if err != nil {
		t.Fatalf("list: %v\n%s", err, out)
	}
	for _, want := range []string{"NAME", "tag-ext", sum, "TAG", "builtin:cel", "up", "scheduler"} {
		if !strings.Contains(out, want) {
			t.Errorf("list output lacks %q:\n%s", want, out)
		}
	}

	bad := strings.Repeat("0", 64)
	write(bad)
	out, err = runErr(t, "plugins", "check", "--manifest", path)
	if err == nil || !strings.Contains(err.Error(), "2 of 4 plugins failed") {
		t.Fatalf("check with a bad sha256: %v\n%s", err, out)
	}
	want := `FAIL  tag-ext: refused: plugin "tag-ext": checksum mismatch for ` + filepath.Join(dir, "tern") +
		": the manifest expects sha256 " + bad + ", the file has " + sum
	if !strings.Contains(out, want) || !strings.Contains(out, "ok    cel") {
		t.Fatalf("check output lacks %q:\n%s", want, out)
	}
}

func TestPluginsDefaultManifest(t *testing.T) {
	out, err := runErr(t, "plugins", "list")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"tag", "builtin:tag", "cel", "builtin:cel", "up"} {
		if !strings.Contains(out, want) {
			t.Errorf("list output lacks %q:\n%s", want, out)
		}
	}
	if out, err := runErr(t, "plugins", "check"); err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
}

func TestPluginsErrors(t *testing.T) {
	dir := t.TempDir()
	invalid := filepath.Join(dir, "invalid.yaml")
	if err := os.WriteFile(invalid, []byte("plugins:\n  - name: x\n    kind: filter\n    commnd: ./x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"serve by hand", []string{"plugin", "serve", "tag"}, "not run by hand"},
		{"serve unknown", []string{"plugin", "serve", "nope"}, `unknown built-in "nope" (have cel, etcd, levels, namesrv, producer, tag, timer)`},
		{"missing manifest", []string{"plugins", "check", "--manifest", filepath.Join(dir, "none.yaml")}, "none.yaml"},
		{"unknown field", []string{"plugins", "check", "--manifest", invalid}, `invalid.yaml:4: unknown field "commnd" in a plugin entry (did you mean "command"?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runErr(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("tern %s: %v, want %q\n%s", strings.Join(tc.args, " "), err, tc.want, out)
			}
		})
	}
}
