package shim

import (
	"errors"
	"slices"
	"testing"

	"github.com/ternmq/tern/sdk/plugin"
)

func TestBatch(t *testing.T) {
	type goT struct{ n int }
	type pbT struct{ n int64 }
	in := []goT{{1}, {2}, {3}}
	p := ToProto(in, func(dst *pbT, src *goT) { dst.n = int64(src.n) * 10 })
	if len(p) != 3 || p[0].n != 10 || p[2].n != 30 || &p[0] == &p[1] {
		t.Fatalf("ToProto = %v", p)
	}
	back := FromProto(p, func(x *pbT) goT { return goT{int(x.n / 10)} })
	if !slices.Equal(back, in) {
		t.Errorf("FromProto = %v", back)
	}
	if ToProto[goT, pbT](nil, nil) != nil || FromProto[pbT, goT](nil, nil) != nil {
		t.Error("empty batches are not nil")
	}
}

func TestCheckLen(t *testing.T) {
	if err := CheckLen("x", 2, 2); err != nil {
		t.Error(err)
	}
	err := CheckLen("filter match", 1, 2)
	if !errors.Is(err, plugin.ErrInternal) || err.Error() != "plugin: internal error: filter match returned 1 results for 2 items" {
		t.Errorf("CheckLen = %v", err)
	}
}

func TestInitRequest(t *testing.T) {
	req, err := InitRequest(map[string]any{"a": 1})
	if err != nil || req.GetConfig().GetFields()["a"].GetNumberValue() != 1 {
		t.Errorf("InitRequest = %v, %v", req, err)
	}
	if _, err := InitRequest(map[string]any{"f": func() {}}); !errors.Is(err, plugin.ErrInvalidArgument) {
		t.Errorf("bad config: %v", err)
	}
}
