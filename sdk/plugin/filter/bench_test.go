package filter_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/ternmq/tern/sdk/plugin/filter"
)

// bodySize is the size of each benchmark message's body.
const bodySize = 200

func benchMessages(n int) []filter.Message {
	msgs := make([]filter.Message, n)
	for i := range msgs {
		body := fmt.Sprintf(`{"order":%d,"status":"paid","customer":{"country":"DE"},"note":"`, i)
		body += strings.Repeat("x", bodySize-len(body)-2) + `"}`
		msgs[i] = filter.Message{
			Topic: "orders", QueueID: int32(i % 8), QueueOffset: int64(i), Tags: []string{"TagA"},
			Keys:          []string{"order-" + strconv.Itoa(i)},
			Properties:    map[string]string{"TAGS": "TagA", "KEYS": "order-" + strconv.Itoa(i), "UNIQ_KEY": "7F000001000018B4AAC2" + strconv.Itoa(i)},
			BornTimestamp: 1_700_000_000_000, StoreTimestamp: 1_700_000_000_003,
			Body: []byte(body),
		}
	}
	return msgs
}

// BenchmarkMatch: one Match call of a batch, with the filter in process, over gRPC within the
// process, and in a plugin process (Unix socket, mutual TLS). The filter's own work is a
// bytes.Contains per body, so the figures are the cost of the boundary. Compare runs with
//
//	go test -run '^$' -bench BenchmarkMatch -count 10 ./sdk/plugin/filter/ > new.txt
//	benchstat old.txt new.txt
func BenchmarkMatch(b *testing.B) {
	sub := filter.Subscription{Group: "g", Topic: "orders", ExpressionType: "TESTTAG", Expression: `body:"DE"`}
	for _, form := range forms {
		f := form.new(b)
		if _, err := f.Init(b.Context(), nil); err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{1, 32, 256} {
			msgs := benchMessages(n)
			b.Run(fmt.Sprintf("%s/batch=%d", form.name, n), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(n * bodySize))
				for b.Loop() {
					got, err := f.Match(b.Context(), sub, msgs)
					if err != nil || len(got) != n || !got[0] {
						b.Fatalf("Match = %v, %v", got, err)
					}
				}
			})
		}
	}
}
