package acl

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReloadInterval is how often a Watcher looks at its file.
const DefaultReloadInterval = 3 * time.Second

// WatcherOptions configures a Watcher.
type WatcherOptions struct {
	// Path is the ACL file. Required.
	Path string
	// Interval is how often the file is read again (DefaultReloadInterval); negative: never
	// (call Check).
	Interval time.Duration
	// Logger receives reloads and reload errors; nil discards them.
	Logger *slog.Logger
	// OnReload, if set, is called after each reload attempt of a changed file, with the
	// error when the new contents were refused (the old policy then stays in force).
	OnReload func(path string, accounts int, err error)
}

// Watcher holds the policy of a file and reloads it when the file's contents change. Its
// goroutine is started by NewWatcher and stopped by Close.
type Watcher struct {
	opts   WatcherOptions
	log    *slog.Logger
	policy atomic.Pointer[Policy]

	mu  sync.Mutex // guards sum; serialises Check
	sum [sha256.Size]byte

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewWatcher loads the file (an error if it cannot be read or compiled) and starts watching
// it.
func NewWatcher(opts WatcherOptions) (*Watcher, error) {
	if opts.Interval == 0 {
		opts.Interval = DefaultReloadInterval
	}
	w := &Watcher{opts: opts, log: opts.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	b, err := os.ReadFile(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	p, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opts.Path, err)
	}
	w.policy.Store(p)
	w.sum = sha256.Sum256(b)
	if opts.Interval < 0 {
		close(w.done)
		return w, nil
	}
	go w.loop()
	return w, nil
}

// Policy returns the policy in force.
func (w *Watcher) Policy() *Policy { return w.policy.Load() }

// Validate decides r with the policy in force.
func (w *Watcher) Validate(r Request) error { return w.Policy().Validate(r) }

// Check reads the file and, when its contents changed, compiles and installs them. It
// reports whether a new policy was installed; a file that cannot be read or compiled is an
// error and leaves the policy in force.
func (w *Watcher) Check() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, err := os.ReadFile(w.opts.Path)
	if err != nil {
		return false, fmt.Errorf("acl: %w", err)
	}
	sum := sha256.Sum256(b)
	if bytes.Equal(sum[:], w.sum[:]) {
		return false, nil
	}
	w.sum = sum // a bad file is reported once, not at every look
	p, err := Parse(b)
	if err != nil {
		err = fmt.Errorf("%s: %w (the previous policy stays in force)", w.opts.Path, err)
	} else {
		w.policy.Store(p)
		w.log.Info("acl reloaded", "path", w.opts.Path, "accounts", p.Accounts())
	}
	if w.opts.OnReload != nil {
		n := 0
		if p != nil {
			n = p.Accounts()
		}
		w.opts.OnReload(w.opts.Path, n, err)
	}
	return err == nil, err
}

func (w *Watcher) loop() {
	defer close(w.done)
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			// Each distinct error is logged once, not at every look.
			if _, err := w.Check(); err != nil && err.Error() != lastErr {
				lastErr = err.Error()
				w.log.Error("acl reload failed", "path", w.opts.Path, "err", err)
			} else if err == nil {
				lastErr = ""
			}
		}
	}
}

// Close stops watching and waits for the watcher's goroutine.
func (w *Watcher) Close() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}
