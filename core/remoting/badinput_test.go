package remoting

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestBadInput sends malformed bytes on raw sockets: the server must close that connection
// only, log why, and keep serving a healthy client.
func TestBadInput(t *testing.T) {
	const max = 4096
	length := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	tests := []struct {
		name    string
		input   []byte
		wantLog string // in the warning; "" when the close is not a protocol error
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"), "frame too large"},
		{"absurd length", length(0x7FFFFFFF), "length 2147483647 exceeds the limit of 4096 bytes"},
		{"length below 4", append(length(2), 0, 0), "length 2 is below 4"},
		{"negative length", length(0x80000000), "length -2147483648 is below 4"},
		{"header length beyond the frame", append(length(8), 0, 0, 0, 200, '{', '}', ' ', ' '), "header length 200 exceeds the frame's 4 bytes"},
		{"frame of max+1", length(max + 1), "length 4097 exceeds the limit of 4096 bytes"},
		{"unknown serialize type", frameOf(7, []byte("{}"), nil), "unknown serialize type 7"},
		{"invalid JSON header", frameOf(JSON, []byte(`{"code":"x"}`), nil), "bad frame: JSON header"},
		{"binary header truncated", frameOf(RocketMQ, []byte{0, 1, 2}, nil), "bad frame: ROCKETMQ header"},
		{"torn frame", length(100), ""},
	}
	var logs logBuffer
	_, addr := startServer(t, ServerOptions{MaxFrameSize: max, Logger: logs.logger()}, testMux(newBlocker()))
	healthy := newClient(t, ClientOptions{})
	ctx := testCtx(t)
	if _, err := healthy.Invoke(ctx, addr, NewRequest(codeEcho, nil, nil)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := nc.Write(tc.input); err != nil {
				t.Fatal(err)
			}
			if tc.wantLog == "" {
				nc.(*net.TCPConn).CloseWrite() // the stream ends inside the frame
			}
			// The server closes the connection without writing anything.
			nc.SetReadDeadline(time.Now().Add(waitLimit))
			n, err := io.Copy(io.Discard, nc)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("server did not close the connection")
			}
			if n != 0 {
				t.Fatalf("server wrote %d bytes", n)
			}
			if tc.wantLog != "" {
				if l := logs.String(); !strings.Contains(l, "closing connection: bad frame") || !strings.Contains(l, tc.wantLog) {
					t.Fatalf("log lacks %q:\n%s", tc.wantLog, l)
				}
			}
			resp, err := healthy.Invoke(ctx, addr, NewRequest(codeEcho, map[string]string{"after": tc.name}, nil))
			if err != nil || resp.Field("after") != tc.name {
				t.Fatalf("healthy client after %s: %v %v", tc.name, resp, err)
			}
		})
	}
}
