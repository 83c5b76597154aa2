package acl

import (
	"testing"
)

// The expected signatures were computed with Java's HmacSHA1 and Base64, from a TreeMap of the
// fields as RocketMQ's AclUtils.combineRequestContent and AclSigner do (not with this package).
func TestSignatureJavaVectors(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		body   []byte
		secret string
		want   string
	}{
		{"access key only", map[string]string{"AccessKey": "RocketMQ"}, nil, "12345678", "IUc8rrO/0gDch8CjObLQsW2rsiA="},
		{"pull header", map[string]string{"AccessKey": "RocketMQ", "topic": "TopicTest", "consumerGroup": "cg", "queueId": "3"}, nil, "12345678", "qJYPDh/T0qsktWw/wSpnTrg7w7Q="},
		{"send with token, properties and a UTF-8 body", map[string]string{
			"AccessKey": "alice-key", "SecurityToken": "tok-1", "a": "pg", "b": "Orders", "e": "1",
			"i": "KEYS\x01k1\x02UNIQ_KEY\x01AB\x02",
		}, []byte("héllo body"), "s3cr3t-ünï", "rKI5PIUk34XfUb7t5qH0B5DW+vg="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Signature(Content(tt.fields, skipServer, tt.body), tt.secret); got != tt.want {
				t.Fatalf("signature %s, want %s", got, tt.want)
			}
			// A previous Signature field is not part of the content.
			f := map[string]string{"Signature": "stale"}
			for k, v := range tt.fields {
				f[k] = v
			}
			if got := Signature(Content(f, skipServer, tt.body), tt.secret); got != tt.want {
				t.Fatalf("with a Signature field: %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	c := Credentials{AccessKey: "RocketMQ", SecretKey: "12345678"}
	f := Sign(map[string]string{"topic": "TopicTest", "consumerGroup": "cg", "queueId": "3"}, c)
	if f[FieldSignature] != "qJYPDh/T0qsktWw/wSpnTrg7w7Q=" || f[FieldAccessKey] != "RocketMQ" {
		t.Fatalf("signed fields %v", f)
	}
	if _, ok := f[FieldSecurityToken]; ok {
		t.Fatal("SecurityToken added without a token")
	}
	body := []byte("body")
	tests := []struct {
		name   string
		edit   func(map[string]string) []byte
		secret string
		ok     bool
	}{
		{"as signed", func(map[string]string) []byte { return body }, "12345678", true},
		{"wrong secret", func(map[string]string) []byte { return body }, "87654321", false},
		{"field changed", func(f map[string]string) []byte { f["queueId"] = "4"; return body }, "12345678", false},
		{"field added", func(f map[string]string) []byte { f["x"] = "1"; return body }, "12345678", false},
		{"body changed", func(map[string]string) []byte { return []byte("bodx") }, "12345678", false},
		{"no signature", func(f map[string]string) []byte { delete(f, FieldSignature); return body }, "12345678", false},
		{"unique key query flag added after signing", func(f map[string]string) []byte { f[fieldUniqueKeyQuery] = "true"; return body }, "12345678", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Sign(map[string]string{"topic": "T", "queueId": "3"}, c, body)
			b := tt.edit(f)
			if got := verify(f, b, tt.secret); got != tt.ok {
				t.Fatalf("verify = %v, want %v", got, tt.ok)
			}
		})
	}
}

// rocketmq-client-go v2.1.2 sends its SecurityToken but leaves it out of what it signs.
func TestVerifyGoClientTokenQuirk(t *testing.T) {
	f := map[string]string{"AccessKey": "RocketMQ", "topic": "T"}
	f[FieldSignature] = Signature(Content(f, skipServer), "12345678")
	f[FieldSecurityToken] = "tok"
	if !verify(f, nil, "12345678") {
		t.Fatal("the Go client's signature with a token is refused")
	}
	signed := Sign(map[string]string{"topic": "T"}, Credentials{AccessKey: "RocketMQ", SecretKey: "12345678", SecurityToken: "tok"})
	if !verify(signed, nil, "12345678") || signed[FieldSecurityToken] != "tok" {
		t.Fatal("the Java client's signature with a token is refused")
	}
}

func TestSignNilFieldsAndBodyParts(t *testing.T) {
	c := Credentials{AccessKey: "RocketMQ", SecretKey: "12345678"}
	f := Sign(nil, c, []byte("ab"), []byte("cd"))
	if !verify(f, []byte("abcd"), c.SecretKey) {
		t.Fatal("body parts are not signed as one body")
	}
}
