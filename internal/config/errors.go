package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Key is the full key path of the offending setting, for example
	// "watches[0].actions[1].dest" or "hosts.partner.password". It is "" for
	// problems of the document as a whole (a YAML syntax error).
	Key string
	// Msg says what is wrong and, where there is one, the fix. It never
	// contains a secret value.
	Msg string
	// Line is the 1-based line of the key in the YAML document, 0 when unknown
	// (the value came from the environment, or the key is missing).
	Line int
}

// Error is every problem found in one configuration. Parse and Load report
// all problems at once rather than stopping at the first.
type Error struct {
	// Source names the configuration: its file path, or what the caller passed
	// to Parse.
	Source   string
	Problems []Problem
}

// Error renders one problem per line: "config FILE: KEY: message".
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("config")
		if e.Source != "" {
			b.WriteByte(' ')
			b.WriteString(e.Source)
		}
		b.WriteString(": ")
		if p.Key != "" {
			b.WriteString(p.Key)
			b.WriteString(": ")
		}
		b.WriteString(p.Msg)
		if p.Line > 0 {
			b.WriteString(" (line ")
			b.WriteString(strconv.Itoa(p.Line))
			b.WriteByte(')')
		}
	}
	return b.String()
}

// problems collects the problems of one Parse. It keeps at most one problem
// per key, so a value that is both mistyped and then missing is reported
// once, and it knows the YAML line of every key it was told about.
type problems struct {
	list  []Problem
	seen  map[string]bool
	lines map[string]int    // key path → YAML line
	env   map[string]string // key path → the SFTPWATCHD_* variable that set it
}

func newProblems() *problems {
	return &problems{seen: map[string]bool{}, lines: map[string]int{}, env: map[string]string{}}
}

// add records a problem of key, at the line the document has for it.
func (p *problems) add(key, msg string) { p.addAt(key, 0, msg) }

// addAt records a problem of key at a known line (0: look it up). A value
// that came from the environment is blamed on its variable, not on a line.
func (p *problems) addAt(key string, line int, msg string) {
	if key != "" && p.seen[key] {
		return
	}
	p.seen[key] = true
	if name, ok := p.env[key]; ok {
		msg += " (set by $" + name + ")"
		line = -1
	}
	switch {
	case line < 0:
		line = 0
	case line == 0:
		line = p.lineOf(key)
	}
	p.list = append(p.list, Problem{Key: key, Msg: msg, Line: line})
}

// has reports whether key already has a problem.
func (p *problems) has(key string) bool { return p.seen[key] }

// lineOf finds the line of key, or of its nearest parent the document holds.
func (p *problems) lineOf(key string) int {
	for key != "" {
		if l, ok := p.lines[key]; ok {
			return l
		}
		key = parentKey(key)
	}
	return 0
}

// sorted returns the problems in document order; problems without a line
// (missing keys, environment values) keep their relative order at the end.
func (p *problems) sorted() []Problem {
	out := slices.Clone(p.list)
	slices.SortStableFunc(out, func(a, b Problem) int {
		la, lb := a.Line, b.Line
		if la == 0 {
			la = int(^uint(0) >> 1)
		}
		if lb == 0 {
			lb = int(^uint(0) >> 1)
		}
		return cmp.Compare(la, lb)
	})
	return out
}

// parentKey strips the last segment of a key path:
// "watches[0].retry.max_attempts" → "watches[0].retry" → "watches[0]" →
// "watches" → "".
func parentKey(key string) string {
	if strings.HasSuffix(key, "]") {
		if i := strings.LastIndexByte(key, '['); i >= 0 {
			return key[:i]
		}
	}
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i]
	}
	return ""
}
