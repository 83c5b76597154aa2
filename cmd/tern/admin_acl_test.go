package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
)

// TestAdminCredentials: against a broker with ACL on, tern admin is refused without
// credentials and works with an admin account's --access-key/--secret-key.
func TestAdminCredentials(t *testing.T) {
	dir := t.TempDir()
	aclFile := filepath.Join(dir, "plain_acl.yml")
	const accounts = "accounts:\n  - {accessKey: admin-key, secretKey: admin-secret, admin: true}\n"
	if err := os.WriteFile(aclFile, []byte(accounts), 0o600); err != nil {
		t.Fatal(err)
	}
	c := brokertest.Start(t, func(cfg *broker.Config) {
		cfg.AclEnable, cfg.AclFile, cfg.AuditLogFile = true, aclFile, filepath.Join(dir, "audit.log")
	})
	ns := "--namesrv=" + c.NamesrvAddr
	out, err := runErr(t, "admin", ns, "topic", "create", "Signed", "-q", "2")
	if err == nil || !strings.Contains(err.Error(), "NO_PERMISSION") {
		t.Fatalf("unsigned topic create: %v\n%s", err, out)
	}
	creds := []string{"--access-key", "admin-key", "--secret-key", "admin-secret"}
	run(t, append([]string{"admin", ns}, append(creds, "topic", "create", "Signed", "-q", "2")...)...)
	out, err = runErr(t, "admin", ns, "--access-key", "admin-key", "--secret-key", "wrong", "topic", "create", "Other", "-q", "1")
	if err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("topic create with a wrong secret: %v\n%s", err, out)
	}
}
