//go:build jaeger

package tracing

import "go.uber.org/goleak"

// leakOptions excuses the idle keep-alive connection of the OTLP/HTTP exporter: it uses a
// package-level transport whose idle connections its Shutdown does not close (they time out
// after 90 s).
var leakOptions = []goleak.Option{
	goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
}
