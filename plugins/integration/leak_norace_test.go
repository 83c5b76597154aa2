//go:build !race

package integration

// officialClientLinked: the official RocketMQ client (official_test.go) leaves goroutines
// behind after Shutdown, so goleak runs only in -race builds, which leave it out.
const officialClientLinked = true
