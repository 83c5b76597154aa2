package proto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGenerated runs the //go:generate line of doc.go on a copy of the .proto files and checks
// that the output is the committed pluginv1/*.pb.go, byte for byte. It skips when protoc or
// its plugins are missing, or are other versions than the committed files name.
func TestGenerated(t *testing.T) {
	args := generateArgs(t)
	committed, err := filepath.Glob("pluginv1/*.pb.go")
	if err != nil || len(committed) == 0 {
		t.Fatalf("no generated files: %v", err)
	}
	header, err := os.ReadFile("pluginv1/filter.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	grpcHeader, err := os.ReadFile("pluginv1/filter_grpc.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []struct {
		name, flag string
		want       *regexp.Regexp // the version in the committed header
		header     []byte
	}{
		{"protoc", "--version", regexp.MustCompile(`protoc +v(\S+)`), header},
		{"protoc-gen-go", "--version", regexp.MustCompile(`protoc-gen-go v(\S+)`), header},
		{"protoc-gen-go-grpc", "--version", regexp.MustCompile(`protoc-gen-go-grpc v(\S+)`), grpcHeader},
	} {
		out, err := exec.Command(tool.name, tool.flag).Output()
		if err != nil {
			t.Skipf("%s not available: %v", tool.name, err)
		}
		m := tool.want.FindSubmatch(tool.header)
		if m == nil {
			t.Fatalf("committed files do not name the %s version", tool.name)
		}
		if !bytes.Contains(out, m[1]) {
			t.Skipf("%s is %s, the committed files were made with %s", tool.name, strings.TrimSpace(string(out)), m[1])
		}
	}

	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "tern"), os.DirFS("tern")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	generated, _ := filepath.Glob(filepath.Join(dir, "pluginv1", "*.pb.go"))
	if len(generated) != len(committed) {
		t.Errorf("generated %d files, %d committed", len(generated), len(committed))
	}
	for _, path := range committed {
		want, _ := os.ReadFile(path)
		got, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from what go generate makes (%v): run go generate ./plugins/proto/...", path, err)
		}
	}
}

// generateArgs returns the command of doc.go's //go:generate line.
func generateArgs(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(src)) {
		if rest, ok := strings.CutPrefix(line, "//go:generate "); ok {
			return strings.Fields(rest)
		}
	}
	t.Fatal("doc.go has no //go:generate line")
	return nil
}
