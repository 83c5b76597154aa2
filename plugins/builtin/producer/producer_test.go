package producer

import (
	"context"
	"errors"
	"testing"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/txchecker"
)

func TestCheckAsksTheProducer(t *testing.T) {
	c := Checker{}
	info, err := c.Init(context.Background(), nil)
	if err != nil || info.Name != Name {
		t.Fatalf("Init = %+v, %v", info, err)
	}
	got, err := c.Check(context.Background(), make([]txchecker.HalfMessage, 3))
	if err != nil || len(got) != 3 {
		t.Fatalf("Check = %v, %v", got, err)
	}
	for _, r := range got {
		if r != txchecker.AskProducer {
			t.Fatalf("Check = %v, want AskProducer for each", got)
		}
	}
	if _, err := c.Init(context.Background(), map[string]any{"x": 1}); !errors.Is(err, plugin.ErrInvalidArgument) {
		t.Fatalf("Init with an unknown key = %v", err)
	}
}
