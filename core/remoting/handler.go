package remoting

import (
	"context"
	"fmt"
)

// Handler serves one request that arrived on conn. It returns the response to send, or nil to
// send nothing now: for a oneway request, or when the handler keeps the request and answers
// later with conn.Send (a long-polling pull). The server fills in the response's opaque, flag
// and encoding from the request. Handlers run concurrently; ctx ends when the connection closes
// or the server stops.
type Handler interface {
	ServeRemoting(ctx context.Context, conn *Conn, req *Command) *Command
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, conn *Conn, req *Command) *Command

// ServeRemoting calls f.
func (f HandlerFunc) ServeRemoting(ctx context.Context, conn *Conn, req *Command) *Command {
	return f(ctx, conn, req)
}

// Mux routes requests to handlers by request code. Register handlers before serving; a Mux is
// not changed afterwards. Unknown codes get REQUEST_CODE_NOT_SUPPORTED, as RocketMQ answers them.
type Mux struct {
	handlers map[int16]Handler
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{handlers: make(map[int16]Handler)} }

// Handle registers h for code.
func (m *Mux) Handle(code int16, h Handler) { m.handlers[code] = h }

// HandleFunc registers f for code.
func (m *Mux) HandleFunc(code int16, f func(ctx context.Context, conn *Conn, req *Command) *Command) {
	m.handlers[code] = HandlerFunc(f)
}

// ServeRemoting dispatches req by its code.
func (m *Mux) ServeRemoting(ctx context.Context, conn *Conn, req *Command) *Command {
	if h := m.handlers[req.Code]; h != nil {
		return h.ServeRemoting(ctx, conn, req)
	}
	return NewResponse(req, int16(RequestCodeNotSupported), fmt.Sprintf(" request type %d not supported", req.Code))
}

// ErrorResponse answers req with the response code of err (see CodeOf) and err's text as the
// remark.
func ErrorResponse(req *Command, err error) *Command {
	return NewResponse(req, int16(CodeOf(err)), err.Error())
}
