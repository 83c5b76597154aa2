package broker_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/acl"
	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/remoting"
)

// aclTestFile has a producer, a consumer and an admin account.
const aclTestFile = `
accounts:
  - accessKey: producer-key
    secretKey: producer-secret
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms: [AclOrders=PUB, AclDenied=DENY]
  - accessKey: consumer-key
    secretKey: consumer-secret
    defaultGroupPerm: SUB
    topicPerms: [AclOrders=SUB]
  - accessKey: admin-key
    secretKey: admin-secret
    admin: true
`

// aclCluster starts a broker with ACL on, the file above and its audit log in the test's
// directory; it returns the cluster and the audit log's path.
func aclCluster(t *testing.T) (*brokertest.Cluster, string, string) {
	t.Helper()
	dir := t.TempDir()
	aclFile, auditFile := filepath.Join(dir, "plain_acl.yml"), filepath.Join(dir, "audit.log")
	if err := os.WriteFile(aclFile, []byte(aclTestFile), 0o600); err != nil {
		t.Fatal(err)
	}
	c := brokertest.Start(t, func(cfg *broker.Config) {
		cfg.AclEnable, cfg.AclFile, cfg.AuditLogFile = true, aclFile, auditFile
	})
	createTopic(t, c, "AclOrders", 2)
	createTopic(t, c, "AclDenied", 2)
	return c, aclFile, auditFile
}

// auditLines reads the audit log.
func auditLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// waitAudit waits until the audit log has a line for which match is true.
func waitAudit(t *testing.T, path string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, l := range auditLines(t, path) {
			if match(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no such audit line in %v", auditLines(t, path))
		}
		time.Sleep(10 * time.Millisecond) // bounded polling
	}
}

func TestACLBrokerDecisions(t *testing.T) {
	t.Parallel()
	c, _, auditFile := aclCluster(t)
	rc := remoting.NewClient(remoting.ClientOptions{Logger: brokertest.Logger()})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	invoke := func(code int16, fields map[string]string, creds *acl.Credentials) *remoting.Command {
		t.Helper()
		if creds != nil {
			fields = acl.Sign(fields, *creds)
		}
		resp, err := rc.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(code, fields, nil))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	producer := &acl.Credentials{AccessKey: "producer-key", SecretKey: "producer-secret"}
	admin := &acl.Credentials{AccessKey: "admin-key", SecretKey: "admin-secret"}
	create := func(topic string) map[string]string {
		return map[string]string{"topic": topic, "defaultTopic": "TBW102", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6", "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false"}
	}
	tests := []struct {
		name   string
		code   int16
		fields map[string]string
		creds  *acl.Credentials
		want   remoting.Code
		remark string
	}{
		{"unsigned", remoting.GetMaxOffset, map[string]string{"topic": "AclOrders", "queueId": "0"}, nil, remoting.NoPermission, "(no AccessKey) denied: the request is not signed"},
		{"signed read", remoting.GetMaxOffset, map[string]string{"topic": "AclOrders", "queueId": "0"}, producer, remoting.Success, ""},
		{"wrong secret", remoting.GetMaxOffset, map[string]string{"topic": "AclOrders", "queueId": "0"}, &acl.Credentials{AccessKey: "producer-key", SecretKey: "not-the-secret"}, remoting.NoPermission, `accessKey "producer-key") denied: the signature does not match`},
		{"pull without SUB", remoting.PullMessage, map[string]string{"topic": "AclOrders", "consumerGroup": "g", "queueId": "0"}, producer, remoting.NoPermission, "on topic AclOrders: SUB permission needed, its permission is PUB"},
		{"create topic as a non-admin", remoting.UpdateAndCreateTopic, create("AclNew"), producer, remoting.NoPermission, "admin permission needed"},
		{"create topic as an admin", remoting.UpdateAndCreateTopic, create("AclNew"), admin, remoting.Success, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := invoke(tt.code, tt.fields, tt.creds)
			if remoting.Code(resp.Code) != tt.want || !strings.Contains(resp.Remark, tt.remark) {
				t.Fatalf("response %d %q, want %d with %q", resp.Code, resp.Remark, tt.want, tt.remark)
			}
		})
	}
	waitAudit(t, auditFile, func(l map[string]any) bool {
		return l["event"] == "denied" && l["access_key"] == "producer-key" && l["resource"] == "topic AclOrders" &&
			l["request_code"] == float64(remoting.PullMessage) && strings.HasPrefix(l["remote_addr"].(string), "127.0.0.1:")
	})
	waitAudit(t, auditFile, func(l map[string]any) bool {
		return l["event"] == "denied" && l["access_key"] == "" && strings.Contains(l["reason"].(string), "not signed")
	})
	waitAudit(t, auditFile, func(l map[string]any) bool {
		return l["event"] == "admin" && l["access_key"] == "admin-key" && l["resource"] == "topic AclNew" && l["result_code"] == float64(0)
	})
	waitAudit(t, auditFile, func(l map[string]any) bool { return l["event"] == "acl_reload" && l["accounts"] == float64(3) })
}

func TestACLBrokerReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	aclFile, auditFile := filepath.Join(dir, "plain_acl.yml"), filepath.Join(dir, "audit.log")
	if err := os.WriteFile(aclFile, []byte(aclTestFile), 0o600); err != nil {
		t.Fatal(err)
	}
	c := brokertest.Start(t, func(cfg *broker.Config) {
		cfg.AclEnable, cfg.AclFile, cfg.AuditLogFile = true, aclFile, auditFile
		cfg.AclReloadInterval = config.Millis(10 * time.Millisecond)
	})
	rc := remoting.NewClient(remoting.ClientOptions{Logger: brokertest.Logger()})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	newKey := acl.Credentials{AccessKey: "late-key", SecretKey: "late-secret"}
	code := func() remoting.Code {
		f := acl.Sign(map[string]string{"topic": "AclOrders", "queueId": "0"}, newKey)
		resp, err := rc.Invoke(ctx, c.BrokerAddr, remoting.NewRequest(remoting.GetMaxOffset, f, nil))
		if err != nil {
			t.Fatal(err)
		}
		return remoting.Code(resp.Code)
	}
	if got := code(); got != remoting.NoPermission {
		t.Fatalf("unknown account: code %d", got)
	}
	more := aclTestFile + "  - {accessKey: late-key, secretKey: late-secret}\n"
	if err := os.WriteFile(aclFile, []byte(more), 0o600); err != nil {
		t.Fatal(err)
	}
	waitAudit(t, auditFile, func(l map[string]any) bool { return l["event"] == "acl_reload" && l["accounts"] == float64(4) })
	if got := code(); got != remoting.Success {
		t.Fatalf("after the reload: code %d", got)
	}
}

func TestACLMissingFile(t *testing.T) {
	t.Parallel()
	cfg := broker.DefaultConfig(t.TempDir())
	cfg.ListenAddr, cfg.BrokerAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.AclEnable = true
	_, err := broker.New(cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "plain_acl.yml") {
		t.Fatalf("err = %v", err)
	}
}
