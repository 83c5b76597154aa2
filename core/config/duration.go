// Package config holds the small types that Tern's configuration structs share.
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Millis is a duration configured the RocketMQ way, as a whole number of milliseconds, or as a
// Go duration string ("500ms", "5s").
type Millis time.Duration

// D returns the value as a time.Duration.
func (m Millis) D() time.Duration { return time.Duration(m) }

// String formats the value as a Go duration.
func (m Millis) String() string { return time.Duration(m).String() }

// ParseMillis parses a number of milliseconds or a Go duration string.
func ParseMillis(s string) (Millis, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return Millis(time.Duration(n) * time.Millisecond), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("config: %q is neither milliseconds nor a duration", s)
	}
	return Millis(d), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Millis) UnmarshalText(b []byte) error {
	v, err := ParseMillis(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (m Millis) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalYAML accepts a YAML integer (ms) or string.
func (m *Millis) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("config: line %d: want milliseconds or a duration", n.Line)
	}
	return m.UnmarshalText([]byte(n.Value))
}
