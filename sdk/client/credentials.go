package client

import (
	"github.com/ternmq/tern/core/acl"
	"github.com/ternmq/tern/core/remoting"
)

// WithCredentials signs every request the client sends with RocketMQ ACL 1.0 credentials: the
// AccessKey, SecurityToken (optional, at most one) and HMAC-SHA1 Signature extFields RocketMQ's
// AclClientRPCHook adds (see core/acl). A broker with ACL enabled refuses unsigned requests,
// and requests its account may not make, with NO_PERMISSION (ErrNoPermission); the
// refusal's remark names the account, the resource and what was missing.
func WithCredentials(accessKey, secretKey string, securityToken ...string) Option {
	c := acl.Credentials{AccessKey: accessKey, SecretKey: secretKey}
	if len(securityToken) > 0 {
		c.SecurityToken = securityToken[0]
	}
	return commonOption(func(cfg *commonConfig) {
		if accessKey == "" || secretKey == "" {
			cfg.signer = nil
			return
		}
		cfg.signer = &signer{creds: c}
	})
}

// signer signs requests. A nil *signer leaves them as they are.
type signer struct{ creds acl.Credentials }

// sign returns a signed copy of req: the copy has its own extFields, so a request value shared
// by concurrent calls is never written to.
func (s *signer) sign(req *remoting.Command) *remoting.Command {
	if s == nil {
		return req
	}
	return acl.SignRequest(req, s.creds)
}
