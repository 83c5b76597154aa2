package remoting

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/ternmq/tern/core/remoting/tlsconf/tlstest"
)

// outcome is what one Invoke of codeEcho should give: a response code and remark, or an
// error containing err.
type outcome struct {
	code   Code
	remark string
	err    string
}

var echoed = outcome{code: Success, remark: "echo"}

// checkInvoke invokes codeEcho at addr with a new client of cfg (nil: plaintext).
func checkInvoke(t *testing.T, addr string, cfg *tls.Config, want outcome) {
	t.Helper()
	cl := newClient(t, ClientOptions{TLS: cfg})
	resp, err := cl.Invoke(testCtx(t), addr, NewRequest(codeEcho, nil, nil))
	switch {
	case want.err != "":
		if err == nil || !strings.Contains(err.Error(), want.err) {
			t.Fatalf("got %v, want an error containing %q", err, want.err)
		}
	case err != nil:
		t.Fatalf("invoke: %v", err)
	case Code(resp.Code) != want.code || resp.Remark != want.remark:
		t.Fatalf("got %s %q, want %s %q", Code(resp.Code), resp.Remark, want.code, want.remark)
	}
}

func TestTLSModes(t *testing.T) {
	certs := tlstest.New(t)
	trusted := certs.ClientConfig(t, false)
	tests := []struct {
		name   string
		mode   TLSMode
		client *tls.Config
		want   outcome
	}{
		{"disabled plaintext", TLSDisabled, nil, echoed},
		{"disabled refuses tls", TLSDisabled, trusted, outcome{err: "remoting: tls handshake with"}},
		{"permissive plaintext", TLSPermissive, nil, echoed},
		{"permissive tls", TLSPermissive, trusted, echoed},
		{"enforcing tls", TLSEnforcing, trusted, echoed},
		{"enforcing answers plaintext", TLSEnforcing, nil, outcome{code: SystemError, remark: RemarkTLSRequired}},
		{"wrong CA", TLSEnforcing, certs.WrongCAConfig(t), outcome{err: "certificate signed by unknown authority"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			_, addr := startServer(t, ServerOptions{Logger: logs.logger(), TLS: certs.ServerConfig(t, tls.NoClientCert), TLSMode: tc.mode}, testMux(newBlocker()))
			checkInvoke(t, addr, tc.client, tc.want)
		})
	}
}

func TestTLSClientAuth(t *testing.T) {
	certs := tlstest.New(t)
	tests := []struct {
		name   string
		auth   tls.ClientAuthType
		client *tls.Config
		want   outcome
	}{
		{"require with certificate", tls.RequireAndVerifyClientCert, certs.ClientConfig(t, true), echoed},
		{"require without certificate", tls.RequireAndVerifyClientCert, certs.ClientConfig(t, false), outcome{err: "certificate required"}},
		// The server names its CAs: a client holding only another CA's certificate sends none.
		{"require with an unknown CA's certificate", tls.RequireAndVerifyClientCert, certs.OtherClientConfig(t), outcome{err: "certificate required"}},
		{"optional without certificate", tls.VerifyClientCertIfGiven, certs.ClientConfig(t, false), echoed},
		{"optional with certificate", tls.VerifyClientCertIfGiven, certs.ClientConfig(t, true), echoed},
		{"optional with an unknown CA's certificate", tls.VerifyClientCertIfGiven, certs.OtherClientConfig(t), echoed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			s, addr := startServer(t, ServerOptions{Logger: logs.logger(), TLS: certs.ServerConfig(t, tc.auth), TLSMode: TLSEnforcing}, testMux(newBlocker()))
			checkInvoke(t, addr, tc.client, tc.want)
			// The client may see the failure before the server's handshake goroutine logs it:
			// Close waits for that goroutine.
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tc.want.err != "" && !strings.Contains(logs.String(), "tls handshake failed") {
				t.Fatalf("the server did not log the failed handshake:\n%s", logs.String())
			}
		})
	}
}

func TestTLSPerListener(t *testing.T) {
	certs := tlstest.New(t)
	s, plainAddr := startServer(t, ServerOptions{TLS: certs.ServerConfig(t, tls.NoClientCert)}, testMux(newBlocker()))
	tlsAddr, err := s.ListenMode("127.0.0.1:0", TLSEnforcing)
	if err != nil {
		t.Fatal(err)
	}
	checkInvoke(t, plainAddr, nil, echoed)
	checkInvoke(t, tlsAddr.String(), certs.ClientConfig(t, false), echoed)
	checkInvoke(t, tlsAddr.String(), nil, outcome{code: SystemError, remark: RemarkTLSRequired})

	noTLS := NewServer(ServerOptions{}, nil)
	defer closeServer(t, noTLS)
	if _, err := noTLS.ListenMode("127.0.0.1:0", TLSPermissive); !errors.Is(err, errNoTLSConfig) {
		t.Fatalf("ListenMode without a TLS config: %v", err)
	}
}

func TestParseTLSMode(t *testing.T) {
	for in, want := range map[string]TLSMode{"": TLSDisabled, "disabled": TLSDisabled, "Permissive": TLSPermissive, " enforcing ": TLSEnforcing} {
		if got, err := ParseTLSMode(in); err != nil || got != want {
			t.Errorf("ParseTLSMode(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseTLSMode("on"); err == nil {
		t.Error(`ParseTLSMode("on") did not fail`)
	}
}

func TestMaxConnections(t *testing.T) {
	certs := tlstest.New(t)
	tests := []struct {
		name   string
		mode   TLSMode
		client *tls.Config
	}{
		{"plaintext", TLSDisabled, nil},
		{"tls", TLSPermissive, certs.ClientConfig(t, false)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			gone := make(chan *Conn, 10)
			s, addr := startServer(t, ServerOptions{
				Logger: logs.logger(), MaxConnections: 1, TLS: certs.ServerConfig(t, tls.NoClientCert), TLSMode: tc.mode,
				OnDisconnect: func(c *Conn) { gone <- c },
			}, testMux(newBlocker()))
			first := newClient(t, ClientOptions{TLS: tc.client})
			resp, err := first.Invoke(testCtx(t), addr, NewRequest(codeEcho, nil, nil))
			if err != nil || Code(resp.Code) != Success {
				t.Fatalf("first connection: %v %v", resp, err)
			}
			checkInvoke(t, addr, tc.client, outcome{code: SystemBusy, remark: RemarkTooManyConnections})
			if n := s.RefusedConns(); n != 1 {
				t.Fatalf("RefusedConns %d, want 1", n)
			}
			if !strings.Contains(logs.String(), "connection refused: too many connections") {
				t.Fatalf("refusal not logged:\n%s", logs.String())
			}
			first.Close()
			select {
			case <-gone:
			case <-testCtx(t).Done():
				t.Fatal("the first connection did not close")
			}
			checkInvoke(t, addr, tc.client, echoed) // room again
		})
	}
}
