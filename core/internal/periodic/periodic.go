// Package periodic runs a function at a fixed interval until it is told to stop: the loop of
// every background flusher, scanner and checker in Tern, written once.
package periodic

import "time"

// Run calls fn every interval until stop is closed, then returns. The caller owns the
// goroutine Run runs on (start it, and wait for it after closing stop).
func Run(stop <-chan struct{}, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fn()
		}
	}
}
