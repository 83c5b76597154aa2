// Command http-txchecker is an example Tern transaction checker plugin: it resolves half
// messages by asking an HTTP endpoint named in its config, one POST per batch, which is useful
// when the producers that could answer CHECK_TRANSACTION_STATE are gone. See README.md for
// the HTTP contract and for how to install it.
//
// The binary is started by the broker (plugins of kind txchecker in the manifest), never by
// hand.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/txchecker"
)

// Name and Version identify the plugin in Init's answer.
const (
	Name    = "http"
	Version = "1.0.0"
)

// maxAnswer is the largest response body read; a larger one is an error.
const maxAnswer = 1 << 20

// maxQuoted is how much of a failed response's body an error quotes.
const maxQuoted = 256

func main() {
	txchecker.Serve(&httpChecker{})
}

// httpChecker implements txchecker.TxChecker. Its methods are safe for concurrent use.
type httpChecker struct {
	cfg atomic.Pointer[config] // nil until Init; replaced as a whole by a later Init
}

var _ txchecker.TxChecker = (*httpChecker)(nil)

// Init reads the config (url, timeout, headers, needsBody; see README.md). Anything wrong, or
// an unknown key, is an error wrapping plugin.ErrInvalidArgument.
func (c *httpChecker) Init(ctx context.Context, m map[string]any) (txchecker.Info, error) {
	if err := ctx.Err(); err != nil {
		return txchecker.Info{}, err
	}
	cfg, err := parseConfig(m)
	if err != nil {
		return txchecker.Info{}, err
	}
	if old := c.cfg.Swap(cfg); old != nil {
		old.client.CloseIdleConnections()
	}
	return txchecker.Info{Name: Name, Version: Version, NeedsBody: cfg.needsBody}, nil
}

// close drops the idle connections to the endpoint.
func (c *httpChecker) close() {
	if cfg := c.cfg.Load(); cfg != nil {
		cfg.client.CloseIdleConnections()
	}
}

// Check POSTs the batch to the endpoint and returns its answer. Any failure fails the whole
// batch: the broker keeps the half messages and checks them again later.
func (c *httpChecker) Check(ctx context.Context, msgs []txchecker.HalfMessage) ([]txchecker.Resolution, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg := c.cfg.Load()
	if cfg == nil {
		return nil, fmt.Errorf("%w: httpchecker: Check before Init", plugin.ErrUnavailable)
	}
	if len(msgs) == 0 {
		return []txchecker.Resolution{}, nil
	}
	body, err := json.Marshal(cfg.request(msgs))
	if err != nil {
		return nil, fmt.Errorf("%w: httpchecker: encode request: %v", plugin.ErrInternal, err)
	}
	data, err := cfg.post(ctx, body)
	if err != nil {
		return nil, err
	}
	out, err := parseAnswer(data, len(msgs))
	if err != nil {
		return nil, cfg.fail(plugin.ErrInternal, "200 OK but %v", err)
	}
	return out, nil
}

// post sends body and returns the body of a 200 answer. Transport errors, 5xx and 429 wrap
// plugin.ErrUnavailable; any other status, or an answer over maxAnswer, plugin.ErrInternal.
func (cfg *config) post(ctx context.Context, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.url, bytes.NewReader(body))
	if err != nil {
		return nil, cfg.fail(plugin.ErrInternal, "%v", err)
	}
	req.Header = cfg.headers.Clone()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := cfg.client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // it repeats the URL
		}
		return nil, fmt.Errorf("%w: httpchecker: POST %s: %w", plugin.ErrUnavailable, cfg.shownURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, cfg.fail(plugin.ErrUnavailable, "%s%s", resp.Status, quote(data))
	case resp.StatusCode != http.StatusOK:
		return nil, cfg.fail(plugin.ErrInternal, "%s%s", resp.Status, quote(data))
	case err != nil:
		return nil, cfg.fail(plugin.ErrUnavailable, "200 OK but reading the answer failed: %v", err)
	case len(data) > maxAnswer:
		return nil, cfg.fail(plugin.ErrInternal, "200 OK but the answer is larger than %d bytes", maxAnswer)
	}
	return data, nil
}

// fail returns an error of the given kind (a plugin sentinel) about a POST to the endpoint.
func (cfg *config) fail(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: httpchecker: POST %s: %s", kind, cfg.shownURL, fmt.Sprintf(format, args...))
}

// quote returns the start of a failed response's body for an error message, or "".
func quote(data []byte) string {
	if len(data) == 0 {
		return ""
	}
	if len(data) > maxQuoted {
		return fmt.Sprintf(": %q…", data[:maxQuoted])
	}
	return fmt.Sprintf(": %q", data)
}
