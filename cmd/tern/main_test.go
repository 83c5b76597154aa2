package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the admin and bench commands (and the clusters the tests start) leave no
// goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
