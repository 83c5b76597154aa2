package main

import (
	"encoding/json"
	"fmt"

	"github.com/ternmq/tern/sdk/plugin/txchecker"
)

// The HTTP contract (README.md). Field names are the wire format: never change them.

// checkRequest is the body of the POST.
type checkRequest struct {
	Messages []halfMessage `json:"messages"`
}

// halfMessage is one half message in a checkRequest.
type halfMessage struct {
	Topic          string            `json:"topic"`
	ProducerGroup  string            `json:"producerGroup"`
	TransactionID  string            `json:"transactionId"`
	MsgID          string            `json:"msgId"`
	Properties     map[string]string `json:"properties"`
	CheckTimes     int32             `json:"checkTimes"`
	BornTimestamp  int64             `json:"bornTimestamp"`
	StoreTimestamp int64             `json:"storeTimestamp"`
	Body           []byte            `json:"body,omitzero"` // base64; only with needsBody
}

// checkResponse is the body of a 200 answer. Other fields are ignored.
type checkResponse struct {
	Resolutions []string `json:"resolutions"`
}

// request returns the POST body for msgs.
func (cfg *config) request(msgs []txchecker.HalfMessage) checkRequest {
	req := checkRequest{Messages: make([]halfMessage, len(msgs))}
	for i, m := range msgs {
		h := halfMessage{
			Topic:          m.Topic,
			ProducerGroup:  m.ProducerGroup,
			TransactionID:  m.TransactionID,
			MsgID:          m.MsgID,
			Properties:     m.Properties,
			CheckTimes:     m.CheckTimes,
			BornTimestamp:  m.BornTimestamp,
			StoreTimestamp: m.StoreTimestamp,
		}
		if h.Properties == nil {
			h.Properties = map[string]string{} // {} rather than null
		}
		if cfg.needsBody {
			h.Body = m.Body
			if h.Body == nil {
				h.Body = []byte{} // "" rather than no field: an empty body
			}
		}
		req.Messages[i] = h
	}
	return req
}

// parseAnswer reads a 200 answer to a batch of n messages.
func parseAnswer(data []byte, n int) ([]txchecker.Resolution, error) {
	var resp checkResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf(`the answer is not JSON like {"resolutions":[...]}: %v`, err)
	}
	if len(resp.Resolutions) != n {
		return nil, fmt.Errorf("the answer has %d resolutions for %d messages", len(resp.Resolutions), n)
	}
	out := make([]txchecker.Resolution, n)
	for i, word := range resp.Resolutions {
		for r := txchecker.Commit; r <= txchecker.AskProducer; r++ {
			if word == r.String() {
				out[i] = r
			}
		}
		if out[i] == 0 {
			return nil, fmt.Errorf("resolution %d is %q, not COMMIT, ROLLBACK, UNKNOWN or ASK_PRODUCER", i, word)
		}
	}
	return out, nil
}
