package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decode reads one YAML document strictly into a Manifest and records the line of every
// plugin entry.
func decode(data []byte, src string) (*Manifest, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	m := &Manifest{Source: src}
	if err := dec.Decode(m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty manifest: want a plugins: list", src)
		}
		return nil, yamlError(src, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, fmt.Errorf("%s:%d: a second YAML document: a manifest is a single document", src, next.Line)
	case !errors.Is(err, io.EOF):
		return nil, yamlError(src, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil {
		m.lines = entryLines(&root)
	}
	return m, nil
}

// entryLines returns the line of each item of the top-level plugins: sequence.
func entryLines(root *yaml.Node) []int {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "plugins" {
			continue
		}
		seq := top.Content[i+1]
		if seq.Kind != yaml.SequenceNode {
			return nil
		}
		lines := make([]int, len(seq.Content))
		for j, n := range seq.Content {
			lines[j] = n.Line
		}
		return lines
	}
	return nil
}

// yamlError rewrites a yaml.v3 error into file:line: messages a person can act on.
func yamlError(src string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, e := range te.Errors {
			errs = append(errs, errors.New(rewriteLine(src, e)))
		}
		return errors.Join(errs...)
	}
	return errors.New(rewriteLine(src, strings.TrimPrefix(err.Error(), "yaml: ")))
}

func rewriteLine(src, e string) string {
	loc := src
	if rest, ok := strings.CutPrefix(e, "line "); ok {
		if n, msg, ok := strings.Cut(rest, ": "); ok {
			if _, err := strconv.Atoi(n); err == nil {
				loc, e = src+":"+n, msg
			}
		}
	}
	if rest, ok := strings.CutPrefix(e, "field "); ok {
		if field, typ, ok := strings.Cut(rest, " not found in type "); ok {
			return loc + ": " + unknownField(field, typ)
		}
	}
	if i := strings.LastIndex(e, " into "); i >= 0 && !strings.Contains(e[i+len(" into "):], " ") {
		e = e[:i] + " into " + describeType(e[i+len(" into "):])
	}
	return loc + ": " + e
}

// unknownField words a strict-decoding error, with a suggestion when the field looks like a
// typo of a known one.
func unknownField(field, typ string) string {
	var known []string
	where := "a plugin entry"
	switch typ {
	case "manifest.Plugin":
		known = yamlFields(reflect.TypeFor[Plugin]())
	case "manifest.Manifest":
		known, where = yamlFields(reflect.TypeFor[Manifest]()), "the top level"
	default:
		return fmt.Sprintf("unknown field %q in %s", field, describeType(typ))
	}
	msg := fmt.Sprintf("unknown field %q in %s", field, where)
	if s := suggest(field, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + "; known fields: " + strings.Join(known, ", ")
}

// describeType names a Go type the way a manifest author thinks of it.
func describeType(t string) string {
	switch t {
	case "time.Duration":
		return "a duration (like 2s or 500ms)"
	case "manifest.Manifest":
		return "a manifest (a mapping with a plugins: list)"
	case "manifest.Plugin":
		return "a plugin entry (a mapping)"
	case "[]manifest.Plugin":
		return "a list of plugin entries"
	case "[]string":
		return "a list of strings"
	case "map[string]string":
		return "a mapping of strings"
	case "map[string]interface {}":
		return "a mapping"
	case "int":
		return "an integer"
	case "string", "plugin.Kind", "manifest.FailurePolicy":
		return "a string"
	}
	return t
}

// yamlFields lists the YAML names of t's fields, in declaration order.
func yamlFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// suggest returns the known name closest to field, if it is close enough to be a typo.
func suggest(field string, known []string) string {
	best, bestD := "", len(field)/3+2
	for _, k := range known {
		if d := distance(strings.ToLower(field), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Encode renders m as YAML; Parse of the result gives m back.
func (m *Manifest) Encode() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	return b.Bytes(), nil
}

// lineOf returns the source line of entry i, 0 if unknown.
func (m *Manifest) lineOf(i int) int {
	if i < len(m.lines) {
		return m.lines[i]
	}
	return 0
}
