package interop

import (
	"os"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// TestMain quiets the official client's logging. It does not check for goroutine leaks: the
// official client leaves goroutines behind after Shutdown.
func TestMain(m *testing.M) {
	rlog.SetLogLevel("error")
	os.Exit(m.Run())
}
