package sql92_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ternmq/tern/filters/cel"
	"github.com/ternmq/tern/filters/sql92"
	"github.com/ternmq/tern/sdk/plugin/filter"
)

// outcome is what RocketMQ makes of an expression for one message.
type outcome byte

const (
	isTrue  outcome = 'T'
	isFalse outcome = 'F'
	isNull  outcome = 'N'
	throws  outcome = 'E'
)

type message struct {
	line  int
	props map[string]string
	want  outcome
}

type matchCase struct {
	line int
	expr string
	msgs []message
}

type errorCase struct {
	line int
	expr string
	want string // a substring of the error
}

// readCases reads testdata/cases.txt (its format is described at its top).
func readCases(t *testing.T) ([]matchCase, []errorCase) {
	t.Helper()
	f, err := os.Open("testdata/cases.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		matches []matchCase
		errs    []errorCase
		pending *errorCase
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fail := func(format string, args ...any) {
			t.Fatalf("testdata/cases.txt:%d: %s", n, fmt.Sprintf(format, args...))
		}
		unquote := func(s string) string {
			u, err := strconv.Unquote(strings.TrimSpace(s))
			if err != nil {
				fail("bad Go string %s: %v", s, err)
			}
			return u
		}
		word, rest, _ := strings.Cut(line, " ")
		switch {
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
			continue
		case word == "expr":
			matches = append(matches, matchCase{line: n, expr: rest})
		case word == "exprq":
			matches = append(matches, matchCase{line: n, expr: unquote(rest)})
		case word == "error":
			errs = append(errs, errorCase{line: n, expr: rest})
			pending = &errs[len(errs)-1]
		case word == "errorq":
			errs = append(errs, errorCase{line: n, expr: unquote(rest)})
			pending = &errs[len(errs)-1]
		case word == "=>":
			if pending == nil {
				fail("=> without an error line")
			}
			pending.want, pending = rest, nil
		case strings.HasPrefix(line, "{") || strings.HasPrefix(line, "null"):
			if len(matches) == 0 {
				fail("message before any expr")
			}
			dec := json.NewDecoder(strings.NewReader(line))
			var props map[string]string
			if err := dec.Decode(&props); err != nil {
				fail("bad properties: %v", err)
			}
			want := strings.TrimSpace(line[dec.InputOffset():])
			if len(want) != 1 || !strings.Contains("TFNE", want) {
				fail("want T, F, N or E, got %q", want)
			}
			c := &matches[len(matches)-1]
			c.msgs = append(c.msgs, message{line: n, props: props, want: outcome(want[0])})
		default:
			fail("cannot read %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return matches, errs
}

// TestCases translates every expression of testdata/cases.txt to CEL, compiles it with the
// cel filter and checks each message's outcome: the expression selects exactly the T
// messages, NOT (expr) the F ones, (expr) IS NULL the N ones, and none selects an E. The
// expression itself goes through the filter as SQL92, the other two as their CEL.
func TestCases(t *testing.T) {
	matches, errs := readCases(t)
	f := cel.New()
	ctx := context.Background()
	run := func(expr string, msgs []filter.Message) ([]bool, error) {
		return f.Match(ctx, filter.Subscription{Group: "g", Topic: "t", ExpressionType: cel.TypeSQL92, Expression: expr}, msgs)
	}
	total := 0
	for _, c := range matches {
		t.Run(fmt.Sprintf("line%d", c.line), func(t *testing.T) {
			if len(c.msgs) == 0 {
				t.Fatalf("expression %q has no messages", c.expr)
			}
			msgs := make([]filter.Message, len(c.msgs))
			for i, m := range c.msgs {
				msgs[i] = filter.Message{Topic: "t", Properties: m.props}
			}
			var results [3][]bool
			for i, e := range outcomeExprs(t, c.expr) {
				got, err := f.Match(ctx, filter.Subscription{Group: "g", Topic: "t", ExpressionType: cel.TypeCEL, Expression: e}, msgs)
				if err != nil {
					t.Fatalf("Match(%q): %v", e, err)
				}
				results[i] = got
			}
			for i, m := range c.msgs {
				got := throws
				switch {
				case results[0][i]:
					got = isTrue
				case results[1][i]:
					got = isFalse
				case results[2][i]:
					got = isNull
				}
				if n := btoi(results[0][i]) + btoi(results[1][i]) + btoi(results[2][i]); n > 1 {
					t.Errorf("line %d: %q with %v: selected by %d of expr, NOT, IS NULL", m.line, c.expr, m.props, n)
				}
				if got != m.want {
					cel, _ := sql92.ToCEL(c.expr)
					t.Errorf("line %d: %q with %v = %c, want %c\n\tCEL: %s", m.line, c.expr, m.props, got, m.want, cel)
				}
			}
		})
		total += len(c.msgs)
	}
	for _, c := range errs {
		t.Run(fmt.Sprintf("line%d", c.line), func(t *testing.T) {
			_, err := sql92.Parse(c.expr)
			var serr *sql92.SyntaxError
			if !errors.As(err, &serr) {
				t.Fatalf("Parse(%q) = %v, want a *SyntaxError", c.expr, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse(%q) = %q, want it to contain %q", c.expr, err, c.want)
			}
			if _, err := run(c.expr, nil); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Match(%q) = %v, want an error containing %q", c.expr, err, c.want)
			}
		})
	}
	t.Logf("%d expressions, %d message cases, %d error cases", len(matches), total, len(errs))
	if total < 300 || len(errs) < 50 {
		t.Errorf("the table shrank: %d message cases, %d error cases", total, len(errs))
	}
}

// outcomeExprs returns the CEL of expr, NOT (expr) and (expr) IS NULL. They are built on the
// parsed tree, as wrapping the text could change where a comment ends.
func outcomeExprs(t *testing.T, expr string) [3]string {
	t.Helper()
	n, err := sql92.Parse(expr)
	if err != nil {
		t.Fatalf("Parse(%q): %v", expr, err)
	}
	return [3]string{
		sql92.Translate(n),
		sql92.Translate(&sql92.Unary{Op: sql92.OpNot, X: n}),
		sql92.Translate(&sql92.IsNull{X: n}),
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
