package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/ternmq/tern/core/acl"
	"github.com/ternmq/tern/core/audit"
	"github.com/ternmq/tern/core/remoting"
)

// invokeBrokerToResetOffset is RocketMQ's INVOKE_BROKER_TO_RESET_OFFSET (an admin operation
// the audit log records).
const invokeBrokerToResetOffset int16 = 222

// guard is the broker's request middleware, around the processors' mux: it refuses what the
// ACL denies (NO_PERMISSION, with the decision's remark) and writes admin operations and
// denied requests to the audit log.
type guard struct {
	next  remoting.Handler
	acl   *acl.Watcher // nil: ACL off
	audit *audit.Log
	log   *slog.Logger
}

// openGuard opens the audit log and, with aclEnable, the ACL file and its watcher.
func openGuard(cfg Config, logger *slog.Logger) (*guard, error) {
	path := cfg.AuditLogFile
	if path == "" {
		path = filepath.Join(cfg.Store.StorePathRootDir, "logs", "audit.log")
	}
	al, err := audit.Open(audit.Options{Path: path})
	if err != nil {
		return nil, fmt.Errorf("broker: audit log: %w", err)
	}
	g := &guard{audit: al, log: logger}
	if !cfg.AclEnable {
		return g, nil
	}
	file := cfg.AclFile
	if file == "" {
		file = filepath.Join(cfg.ConfigDir, "plain_acl.yml")
	}
	g.acl, err = acl.NewWatcher(acl.WatcherOptions{
		Path: file, Interval: cfg.AclReloadInterval.D(), Logger: logger.With("component", "acl"), OnReload: al.ACLReload,
	})
	if err != nil {
		al.Close()
		return nil, fmt.Errorf("broker: aclEnable: %w", err)
	}
	al.ACLReload(file, g.acl.Policy().Accounts(), nil)
	logger.Info("acl enabled", "path", file, "accounts", g.acl.Policy().Accounts())
	return g, nil
}

// wrap makes g the middleware around next.
func (g *guard) wrap(next remoting.Handler) remoting.Handler {
	g.next = next
	return g
}

// ServeRemoting checks req against the ACL, serves it, and audits admin operations.
func (g *guard) ServeRemoting(ctx context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	remote := conn.RemoteAddr()
	if g.acl != nil {
		err := g.acl.Validate(acl.Request{Code: req.Code, Fields: req.Header(), Body: req.Body, RemoteAddr: remote})
		if err != nil {
			var de *acl.DeniedError
			if errors.As(err, &de) {
				g.audit.Denied(de.AccessKey, remote, req.Code, de.Resource, de.Reason)
			}
			g.log.Debug("request denied", "remote", remote, "code", req.Code, "err", err)
			if req.IsOneway() {
				return nil
			}
			return remoting.NewResponse(req, int16(remoting.NoPermission), err.Error())
		}
	}
	resp := g.next.ServeRemoting(ctx, conn, req)
	if resource, ok := adminResource(req); ok {
		code, remark := int16(-1), "no response"
		if resp != nil {
			code, remark = resp.Code, resp.Remark
		}
		g.audit.Admin(req.Field(acl.FieldAccessKey), remote, req.Code, resource, code, remark)
	}
	return resp
}

// adminResource names what an admin operation touches; ok is false for other requests.
func adminResource(req *remoting.Command) (string, bool) {
	switch req.Code {
	case remoting.UpdateAndCreateTopic, remoting.DeleteTopicInBroker:
		return "topic " + req.Field("topic"), true
	case remoting.DeleteSubscriptionGroup:
		return "group " + req.Field("groupName"), true
	case remoting.UpdateAndCreateSubscription:
		return "subscription group config", true
	case invokeBrokerToResetOffset:
		return fmt.Sprintf("group %s topic %s", req.Field("group"), req.Field("topic")), true
	case acl.UpdateBrokerConfig:
		return "broker config", true
	}
	return "", false
}

// close stops the ACL watcher and closes the audit log.
func (g *guard) close() error {
	if g.acl != nil {
		g.acl.Close()
	}
	return g.audit.Close()
}
