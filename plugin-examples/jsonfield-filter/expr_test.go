package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/ternmq/tern/sdk/plugin"
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		col       int    // the column the message names
		want      string // in the message
	}{
		{"empty", "", 1, "expected a field name, found the end"},
		{"blank", "   ", 4, "expected a field name, found the end"},
		{"leading dot", ".a == 1", 1, "expected a field name"},
		{"digit first", "1a == 1", 1, "expected a field name"},
		{"trailing dot", "a. == 1", 3, "expected a field name"},
		{"no operator", "status", 7, "expected an operator"},
		{"single equals", `status = "paid"`, 8, "expected an operator"},
		{"in prefix of a word", "a inside [1]", 3, "expected an operator"},
		{"no value", "amount >", 9, "expected a JSON value, found the end"},
		{"bad json", "amount > 1x", 11, "expected the end of the expression"},
		{"single quotes", "status == 'paid'", 11, "bad JSON value"},
		{"unterminated string", `status == "paid`, 11, "bad JSON value"},
		{"trailing words", `status == "paid" and x`, 18, "expected the end"},
		{"array for ==", "a == [1]", 6, "not an array or object"},
		{"object for !=", `a != {"b":1}`, 6, "not an array or object"},
		{"bool for >", "a > true", 5, "> needs a number or a string"},
		{"null for <=", "a <= null", 6, "<= needs a number or a string"},
		{"in without array", `a in "x"`, 6, "in needs a JSON array"},
		{"in with nested array", `a in [1, [2]]`, 6, "element 1 of the in list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := parse(tc.src)
			if err == nil {
				t.Fatalf("parse(%q) = %v, want an error", tc.src, e)
			}
			if !errors.Is(err, plugin.ErrInvalidArgument) {
				t.Errorf("error %v does not wrap plugin.ErrInvalidArgument", err)
			}
			if col := "column " + itoa(tc.col) + ":"; !strings.Contains(err.Error(), col) {
				t.Errorf("error %q does not name %q", err, col)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
}

func TestParseCanonical(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`status=="paid"`, `status == "paid"`},
		{"  a.b-c.d_e\t>=\t-1.5e3 ", "a.b-c.d_e >= -1.5e3"},
		{`x in [ "a" , 1, true, null ]`, `x in ["a",1,true,null]`},
		{`x in[]`, `x in []`},
		{`s != "tab\t\u00e9"`, `s != "tab\té"`},
		{"n<=0", "n <= 0"},
		{"in in [1]", "in in [1]"},
	} {
		e, err := parse(tc.src)
		if err != nil {
			t.Errorf("parse(%q): %v", tc.src, err)
			continue
		}
		if got := e.String(); got != tc.want {
			t.Errorf("parse(%q).String() = %q, want %q", tc.src, got, tc.want)
		}
	}
}

func TestMatchExpr(t *testing.T) {
	const doc = `{"status":"paid","amount":150,"ratio":0.5,"big":9007199254740993,"neg":-3,
		"customer":{"country":"DE","vip":true,"tags":["a"]},"note":null,"list":[1,2]}`
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{`status == "paid"`, true},
		{`status == "PAID"`, false},
		{`status != "paid"`, false},
		{`status != "open"`, true},
		{`amount == 150`, true},
		{`amount == 150.0`, true},
		{`amount == 1.5e2`, true},
		{`amount > 100`, true},
		{`amount > 150`, false},
		{`amount >= 150`, true},
		{`amount < 150.5`, true},
		{`amount <= 149`, false},
		{`ratio < 1`, true},
		{`neg < 0`, true},
		{`big == 9007199254740993`, true}, // exact: beyond float64 precision
		{`big == 9007199254740992`, false},
		{`big > 9007199254740992`, true},
		{`status < "q"`, true},
		{`status > "paid"`, false},
		{`customer.country in ["DE","FR"]`, true},
		{`customer.country in ["US"]`, false},
		{`customer.country in []`, false},
		{`amount in [1, 150]`, true},
		{`customer.vip == true`, true},
		{`customer.vip != false`, true},
		{`note == null`, true},
		{`note != null`, false},
		{`status == null`, false},
		{`amount == "150"`, false}, // types differ
		{`amount != "150"`, true},
		{`amount > "100"`, false}, // no order between a number and a string
		{`customer.tags == "a"`, false},
		{`customer.tags != "a"`, true}, // present and different
		{`list in [1]`, false},         // arrays equal nothing
		{`missing == 1`, false},        // a missing field matches nothing ...
		{`missing != 1`, false},        // ... whatever the operator
		{`customer.country.x == 1`, false},
	} {
		e, err := parse(tc.expr)
		if err != nil {
			t.Errorf("parse(%q): %v", tc.expr, err)
			continue
		}
		if got := e.match([]byte(doc)); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestMatchBodies(t *testing.T) {
	e, err := parse(`status == "paid"`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body []byte
		want bool
	}{
		{"object", []byte(`{"status":"paid"}`), true},
		{"whitespace around", []byte(" \n{\"status\" : \"paid\"}\n "), true},
		{"nil", nil, false},
		{"empty", []byte{}, false},
		{"not json", []byte("status=paid"), false},
		{"truncated", []byte(`{"status":"paid"`), false},
		{"trailing data", []byte(`{"status":"paid"} {}`), false},
		{"array", []byte(`[{"status":"paid"}]`), false},
		{"string", []byte(`"paid"`), false},
		{"invalid utf-8 elsewhere", []byte("{\"status\":\"paid\",\"x\":\"\xff\"}"), true},
	} {
		if got := e.match(tc.body); got != tc.want {
			t.Errorf("%s: match(%q) = %v, want %v", tc.name, tc.body, got, tc.want)
		}
	}
}

// FuzzParse: parse never panics, fails only with plugin.ErrInvalidArgument, and the canonical
// form of a parsed expression parses to the same canonical form; match never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`status == "paid"`, `amount > 100`, `customer.country in ["DE","FR"]`, `a <= -1e-3`,
		`x != null`, `x in []`, `a.b.c == true`, `s == "\u00e9\n"`, `a = 1`, `a in [[1]]`, "",
	} {
		f.Add(s, []byte(`{"status":"paid","amount":150,"customer":{"country":"DE"}}`))
	}
	f.Fuzz(func(t *testing.T, src string, body []byte) {
		e, err := parse(src)
		if err != nil {
			if !errors.Is(err, plugin.ErrInvalidArgument) {
				t.Fatalf("parse(%q): error %v does not wrap ErrInvalidArgument", src, err)
			}
			return
		}
		canon := e.String()
		e2, err := parse(canon)
		if err != nil {
			t.Fatalf("parse(%q) ok but its canonical form %q fails: %v", src, canon, err)
		}
		if got := e2.String(); got != canon {
			t.Fatalf("canonical form not stable: %q → %q", canon, got)
		}
		if e.match(body) != e2.match(body) {
			t.Fatalf("%q and its canonical form %q disagree on %q", src, canon, body)
		}
	})
}
