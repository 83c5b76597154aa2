//go:build race

package integration

// officialClientLinked: the official RocketMQ client's tests are not built with -race, so
// goleak checks every goroutine.
const officialClientLinked = false
