//go:build !jaeger

package tracing

import "go.uber.org/goleak"

// leakOptions: without the Jaeger test nothing is excused.
var leakOptions []goleak.Option
