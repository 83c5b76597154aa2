package remoting

import (
	"sync"
	"time"
)

// workerIdle is how long an idle handler goroutine waits for another request before it exits.
const workerIdle = 10 * time.Second

// task is one request to serve on its connection.
type task struct {
	c   *Conn
	req *Command
}

// workers runs request handlers on goroutines that outlive one request. A handler goroutine
// grows its stack on its first request (decoding a header and storing a message take more than
// a new goroutine's 2 KiB); started afresh for every request, it would copy its stack each
// time. Idle workers wait for the next request for workerIdle, then exit, so a burst leaves no
// goroutines behind for long. An owner's connections share its workers.
type workers struct {
	tasks chan task       // unbuffered: a send succeeds only if a worker is waiting
	stop  <-chan struct{} // the owner's close: idle workers exit
	track *sync.WaitGroup // the owner's goroutines
}

func newWorkers(stop <-chan struct{}, track *sync.WaitGroup) *workers {
	return &workers{tasks: make(chan task), stop: stop, track: track}
}

// run serves t on an idle worker, or on a new one when none is idle; it never waits. The
// caller must be counted in track (a connection's reader is).
func (w *workers) run(t task) {
	select {
	case w.tasks <- t:
		return
	default:
	}
	w.track.Add(1)
	go w.loop(t)
}

func (w *workers) loop(t task) {
	defer w.track.Done()
	t.c.serve(t.req)
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		select {
		case t = <-w.tasks:
			t.c.serve(t.req)
			idle.Reset(workerIdle)
		case <-idle.C:
			return
		case <-w.stop:
			return
		}
	}
}
