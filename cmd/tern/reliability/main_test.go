package reliability

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// build is the tern binary the tests share: built on first use into binDir, which TestMain
// removes.
var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// TestMain fails the package if a test leaves a goroutine behind, and removes the binary.
func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// ternBinary builds cmd/tern once per test binary and returns its path.
func ternBinary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		if build.dir, build.err = os.MkdirTemp("", "tern-reliability-bin-"); build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "tern")
		if out, err := exec.Command("go", "build", "-o", build.path, "github.com/ternmq/tern/cmd/tern").CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/tern: %w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}
