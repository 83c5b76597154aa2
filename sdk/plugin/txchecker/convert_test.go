package txchecker

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ternmq/tern/plugins/proto/pluginv1"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/internal/shim"
)

func TestConvertRoundTrip(t *testing.T) {
	msgs := []HalfMessage{
		{},
		{
			Topic: "t", ProducerGroup: "pg", TransactionID: "tx-1", MsgID: "7F00000100002A9F0000000000000000",
			Properties: map[string]string{"TRAN_MSG": "true"}, Body: []byte("order 1"), CheckTimes: 3,
			BornTimestamp: 1, StoreTimestamp: 2,
		},
	}
	raw, err := proto.Marshal(&pluginv1.CheckRequest{Messages: shim.ToProto(msgs, messageToProto)})
	if err != nil {
		t.Fatal(err)
	}
	var req pluginv1.CheckRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	if got := shim.FromProto(req.GetMessages(), messageFromProto); !reflect.DeepEqual(got, msgs) {
		t.Errorf("got %#v, want %#v", got, msgs)
	}
}

func TestResolutions(t *testing.T) {
	all := []Resolution{Commit, Rollback, Unknown, AskProducer}
	wire, err := resolutionsToProto(all)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range all {
		// The Go values are the wire values, name for name.
		if wire[i].String() != "RESOLUTION_"+r.String() {
			t.Errorf("%v went on the wire as %v", r, wire[i])
		}
	}
	back, err := resolutionsFromProto(wire)
	if err != nil || !slices.Equal(back, all) {
		t.Errorf("round trip = %v, %v", back, err)
	}
	for _, bad := range []Resolution{0, 5, 255} {
		if _, err := resolutionsToProto([]Resolution{Commit, bad}); !errors.Is(err, plugin.ErrInternal) {
			t.Errorf("%v: %v, want ErrInternal", bad, err)
		}
	}
	if _, err := resolutionsFromProto([]pluginv1.Resolution{pluginv1.Resolution_RESOLUTION_UNSPECIFIED}); !errors.Is(err, plugin.ErrInternal) {
		t.Errorf("UNSPECIFIED: %v, want ErrInternal", err)
	}
	// A resolution from a newer plugin is safe: check again later.
	if got, err := resolutionsFromProto([]pluginv1.Resolution{9, -1}); err != nil || !slices.Equal(got, []Resolution{Unknown, Unknown}) {
		t.Errorf("future resolutions = %v, %v", got, err)
	}
}
