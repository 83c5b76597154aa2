package protocol

import (
	"errors"
	"testing"
)

func TestTraceMessageHeader(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[string]string
		want   TraceMessageHeader
		err    error
	}{
		{"msg id", map[string]string{"msgId": "ID"}, TraceMessageHeader{MsgID: "ID"}, nil},
		{"msg id in a topic", map[string]string{"msgId": "ID", "topic": "T"}, TraceMessageHeader{MsgID: "ID", Topic: "T"}, nil},
		{"key", map[string]string{"key": "K", "topic": "T", "maxNum": "3"}, TraceMessageHeader{Key: "K", Topic: "T", MaxNum: 3}, nil},
		{"nothing", map[string]string{"topic": "T"}, TraceMessageHeader{}, ErrMissingField},
		{"both", map[string]string{"msgId": "ID", "key": "K", "topic": "T"}, TraceMessageHeader{}, ErrInvalidField},
		{"key without topic", map[string]string{"key": "K"}, TraceMessageHeader{}, ErrMissingField},
		{"bad maxNum", map[string]string{"key": "K", "topic": "T", "maxNum": "x"}, TraceMessageHeader{}, ErrInvalidField},
		{"negative maxNum", map[string]string{"key": "K", "topic": "T", "maxNum": "-1"}, TraceMessageHeader{}, ErrInvalidField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h TraceMessageHeader
			err := h.Decode(Map(tc.fields))
			if !errors.Is(err, tc.err) || tc.err != nil && err == nil {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if h != tc.want {
				t.Fatalf("decoded %+v, want %+v", h, tc.want)
			}
			var again TraceMessageHeader
			if err := again.Decode(Map(h.Encode())); err != nil || again != h {
				t.Fatalf("round trip: %+v %v", again, err)
			}
		})
	}
}
