package acl

import (
	"fmt"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// Request is what a decision looks at.
type Request struct {
	Code       int16
	Fields     map[string]string // extFields
	Body       []byte
	RemoteAddr string // "ip:port" or "ip"
}

// DeniedError is why a request was refused. Its text is the response remark; it matches
// remoting.ErrNoPermission with errors.Is.
type DeniedError struct {
	AccessKey  string // "" when the request carried none
	RemoteAddr string
	Code       int16
	Resource   string // "topic T", "group G", or "" when the refusal is not about one
	Reason     string
}

func (e *DeniedError) Error() string {
	who := "no AccessKey"
	if e.AccessKey != "" {
		who = fmt.Sprintf("accessKey %q", e.AccessKey)
	}
	on := ""
	if e.Resource != "" {
		on = " on " + e.Resource
	}
	return fmt.Sprintf("acl: request code %d from %s (%s) denied%s: %s", e.Code, e.RemoteAddr, who, on, e.Reason)
}

// Unwrap makes errors.Is(err, remoting.ErrNoPermission) hold.
func (e *DeniedError) Unwrap() error { return remoting.ErrNoPermission }

// Validate decides r (see the package doc). It returns nil or a *DeniedError.
func (p *Policy) Validate(r Request) error {
	ip := remoteIP(r.RemoteAddr)
	for _, g := range p.global {
		if g.match(ip) {
			return nil
		}
	}
	ak := r.Fields[FieldAccessKey]
	deny := func(resource, format string, a ...any) error {
		return &DeniedError{AccessKey: ak, RemoteAddr: r.RemoteAddr, Code: r.Code, Resource: resource, Reason: fmt.Sprintf(format, a...)}
	}
	if ak == "" {
		return deny("", "the request is not signed: configure the client with an AccessKey and SecretKey")
	}
	acc := p.accounts[ak]
	if acc == nil {
		return deny("", "no account has this AccessKey")
	}
	if acc.white.match(ip) {
		return nil
	}
	if r.Fields[FieldSignature] == "" {
		return deny("", "the request has no Signature")
	}
	if !verify(r.Fields, r.Body, acc.secretKey) {
		return deny("", "the signature does not match: wrong SecretKey, or the request was changed after signing")
	}
	needs, err := resources(r.Code, r.Fields, r.Body)
	if err != nil {
		return deny("", "cannot tell what the request touches: %v", err)
	}
	for _, n := range needs {
		if n.resource == protocol.TraceTopic && n.perm == Pub {
			return nil // message trace is always allowed, as in RocketMQ
		}
	}
	if IsAdminCode(r.Code) && !acc.admin {
		return deny("", "admin permission needed, and the account is not an admin")
	}
	if acc.admin && len(acc.perms) == 0 {
		return nil
	}
	for _, n := range needs {
		owned, listed := acc.perms[n.resource]
		source := "its permission"
		if !listed {
			owned, source = acc.defTopic, "its defaultTopicPerm"
			if protocol.IsRetryTopic(n.resource) {
				owned, source = acc.defGroup, "its defaultGroupPerm"
			}
		}
		if !owned.Allows(n.perm) {
			return deny(describe(n.resource), "%s permission needed, %s is %s", n.perm, source, owned)
		}
	}
	return nil
}
