package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/sdk/client"
)

// checkRequest is what the HTTP endpoint of http-txchecker is asked about one half message
// (plugin-examples/http-txchecker/README.md).
type checkRequest struct {
	Topic         string            `json:"topic"`
	ProducerGroup string            `json:"producerGroup"`
	TransactionID string            `json:"transactionId"`
	MsgID         string            `json:"msgId"`
	Properties    map[string]string `json:"properties"`
	CheckTimes    int               `json:"checkTimes"`
}

// txEndpoint is the service that knows the outcome of each transaction: by the KEYS of the
// message, COMMIT for "commit-me", ROLLBACK for "rollback-me", UNKNOWN for anything else. It
// remembers every request.
type txEndpoint struct {
	mu   sync.Mutex
	seen map[string]checkRequest // by transactionId
}

func (e *txEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Messages []checkRequest `json:"messages"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	out := make([]string, len(req.Messages))
	e.mu.Lock()
	for i, m := range req.Messages {
		e.seen[m.TransactionID] = m
		out[i] = map[string]string{"commit-me": "COMMIT", "rollback-me": "ROLLBACK"}[m.Properties["KEYS"]]
		if out[i] == "" {
			out[i] = "UNKNOWN"
		}
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"resolutions": out})
}

func (e *txEndpoint) request(id string) (checkRequest, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.seen[id]
	return r, ok
}

// undecided leaves every local transaction unknown, and every check too.
type undecided struct{}

func (undecided) ExecuteLocal(context.Context, *client.Message, *client.SendResult) client.TxState {
	return client.TxUnknown
}
func (undecided) Check(context.Context, *client.MessageExt) client.TxState { return client.TxUnknown }

// TestHTTPTxCheckerResolves: two transactions left unknown by a sdk/client producer that then
// goes away are resolved by the http-txchecker plugin process asking an HTTP endpoint: the
// committed one is delivered exactly once, the rolled-back one never.
func TestHTTPTxCheckerResolves(t *testing.T) {
	ep := &txEndpoint{seen: map[string]checkRequest{}}
	srv := httptest.NewServer(ep) // 127.0.0.1
	defer srv.Close()
	h, c := startPluginCluster(t, `  - name: http-tx
    kind: txchecker
`+external(t, httpCheckerBin)+`    timeout: 5s
    config:
      url: `+srv.URL+`/check
      timeout: 3s
`, func(cfg *broker.Config) {
		cfg.TransactionCheckInterval = config.Millis(200 * time.Millisecond)
		cfg.TransactionTimeOut = config.Millis(500 * time.Millisecond)
		cfg.TransactionCheckMax = 1000
	})
	const topic, group = "Payments", "payment-service"
	if err := c.CreateTopic(topic, 2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := client.NewTransactionProducer(group, undecided{}, client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string]*client.TransactionResult{}
	for _, key := range []string{"commit-me", "rollback-me"} {
		res, err := p.SendInTransaction(ctx, &client.Message{Topic: topic, Body: []byte(key), Keys: []string{key}})
		if err != nil || res.State != client.TxUnknown {
			t.Fatalf("send %s: %+v %v", key, res, err)
		}
		sent[key] = res
	}
	if err := p.Close(ctx); err != nil { // the producers are gone
		t.Fatal(err)
	}
	got := consume(t, c, "cg-payments", nil, topic)
	got.wait(t, 60*time.Second, 1, "commit-me")

	// Both were asked about, with their group and ids; both ended (an op record each).
	for key, res := range sent {
		req, ok := ep.request(res.TransactionID)
		for deadline := time.Now().Add(30 * time.Second); !ok; req, ok = ep.request(res.TransactionID) {
			if time.Now().After(deadline) {
				t.Fatalf("the endpoint was never asked about %s (%s)", key, res.TransactionID)
			}
			time.Sleep(10 * time.Millisecond) // polling the endpoint's record
		}
		if req.Topic != topic || req.ProducerGroup != group || req.MsgID != res.MsgID || req.CheckTimes < 1 {
			t.Errorf("asked about %s with %+v, sent %+v", key, req, res.SendResult)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); storedIn(t, c, protocol.TransOpHalfTopic, 1) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the transactions did not end")
		}
		time.Sleep(20 * time.Millisecond) // polling the store
	}
	if n := storedIn(t, c, topic, 2); n != 1 {
		t.Fatalf("%d messages stored in %s, want 1", n, topic)
	}
	if ms := got.get("commit-me"); len(ms) != 1 || ms[0].MsgID != sent["commit-me"].MsgID {
		t.Fatalf("commit-me delivered %d times", len(ms))
	}
	if n := len(got.get("rollback-me")); n != 0 {
		t.Fatalf("rolled-back message delivered %d times", n)
	}
	st := pluginStats(t, h, "http-tx")
	t.Logf("plugin calls %d, errors %d", st.Calls, st.Errors)
}
