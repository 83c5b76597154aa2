package plugin

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	goplugin "github.com/hashicorp/go-plugin"
)

// The go-plugin handshake. Host and plugin compare all three before any RPC.
const (
	// ProtocolVersion is the version of the plugin protocol (plugins/proto, package
	// tern.plugin.v1). A breaking change to a .proto file (a field renumbered, retyped,
	// removed or given a new meaning) bumps it; adding fields, enum values or RPCs does not.
	ProtocolVersion = 1
	// MagicCookieKey and MagicCookieValue are the environment variable the host sets for a
	// plugin process. They are not a secret: they only stop a plugin binary started by hand
	// from waiting for a host that never comes. Wire format, never change.
	MagicCookieKey   = "TERN_PLUGIN"
	MagicCookieValue = "79c2e34c750410f4bf2a6742ad3a7faa"
)

// Handshake returns the go-plugin handshake both sides use.
func Handshake() goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// FileSHA256 returns the sha256 of the file at path: the checksum a manifest pins a plugin
// executable to (goplugin.SecureConfig).
func FileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("checksum %s: %w", path, err)
	}
	return h.Sum(nil), nil
}
