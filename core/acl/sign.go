package acl

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"slices"

	"github.com/ternmq/tern/core/remoting"
)

// The extFields of a signed request (wire format, never change).
const (
	FieldAccessKey     = "AccessKey"
	FieldSecurityToken = "SecurityToken"
	FieldSignature     = "Signature"
	// fieldUniqueKeyQuery is RocketMQ's MixAll.UNIQUE_MSG_QUERY_FLAG, left out by its broker.
	fieldUniqueKeyQuery = "_UNIQUE_KEY_QUERY"
)

// Credentials are what a client signs its requests with.
type Credentials struct {
	AccessKey     string
	SecretKey     string
	SecurityToken string // optional
}

// Content returns what is signed: the values of fields in the byte order of their keys, except
// those for which skip is true, followed by the body parts.
func Content(fields map[string]string, skip func(key string) bool, body ...[]byte) []byte {
	keys := make([]string, 0, len(fields))
	n := 0
	for k, v := range fields {
		if skip != nil && skip(k) {
			continue
		}
		keys = append(keys, k)
		n += len(v)
	}
	slices.Sort(keys)
	for _, b := range body {
		n += len(b)
	}
	out := make([]byte, 0, n)
	for _, k := range keys {
		out = append(out, fields[k]...)
	}
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

// Signature is base64(HMAC-SHA1(secretKey, content)), RocketMQ's AclSigner.
func Signature(content []byte, secretKey string) string {
	mac := hmac.New(sha1.New, []byte(secretKey))
	mac.Write(content)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Sign adds AccessKey, SecurityToken (if any) and Signature to fields, as RocketMQ's
// AclClientRPCHook does, and returns fields (a new map if fields is nil). A previous
// Signature is replaced; _UNIQUE_KEY_QUERY is left out of the content, as brokers verify.
func Sign(fields map[string]string, c Credentials, body ...[]byte) map[string]string {
	if fields == nil {
		fields = make(map[string]string, 3)
	}
	fields[FieldAccessKey] = c.AccessKey
	if c.SecurityToken != "" {
		fields[FieldSecurityToken] = c.SecurityToken
	}
	fields[FieldSignature] = Signature(Content(fields, skipServer, body...), c.SecretKey)
	return fields
}

// skipServer leaves out what RocketMQ's broker leaves out of the content.
func skipServer(k string) bool { return k == FieldSignature || k == fieldUniqueKeyQuery }

// verify reports whether fields carry a valid signature under secretKey, accepting the
// client quirks described in the package doc.
func verify(fields map[string]string, body []byte, secretKey string) bool {
	got := []byte(fields[FieldSignature])
	if len(got) == 0 {
		return false
	}
	check := func(skip func(string) bool) bool {
		return hmac.Equal(got, []byte(Signature(Content(fields, skip, body), secretKey)))
	}
	if check(skipServer) {
		return true
	}
	if _, ok := fields[FieldSecurityToken]; ok && check(func(k string) bool { return skipServer(k) || k == FieldSecurityToken }) {
		return true
	}
	if _, ok := fields[fieldUniqueKeyQuery]; ok && check(func(k string) bool { return k == FieldSignature }) {
		return true
	}
	return false
}

// SignRequest returns a signed copy of req: the copy has its own extFields, so a request value
// shared by concurrent calls is never written to. Empty credentials leave req as it is.
func SignRequest(req *remoting.Command, c Credentials) *remoting.Command {
	if c.AccessKey == "" || c.SecretKey == "" {
		return req
	}
	out := *req
	out.ExtFields, out.Fields = Sign(req.FieldMap(), c, append([][]byte{req.Body}, req.BodyParts...)...), nil
	return &out
}
