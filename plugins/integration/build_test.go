package integration

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
)

// buildInto compiles the main package pkg into dir.
func buildInto(dir, pkg string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, stderr.Bytes())
	}
	return out, nil
}
