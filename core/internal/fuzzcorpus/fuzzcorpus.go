// Package fuzzcorpus keeps the seed corpora of Tern's fuzz targets as golden files: tests build
// the seeds in code, and Check compares them with testdata/fuzz/<Target>/seed-<name> or, with
// -update-corpus, rewrites the files.
package fuzzcorpus

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update-corpus", false, "rewrite the seed corpora in testdata/fuzz")

// Marshal encodes one corpus entry in the "go test fuzz v1" format. It supports the argument
// types Tern's fuzz targets use.
func Marshal(vals ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case int64:
			fmt.Fprintf(&b, "int64(%d)\n", v)
		case uint16:
			fmt.Fprintf(&b, "uint16(%d)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", v)
		default:
			panic(fmt.Sprintf("fuzzcorpus: unsupported type %T", v))
		}
	}
	return b.Bytes()
}

// Check compares every seed (name → marshalled entry) of target with its file, or rewrites the
// files with -update-corpus.
func Check(t *testing.T, target string, seeds map[string][]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range seeds {
		path := filepath.Join(dir, "seed-"+name)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is missing or stale (%v); rerun with -update-corpus", path, err)
		}
	}
}
