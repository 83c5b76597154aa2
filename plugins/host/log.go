package host

import (
	"bytes"
	"context"
	"log/slog"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// hcLogger is the hclog.Logger go-plugin logs through, for one plugin: go-plugin's own
// messages and the plugin's stderr lines it parses (hclog JSON keeps its level; plain lines
// are debug unless prefixed [WARN] and so on) go to the plugin's slog logger, which carries
// plugin=<name>, at the matching level.
type hcLogger struct {
	hclog.Logger // a null logger, for StandardLogger and StandardWriter, which go-plugin does not use here
	log          *slog.Logger
	name         string
	implied      []any
	level        hclog.Level
}

var _ hclog.Logger = (*hcLogger)(nil)

func newHCLogger(l *slog.Logger) hclog.Logger {
	h := &hcLogger{Logger: hclog.NewNullLogger(), log: l, level: hclog.Off}
	for lv := hclog.Trace; lv <= hclog.Error; lv++ {
		if l.Enabled(context.Background(), slogLevel(lv)) {
			h.level = lv
			break
		}
	}
	return h
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || level != hclog.NoLevel && level < h.level {
		return
	}
	sl := slogLevel(level)
	ctx := context.Background()
	if !h.log.Enabled(ctx, sl) {
		return
	}
	h.log.Log(ctx, sl, msg, h.attrs(args)...)
}

// attrs returns the implied arguments and args as slog arguments. go-plugin adds the time the
// plugin logged an entry as "timestamp" (slog records its own) and names the executable
// "plugin", the key that names the plugin in the host's log; the first is dropped, the second
// becomes "path".
func (h *hcLogger) attrs(args []any) []any {
	out := make([]any, 0, len(h.implied)+len(args))
	out = append(out, h.implied...)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			out = append(out, args[i])
			break
		}
		switch args[i] {
		case "timestamp":
			continue
		case "plugin":
			out = append(out, "path", args[i+1])
			continue
		}
		out = append(out, args[i], args[i+1])
	}
	return out
}

func (h *hcLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hcLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hcLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hcLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) IsTrace() bool { return h.level <= hclog.Trace }
func (h *hcLogger) IsDebug() bool { return h.level <= hclog.Debug }
func (h *hcLogger) IsInfo() bool  { return h.level <= hclog.Info }
func (h *hcLogger) IsWarn() bool  { return h.level <= hclog.Warn }
func (h *hcLogger) IsError() bool { return h.level <= hclog.Error }

func (h *hcLogger) ImpliedArgs() []any { return h.implied }

func (h *hcLogger) With(args ...any) hclog.Logger {
	c := *h
	c.implied = append(append([]any(nil), h.implied...), args...)
	return &c
}

func (h *hcLogger) Name() string { return h.name }

// Named and ResetNamed keep the name for Name only: plugin=<name> already says whose line it is.
func (h *hcLogger) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	return &c
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

func (h *hcLogger) SetLevel(level hclog.Level) { h.level = level }
func (h *hcLogger) GetLevel() hclog.Level      { return h.level }

// lineLogger logs what a plugin writes to its stdout or stderr once it serves (go-plugin
// streams it to the host), a line per record at info.
type lineLogger struct {
	log    *slog.Logger
	stream string

	mu  sync.Mutex
	buf []byte // a partial line, at most maxLine bytes
}

// maxLine is the longest line kept whole; a longer one is logged in pieces.
const maxLine = 64 << 10

func (w *lineLogger) Write(p []byte) (int, error) {
	var lines []string
	w.mu.Lock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		next := i + 1
		if i < 0 {
			if len(w.buf) <= maxLine {
				break
			}
			i, next = maxLine, maxLine
		}
		if line := string(bytes.TrimRight(w.buf[:i], "\r")); line != "" {
			lines = append(lines, line)
		}
		w.buf = w.buf[next:]
	}
	w.buf = append([]byte(nil), w.buf...)
	w.mu.Unlock()
	for _, l := range lines {
		w.log.Info(l, "stream", w.stream)
	}
	return len(p), nil
}
