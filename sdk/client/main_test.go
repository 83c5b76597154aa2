package client

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: Close(ctx) must stop every
// goroutine a client started.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
