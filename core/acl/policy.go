package acl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is the YAML file's layout (RocketMQ's plain_acl.yml keys).
type File struct {
	GlobalWhiteRemoteAddresses []string  `yaml:"globalWhiteRemoteAddresses"`
	Accounts                   []Account `yaml:"accounts"`
	// DataVersion is written by RocketMQ's admin tools; it is read and ignored.
	DataVersion yaml.Node `yaml:"dataVersion"`
}

// Account is one accounts entry.
type Account struct {
	AccessKey          string   `yaml:"accessKey"`
	SecretKey          string   `yaml:"secretKey"`
	WhiteRemoteAddress string   `yaml:"whiteRemoteAddress"`
	Admin              bool     `yaml:"admin"`
	DefaultTopicPerm   string   `yaml:"defaultTopicPerm"`
	DefaultGroupPerm   string   `yaml:"defaultGroupPerm"`
	TopicPerms         []string `yaml:"topicPerms"`
	GroupPerms         []string `yaml:"groupPerms"`
}

// minKeyLen is RocketMQ's shortest accessKey and secretKey.
const minKeyLen = 6

// Policy is a compiled ACL file. It is immutable and safe for concurrent use.
type Policy struct {
	global   []addrPattern
	accounts map[string]*account
}

// account is a compiled Account.
type account struct {
	accessKey, secretKey string
	white                addrPattern
	admin                bool
	defTopic, defGroup   Perm
	perms                map[string]Perm // topic, or %RETRY%group → permission
}

// Load reads and compiles the file at path.
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	p, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Parse compiles an ACL file's contents. Unknown keys, bad permissions, bad address patterns,
// short or duplicate keys are errors; all of them are reported.
func Parse(data []byte) (*Policy, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("acl: %w", err)
	}
	return Compile(f)
}

// Compile checks and compiles f.
func Compile(f File) (*Policy, error) {
	var errs []error
	p := &Policy{accounts: make(map[string]*account, len(f.Accounts))}
	for _, s := range f.GlobalWhiteRemoteAddresses {
		ap, err := parseAddrPattern(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("globalWhiteRemoteAddresses: %w", err))
			continue
		}
		p.global = append(p.global, ap)
	}
	for i, a := range f.Accounts {
		acc, err := compileAccount(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("accounts[%d]: %w", i, err))
			continue
		}
		if _, dup := p.accounts[acc.accessKey]; dup {
			errs = append(errs, fmt.Errorf("accounts[%d]: accessKey %q appears twice", i, acc.accessKey))
			continue
		}
		p.accounts[acc.accessKey] = acc
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func compileAccount(a Account) (*account, error) {
	if len(a.AccessKey) < minKeyLen || len(a.SecretKey) < minKeyLen {
		return nil, fmt.Errorf("acl: accessKey %q and its secretKey must have at least %d characters", a.AccessKey, minKeyLen)
	}
	acc := &account{accessKey: a.AccessKey, secretKey: a.SecretKey, admin: a.Admin, perms: make(map[string]Perm)}
	var errs []error
	var err error
	if acc.white, err = parseAddrPattern(a.WhiteRemoteAddress); err != nil {
		errs = append(errs, err)
	}
	if acc.defTopic, err = ParsePerm(a.DefaultTopicPerm); err != nil {
		errs = append(errs, fmt.Errorf("defaultTopicPerm: %w", err))
	}
	if acc.defGroup, err = ParsePerm(a.DefaultGroupPerm); err != nil {
		errs = append(errs, fmt.Errorf("defaultGroupPerm: %w", err))
	}
	add := func(list []string, group bool) {
		for _, s := range list {
			name, perm, err := parseResourcePerm(s)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if group {
				name = retryPrefix + name
			}
			acc.perms[name] = perm
		}
	}
	add(a.GroupPerms, true)
	add(a.TopicPerms, false)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("accessKey %q: %w", a.AccessKey, err)
	}
	return acc, nil
}

// Accounts returns the number of accounts (for logs).
func (p *Policy) Accounts() int { return len(p.accounts) }

// Perm is a permission bit set, with RocketMQ's values.
type Perm byte

// Permissions.
const (
	Deny Perm = 1 << 0
	Any  Perm = 1 << 1 // needed: PUB or SUB will do
	Pub  Perm = 1 << 2
	Sub  Perm = 1 << 3
)

// ParsePerm reads DENY, PUB, SUB, PUB|SUB or SUB|PUB. Empty is DENY.
func ParsePerm(s string) (Perm, error) {
	switch strings.TrimSpace(s) {
	case "", "DENY":
		return Deny, nil
	case "PUB":
		return Pub, nil
	case "SUB":
		return Sub, nil
	case "PUB|SUB", "SUB|PUB":
		return Pub | Sub, nil
	}
	return 0, fmt.Errorf("acl: permission %q is not DENY, PUB, SUB or PUB|SUB", s)
}

// String writes p as the file does.
func (p Perm) String() string {
	switch {
	case p&Deny != 0:
		return "DENY"
	case p&(Pub|Sub) == Pub|Sub:
		return "PUB|SUB"
	case p&Pub != 0:
		return "PUB"
	case p&Sub != 0:
		return "SUB"
	case p&Any != 0:
		return "ANY"
	}
	return "NONE"
}

// Allows reports whether owned permission p grants need (RocketMQ's checkPermission).
func (p Perm) Allows(need Perm) bool {
	if p&Deny != 0 {
		return false
	}
	if need&Any != 0 {
		return p&(Pub|Sub) != 0
	}
	return need&p != 0
}

// parseResourcePerm reads one "name=PERM" entry of topicPerms or groupPerms.
func parseResourcePerm(s string) (string, Perm, error) {
	name, perm, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.Contains(perm, "=") {
		return "", 0, fmt.Errorf("acl: %q is not name=PERM (e.g. topicA=SUB)", s)
	}
	p, err := ParsePerm(perm)
	if err != nil {
		return "", 0, err
	}
	if strings.TrimSpace(perm) == "" {
		return "", 0, fmt.Errorf("acl: %q has no permission", s)
	}
	return name, p, nil
}
