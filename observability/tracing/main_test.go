package tracing

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: brokers, clients and
// tracer providers must all be shut down.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leakOptions...) }
