package main

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ternmq/tern/sdk/plugin"
)

// defaultTimeout is the HTTP timeout when the config sets none. Give the plugin a longer call
// timeout in the manifest (its default is 2s too), so that the plugin answers with its own
// error, naming the URL, rather than the broker giving up first.
const defaultTimeout = 2 * time.Second

// knownKeys lists the config keys, for the error about an unknown one.
const knownKeys = "headers, needsBody, timeout, url"

// config is a parsed config and the client that goes with it. It is immutable once built.
type config struct {
	url       string
	shownURL  string // url without its password, for errors
	headers   http.Header
	needsBody bool
	client    *http.Client
}

// parseConfig reads the manifest's config block (see README.md). Errors wrap
// plugin.ErrInvalidArgument and name the key.
func parseConfig(m map[string]any) (*config, error) {
	cfg := &config{headers: http.Header{}}
	timeout := defaultTimeout
	for _, k := range slices.Sorted(maps.Keys(m)) {
		var err error
		switch k {
		case "url":
			err = cfg.setURL(m[k])
		case "timeout":
			timeout, err = parseTimeout(m[k])
		case "headers":
			err = cfg.setHeaders(m[k])
		case "needsBody":
			var ok bool
			if cfg.needsBody, ok = m[k].(bool); !ok {
				err = fmt.Errorf("want true or false, not %v", m[k])
			}
		default:
			err = fmt.Errorf("unknown config key (known: %s)", knownKeys)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: httpchecker: %s: %v", plugin.ErrInvalidArgument, k, err)
		}
	}
	if cfg.url == "" {
		return nil, fmt.Errorf("%w: httpchecker: url is required", plugin.ErrInvalidArgument)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone() // proxies from the plugin's env
	cfg.client = &http.Client{
		Transport: transport,
		Timeout:   timeout,
		// A redirect is answered as what it is, a status other than 200.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return cfg, nil
}

func (cfg *config) setURL(v any) error {
	s, _ := v.(string)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an http:// or https:// URL with a host, not %q", redact(s))
	}
	cfg.url, cfg.shownURL = s, u.Redacted()
	return nil
}

// redact hides the password of what may be a URL.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

func parseTimeout(v any) (time.Duration, error) {
	s, _ := v.(string)
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a positive duration like \"2s\", not %v", v)
	}
	return d, nil
}

func (cfg *config) setHeaders(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("want a map of header names to values, not %v", v)
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		s, ok := m[name].(string)
		if !ok || strings.ContainsAny(s, "\r\n\x00") {
			return fmt.Errorf("%s: want a one-line string value", name)
		}
		if !isToken(name) {
			return fmt.Errorf("%q is not a header name", name)
		}
		cfg.headers.Set(name, s)
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2), as header names are.
func isToken(s string) bool {
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
