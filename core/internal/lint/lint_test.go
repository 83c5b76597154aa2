// Package lint holds Tern's house rules as a test over the whole module (see STYLE.md).
package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// root is the module root, two levels above this package.
const root = "../../.."

type file struct {
	path string
	ast  *ast.File
}

// sources parses every non-test, non-generated Go file of the module, skipping testdata.
func sources(t *testing.T) []file {
	t.Helper()
	var out []file
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if ast.IsGenerated(f) {
			return nil // generated code (protoc) follows its generator's rules
		}
		out = append(out, file{filepath.ToSlash(strings.TrimPrefix(p, root+"/")), f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("found only %d source files under %s", len(out), root)
	}
	return out
}

func library(path string) bool {
	return !strings.HasPrefix(path, "cmd/") && !strings.HasPrefix(path, "plugin-examples/")
}

// TestHouseRules: no init() registration; library packages log through an injected slog
// logger, never fmt.Print* or the log package; no time.Sleep outside tests (wait on a signal).
func TestHouseRules(t *testing.T) {
	for _, f := range sources(t) {
		for _, imp := range f.ast.Imports {
			if library(f.path) && imp.Path.Value == `"log"` {
				t.Errorf("%s imports log: use an injected *slog.Logger", f.path)
			}
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Recv == nil && n.Name.Name == "init" {
					t.Errorf("%s: func init: wire things up in constructors", f.path)
				}
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok {
					if id.Name == "time" && n.Sel.Name == "Sleep" {
						t.Errorf("%s: time.Sleep outside tests: wait on a channel, timer or condition", f.path)
					}
					if library(f.path) && id.Name == "fmt" && strings.HasPrefix(n.Sel.Name, "Print") {
						t.Errorf("%s: fmt.%s in a library package: log with slog or return the text", f.path, n.Sel.Name)
					}
				}
			}
			return true
		})
	}
}

// TestPackageDocs: every package says what it is for in a package comment.
func TestPackageDocs(t *testing.T) {
	documented := map[string]bool{}
	seen := map[string]bool{}
	for _, f := range sources(t) {
		dir := filepath.Dir(f.path)
		seen[dir] = true
		if f.ast.Doc != nil && strings.TrimSpace(f.ast.Doc.Text()) != "" {
			documented[dir] = true
		}
	}
	for dir := range seen {
		if !documented[dir] {
			t.Errorf("package %s has no package comment", dir)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
}
