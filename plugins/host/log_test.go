package host

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// leveled is a recorder that drops records below min.
type leveled struct {
	*recorder
	min slog.Level
}

func (l leveled) Enabled(_ context.Context, lv slog.Level) bool { return lv >= l.min }

func (l leveled) WithAttrs(as []slog.Attr) slog.Handler {
	return leveled{l.recorder.WithAttrs(as).(*recorder), l.min}
}

func TestHCLogger(t *testing.T) {
	for _, tc := range []struct {
		name   string
		min    slog.Level
		log    func(hclog.Logger)
		want   []logRecord // level, msg and the attributes to find
		level  hclog.Level
		isInfo bool
	}{
		{name: "levels", min: slog.LevelDebug - 4, level: hclog.Trace, isInfo: true,
			log: func(l hclog.Logger) {
				l.Trace("t")
				l.Debug("d")
				l.Info("i")
				l.Warn("w")
				l.Error("e")
				l.Log(hclog.NoLevel, "n")
				l.Log(hclog.Off, "off")
			},
			want: []logRecord{{level: slog.LevelDebug - 4, msg: "t"}, {level: slog.LevelDebug, msg: "d"}, {level: slog.LevelInfo, msg: "i"},
				{level: slog.LevelWarn, msg: "w"}, {level: slog.LevelError, msg: "e"}, {level: slog.LevelInfo, msg: "n"}}},
		{name: "threshold from the handler", min: slog.LevelWarn, level: hclog.Warn,
			log: func(l hclog.Logger) {
				l.Debug("d")
				l.Info("i")
				l.Warn("w")
			},
			want: []logRecord{{level: slog.LevelWarn, msg: "w"}}},
		{name: "attributes", min: slog.LevelInfo, level: hclog.Info, isInfo: true,
			log: func(l hclog.Logger) {
				l.With("k", "v").Named("a").Named("b").Info("m", "x", 1, "timestamp", "t", "plugin", "/bin/p", "odd")
			},
			want: []logRecord{{level: slog.LevelInfo, msg: "m", attrs: map[string]string{"k": "v", "x": "1", "path": "/bin/p", "plugin": "name", "!BADKEY": "odd"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			l := newHCLogger(slog.New(leveled{rec, tc.min}).With("plugin", "name"))
			if l.GetLevel() != tc.level || l.IsInfo() != tc.isInfo {
				t.Fatalf("level %v, IsInfo %v", l.GetLevel(), l.IsInfo())
			}
			tc.log(l)
			got := rec.store.records
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records: %+v", len(got), got)
			}
			for i, w := range tc.want {
				if got[i].level != w.level || got[i].msg != w.msg {
					t.Errorf("record %d: %v %q, want %v %q", i, got[i].level, got[i].msg, w.level, w.msg)
				}
				for k, v := range w.attrs {
					if got[i].attrs[k] != v {
						t.Errorf("record %d: %s=%q, want %q (%v)", i, k, got[i].attrs[k], v, got[i].attrs)
					}
				}
				if _, ok := got[i].attrs["timestamp"]; ok {
					t.Errorf("record %d keeps timestamp", i)
				}
			}
			if n := l.Named("x").Named("y").Name(); n != "x.y" {
				t.Errorf("name %q", n)
			}
		})
	}
}

func TestLineLogger(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	for _, tc := range []struct {
		name   string
		writes []string
		want   []string
	}{
		{"whole lines", []string{"a\nb\n"}, []string{"a", "b"}},
		{"split line", []string{"he", "llo\nwor", "ld\n"}, []string{"hello", "world"}},
		{"partial tail kept", []string{"a\nb"}, []string{"a"}},
		{"crlf and blank", []string{"a\r\n\n\nb\n"}, []string{"a", "b"}},
		{"too long", []string{long, "\n"}, []string{long[:maxLine], "xxxxxxxxxx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			w := &lineLogger{log: slog.New(rec), stream: "stderr"}
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatal(n, err)
				}
			}
			var got []string
			for _, r := range rec.store.records {
				if r.attrs["stream"] != "stderr" || r.level != slog.LevelInfo {
					t.Errorf("record %+v", r)
				}
				got = append(got, r.msg)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
