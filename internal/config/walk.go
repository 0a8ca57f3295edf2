package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the YAML nodes one document may make the walker visit,
// aliases counted at every use, so an alias bomb is a problem, not a hang.
const maxNodes = 200_000

// maxMergeDepth bounds nested "<<" merge keys.
const maxMergeDepth = 16

// walker turns the YAML node tree into the plain map mapstructure decodes,
// checking every key against the schema and every value against its kind on
// the way: unknown keys, wrong types, bad durations and undefined ${VAR}s all
// become problems with the key path. It records which keys the document (or
// the environment) set, so defaults can tell "unset" from "set to the zero
// value".
type walker struct {
	p       *problems
	present map[string]bool
	env     *envLayer
	budget  int
	blown   bool
}

type pair struct {
	key  string
	line int
	val  *yaml.Node
}

// visit spends one node of the budget; false once it is exhausted.
func (w *walker) visit() bool {
	if w.budget <= 0 {
		if !w.blown {
			w.blown = true
			w.p.add("", fmt.Sprintf("the document is too large or aliases too much (more than %d YAML nodes)", maxNodes))
		}
		return false
	}
	w.budget--
	return true
}

// resolve follows aliases; nil when the budget is exhausted.
func (w *walker) resolve(n *yaml.Node) *yaml.Node {
	for hops := 0; n != nil; hops++ {
		if !w.visit() || hops > maxNodes {
			return nil
		}
		if n.Kind != yaml.AliasNode {
			return n
		}
		n = n.Alias
	}
	return nil
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names the YAML shape of n for "must be X, got Y" messages. It
// never includes the value, which may be a secret.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!bool":
			return "true/false"
		case "!!int", "!!float":
			return "a number"
		case "!!str":
			return "a string"
		}
		return "a " + strings.TrimPrefix(n.ShortTag(), "!!")
	}
	return "something else"
}

var simpleSegment = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// join appends one key or map-entry name to a key path; names that are not
// plain are quoted: hosts["my host"].
func join(path, name string) string {
	if !simpleSegment.MatchString(name) {
		return path + "[" + strconv.Quote(truncate(name, 60)) + "]"
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// pairs lists the key/value pairs of a mapping, with "<<" merge keys
// resolved (explicit keys win), duplicate keys reported, and each key's line
// recorded under its path.
func (w *walker) pairs(n *yaml.Node, path string, depth int) []pair {
	var explicit, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := w.resolve(n.Content[i])
		if k == nil {
			return nil
		}
		v := n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.p.addAt(path, k.Line, "has a key that is "+describe(k)+"; keys must be plain names")
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, w.mergeSource(v, path, depth)...)
			continue
		}
		explicit = append(explicit, pair{key: k.Value, line: k.Line, val: v})
	}
	seen := make(map[string]bool, len(explicit))
	out := make([]pair, 0, len(explicit)+len(merged))
	for _, p := range explicit {
		key := join(path, p.key)
		if seen[p.key] {
			w.p.addAt(key, p.line, "is set more than once in the same block; keep one")
			continue
		}
		seen[p.key] = true
		w.p.lines[key] = p.line
		out = append(out, p)
	}
	for _, p := range merged {
		if !seen[p.key] {
			seen[p.key] = true
			out = append(out, p)
		}
	}
	return out
}

// mergeSource returns the pairs a "<<" merge key brings in: one mapping or a
// list of mappings, earlier ones winning.
func (w *walker) mergeSource(v *yaml.Node, path string, depth int) []pair {
	if depth >= maxMergeDepth {
		w.p.add(path, "has merge keys (<<) nested too deeply")
		return nil
	}
	v = w.resolve(v)
	if v == nil {
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return w.pairs(v, path, depth+1)
	case yaml.SequenceNode:
		var out []pair
		seen := map[string]bool{}
		for _, item := range v.Content {
			item = w.resolve(item)
			if item == nil {
				return out
			}
			if item.Kind != yaml.MappingNode {
				w.p.addAt(path, item.Line, "has a merge key (<<) whose list holds "+describe(item)+"; it must hold mappings")
				continue
			}
			for _, p := range w.pairs(item, path, depth+1) {
				if !seen[p.key] {
					seen[p.key] = true
					out = append(out, p)
				}
			}
		}
		return out
	}
	w.p.addAt(path, v.Line, "has a merge key (<<) whose value is "+describe(v)+"; it must be a mapping")
	return nil
}

// object walks one mapping against its schema. n may be nil (the block is
// absent); environment overrides still apply then. envVar is the variable
// prefix for this block's scalar keys, "" where overrides do not apply.
func (w *walker) object(n *yaml.Node, o *object, path, envVar string) map[string]any {
	out := map[string]any{}
	n = w.resolve(n)
	nodes := map[string]*yaml.Node{}
	if n != nil && !isNull(n) {
		if n.Kind != yaml.MappingNode {
			w.p.addAt(path, n.Line, "must be a mapping of settings, got "+describe(n))
		} else {
			for _, p := range w.pairs(n, path, 0) {
				if _, ok := o.field(p.key); !ok {
					msg := "is not a known setting"
					if hint := didYouMean(p.key, o.keys()); hint != "" {
						msg += hint
					} else {
						msg += "; known settings here: " + strings.Join(o.keys(), ", ")
					}
					w.p.addAt(join(path, p.key), p.line, msg)
					continue
				}
				nodes[p.key] = p.val
			}
		}
	}
	for i := range o.fields {
		f := &o.fields[i]
		key := join(path, f.key)
		if envVar != "" && isScalar(f.kind) {
			name := envName(envVar, f.key)
			if val, ok := w.env.lookup(name); ok {
				w.p.env[key] = name
				if v, err := fromString(f.kind, val); err != nil {
					w.p.add(key, err.Error())
				} else {
					out[f.key] = v
					w.present[key] = true
				}
				continue
			}
		}
		node, ok := nodes[f.key]
		if f.kind == kindObject {
			sub := ""
			if envVar != "" {
				sub = envName(envVar, f.key)
			}
			if ok {
				w.present[key] = true
			}
			out[f.key] = w.object(node, f.sub, key, sub)
			continue
		}
		if !ok {
			continue
		}
		if v, ok := w.value(node, f, key, envVar); ok {
			out[f.key] = v
			w.present[key] = true
		}
	}
	return out
}

func isScalar(k kind) bool {
	switch k {
	case kindString, kindBool, kindInt, kindDuration:
		return true
	}
	return false
}

// value converts one node to the Go value of its field's kind. A null value
// counts as unset (false).
func (w *walker) value(n *yaml.Node, f *field, key, envVar string) (any, bool) {
	n = w.resolve(n)
	if isNull(n) {
		return nil, false
	}
	switch f.kind {
	case kindObjectMap:
		if n.Kind != yaml.MappingNode {
			w.p.addAt(key, n.Line, "must be a mapping of names to settings, got "+describe(n))
			return nil, false
		}
		out := map[string]any{}
		for _, p := range w.pairs(n, key, 0) {
			entryEnv := ""
			if envVar != "" {
				entryEnv = envName(envName(envVar, f.key), p.key)
			}
			out[p.key] = w.object(p.val, f.sub, join(key, p.key), entryEnv)
		}
		return out, true
	case kindObjectList:
		if n.Kind != yaml.SequenceNode {
			w.p.addAt(key, n.Line, "must be a list, got "+describe(n))
			return nil, false
		}
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			ik := index(key, i)
			if item != nil {
				w.p.lines[ik] = item.Line
			}
			out = append(out, w.object(item, f.sub, ik, ""))
		}
		return out, true
	case kindStringList:
		// A bad element is reported under its own key and kept as "", so the
		// list still counts as set (no follow-up "is required").
		return w.list(n, key, "a list of strings, for example [a, b]", func(item *yaml.Node, ik string) any {
			s, _ := w.str(item, ik)
			return s
		})
	case kindIntList:
		return w.list(n, key, "a list of whole numbers, for example [2, 64]", func(item *yaml.Node, ik string) any {
			v, ok := w.value(item, &field{key: f.key, kind: kindInt}, ik, "")
			if !ok {
				v = 0 // reported under its own key; the list still counts as set
			}
			return v
		})
	case kindStringMap:
		if n.Kind != yaml.MappingNode {
			w.p.addAt(key, n.Line, "must be a mapping of names to strings, got "+describe(n))
			return nil, false
		}
		out := map[string]any{}
		for _, p := range w.pairs(n, key, 0) {
			v := w.resolve(p.val)
			if v == nil {
				return nil, false
			}
			s, _ := w.str(v, join(key, p.key))
			out[p.key] = s
		}
		return out, true
	}
	if n.Kind != yaml.ScalarNode {
		w.p.addAt(key, n.Line, "must be "+kindName(f.kind)+", got "+describe(n))
		return nil, false
	}
	tag := n.ShortTag()
	switch f.kind {
	case kindString:
		return w.str(n, key)
	case kindBool:
		if tag == "!!bool" {
			var b bool
			if err := n.Decode(&b); err == nil {
				return b, true
			}
		}
		if tag == "!!str" {
			return w.fromExpanded(n, f.kind, key)
		}
	case kindInt:
		if tag == "!!int" {
			var i int
			if err := n.Decode(&i); err != nil {
				w.p.addAt(key, n.Line, "is a number too large for this setting")
				return nil, false
			}
			return i, true
		}
		if tag == "!!str" {
			return w.fromExpanded(n, f.kind, key)
		}
	case kindDuration:
		switch tag {
		case "!!str":
			return w.fromExpanded(n, f.kind, key)
		case "!!int", "!!float":
			v, err := fromString(kindDuration, n.Value) // only a literal 0 passes
			if err != nil {
				w.p.addAt(key, n.Line, err.Error())
				return nil, false
			}
			return v, true
		}
	}
	w.p.addAt(key, n.Line, "must be "+kindName(f.kind)+", got "+describe(n))
	return nil, false
}

// list converts a sequence of scalars element by element with conv, which
// reports a bad element under its own key and returns a stand-in for it.
func (w *walker) list(n *yaml.Node, key, what string, conv func(item *yaml.Node, ik string) any) (any, bool) {
	if n.Kind != yaml.SequenceNode {
		w.p.addAt(key, n.Line, "must be "+what+", got "+describe(n))
		return nil, false
	}
	out := make([]any, 0, len(n.Content))
	for i, item := range n.Content {
		ik := index(key, i)
		item = w.resolve(item)
		if item == nil {
			return nil, false
		}
		w.p.lines[ik] = item.Line
		out = append(out, conv(item, ik))
	}
	return out, true
}

// str returns a scalar's text with ${VAR}s expanded.
func (w *walker) str(n *yaml.Node, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		w.p.addAt(key, n.Line, "must be a string, got "+describe(n))
		return "", false
	}
	s, err := expand(n.Value)
	if err != nil {
		w.p.addAt(key, n.Line, err.Error())
		return "", false
	}
	return s, true
}

// fromExpanded expands a string scalar and converts it to kind k, so
// "interval: ${SCAN_INTERVAL}" and "max_connections: ${CONNS}" work.
func (w *walker) fromExpanded(n *yaml.Node, k kind, key string) (any, bool) {
	s, ok := w.str(n, key)
	if !ok {
		return nil, false
	}
	v, err := fromString(k, s)
	if err != nil {
		w.p.addAt(key, n.Line, err.Error())
		return nil, false
	}
	return v, true
}

func kindName(k kind) string {
	switch k {
	case kindString:
		return "a string"
	case kindBool:
		return "true or false"
	case kindInt:
		return "a whole number"
	case kindDuration:
		return `a duration such as "30s" or "5m"`
	}
	return "a value"
}

// fromString converts text (an environment override, or an expanded string)
// to the Go value of a scalar kind. Errors do not echo the text except for
// durations, which are never secret.
func fromString(k kind, s string) (any, error) {
	switch k {
	case kindString:
		return s, nil
	case kindBool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, errors.New("must be true or false")
		}
		return b, nil
	case kindInt:
		i, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, errors.New("must be a whole number")
		}
		return i, nil
	case kindDuration:
		return parseDuration(s)
	}
	return nil, errors.New("cannot be set from a string")
}

// parseDuration parses a Go duration. A bare number other than 0 is refused:
// "30" could mean seconds or nanoseconds, so it must carry a unit.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New(`must be a duration such as "30s" or "5m", got an empty string`)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		if f, _ := strconv.ParseFloat(s, 64); f == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf(`must be a duration with a unit such as "30s" or "5m", got the bare number %s`, truncate(s, 30))
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf(`must be a duration such as "30s" or "5m", got %q`, truncate(s, 40))
	}
	return d, nil
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
