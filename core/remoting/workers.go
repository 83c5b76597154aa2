package remoting

import (
	"sync"
	"sync/atomic"
	"time"
)

// workerIdle is how long an idle handler goroutine waits for another request before it exits:
// between one and two such periods.
const workerIdle = 10 * time.Second

// task is one request to serve on its connection.
type task struct {
	c   *Conn
	req *Command
}

// workers runs request handlers on goroutines that outlive one request. A handler goroutine
// grows its stack on its first request (decoding a header and storing a message take more than
// a new goroutine's 2 KiB); started afresh for every request, it would copy its stack each
// time. A worker that served nothing in a whole idle period exits, so a burst leaves no
// goroutines behind for long. An owner's connections share its workers.
//
// Idleness is told by periods that a timer ends by closing a channel, not by a timer per
// worker: resetting one at every request and waiting on its channel cost about 3 % of a
// broker's CPU.
type workers struct {
	tasks  chan task       // unbuffered: a send succeeds only if a worker is waiting
	stop   <-chan struct{} // the owner's close: idle workers exit
	track  *sync.WaitGroup // the owner's goroutines
	idle   time.Duration
	period atomic.Pointer[chan struct{}] // closed when the current idle period ends
}

func newWorkers(stop <-chan struct{}, track *sync.WaitGroup) *workers {
	return newWorkersIdle(stop, track, workerIdle)
}

func newWorkersIdle(stop <-chan struct{}, track *sync.WaitGroup, idle time.Duration) *workers {
	w := &workers{tasks: make(chan task), stop: stop, track: track, idle: idle}
	ch := make(chan struct{})
	w.period.Store(&ch)
	time.AfterFunc(idle, w.endPeriod)
	return w
}

// endPeriod ends the idle period and starts the next, until the owner closes.
func (w *workers) endPeriod() {
	select {
	case <-w.stop:
		return
	default:
	}
	ch := make(chan struct{})
	close(*w.period.Swap(&ch))
	time.AfterFunc(w.idle, w.endPeriod)
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
	served := true
	for {
		select {
		case t = <-w.tasks:
			t.c.serve(t.req)
			served = true
		case <-*w.period.Load():
			if !served {
				return
			}
			served = false
		case <-w.stop:
			return
		}
	}
}
