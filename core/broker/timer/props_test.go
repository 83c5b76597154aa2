package timer

import (
	"testing"

	"github.com/ternmq/tern/core/message"
)

func TestScan(t *testing.T) {
	props := func(kv ...string) []byte {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		p, _ := message.AppendProperties(nil, m)
		return p
	}
	const now = 1_000_000
	for _, tc := range []struct {
		name   string
		props  []byte
		at     int64
		timed  bool
		level  string
		cancel string
		err    bool
	}{
		{"none", props("TAGS", "a"), 0, false, "", "", false},
		{"deliver ms", props(message.PropertyTimerDeliverMS, "1234567"), 1234567, true, "", "", false},
		{"delay ms", props(message.PropertyTimerDelayMS, "250"), now + 250, true, "", "", false},
		{"delay sec", props(message.PropertyTimerDelaySec, "3"), now + 3000, true, "", "", false},
		{"start deliver time", props(message.PropertyStartDeliverTime, "2000000"), 2000000, true, "", "", false},
		{"precedence", props(message.PropertyStartDeliverTime, "5", message.PropertyTimerDelaySec, "1", message.PropertyTimerDeliverMS, "7"), 7, true, "", "", false},
		{"delay level", props(message.PropertyDelayLevel, "3"), 0, false, "3", "", false},
		{"cancel", props(PropertyDelUniqKey, "T+ID"), 0, false, "", "T+ID", false},
		{"negative", props(message.PropertyTimerDeliverMS, "-1"), 0, false, "", "", true},
		{"not a number", props(message.PropertyTimerDelaySec, "soon"), 0, false, "", "", true},
		{"overflow", props(message.PropertyTimerDelaySec, "9223372036854775807"), 0, false, "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Scan(tc.props, now)
			if (err != nil) != tc.err {
				t.Fatalf("err %v", err)
			}
			if tc.err {
				return
			}
			if a.At != tc.at || a.Timed != tc.timed || string(a.Level) != tc.level || string(a.Cancel) != tc.cancel {
				t.Fatalf("Scan = %+v", a)
			}
		})
	}
	p := props(message.PropertyTimerDelayMS, "250", "TAGS", "x", "KEYS", "k")
	if n := testing.AllocsPerRun(100, func() { Scan(p, now) }); n != 0 {
		t.Fatalf("Scan allocates %v times", n)
	}
}
