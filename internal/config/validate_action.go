package config

import (
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"text/template"
	tparse "text/template/parse"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// actionKeys lists the settings each action type takes besides type and
// events.
func actionKeys(typ string) ([]string, bool) {
	switch typ {
	case "download":
		return []string{"dest", "flatten", "preserve_mtime", "on_delete"}, true
	case "exec":
		return []string{"command", "env", "inherit_env", "dir", "timeout", "permanent_exit_codes"}, true
	case "webhook":
		return []string{"url", "headers", "secret", "secret_file", "timeout"}, true
	case "move":
		return []string{"to"}, true
	case "delete", "log":
		return nil, true
	}
	return nil, false
}

func actionTypes() []string {
	return []string{"download", "exec", "webhook", "move", "delete", "log"}
}

// article is "an" before a vowel sound, for "an exec action".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

func (v *validator) action(w *Watch, a *Action, key string) {
	if v.p.has(key) {
		return // not a mapping: reported once
	}
	allowed, ok := actionKeys(a.Type)
	switch {
	case a.Type == "":
		v.fail(key+".type", "is required: one of %s", strings.Join(actionTypes(), ", "))
		return
	case !ok:
		v.oneOf(key+".type", a.Type, actionTypes())
		return
	}
	for _, f := range schemaOf(reflect.TypeFor[Action]()).fields {
		if f.key == "type" || f.key == "events" || slices.Contains(allowed, f.key) {
			continue
		}
		if v.set(key + "." + f.key) {
			takes := "takes no settings besides type and events"
			if len(allowed) > 0 {
				takes = "takes " + strings.Join(allowed, ", ")
			}
			v.fail(key+"."+f.key, "is not a setting of %s %s action (%s %s)", article(a.Type), a.Type, a.Type, takes)
		}
	}
	for i, e := range a.Events {
		v.oneOf(index(key+".events", i), e, eventTypes())
	}

	switch a.Type {
	case "download":
		v.localDir(&a.Dest, key+".dest", true, "the local directory downloads go to")
		v.oneOf(key+".on_delete", a.OnDelete, []string{"keep", "remove"})
	case "exec":
		v.command(a.Command, key+".command")
		v.localDir(&a.Dir, key+".dir", false, "")
		v.envVars(a.Env, key+".env")
		if a.Timeout <= 0 {
			v.fail(key+".timeout", "must be positive, such as 5m")
		}
		for i, c := range a.PermanentExitCodes {
			if c < 1 || c > 255 {
				v.fail(index(key+".permanent_exit_codes", i), "(%d) must be an exit status from 1 to 255 (0 is success; signals and timeouts are always retried)", c)
			}
		}
	case "webhook":
		v.webhookURL(a.URL, key+".url")
		v.headers(a.Headers, key+".headers")
		if a.Timeout <= 0 {
			v.fail(key+".timeout", "must be positive, such as 10s")
		}
	case "move":
		switch {
		case a.To == "":
			v.fail(key+".to", "is required: the absolute remote directory to move files into")
		case !path.IsAbs(a.To):
			v.fail(key+".to", "%q is not an absolute remote path; start it with /", truncate(a.To, 80))
		default:
			a.To = path.Clean(a.To)
			if w.Path != "" && a.To == path.Clean(w.Path) {
				v.fail(key+".to", "is the watched directory itself; files would be moved onto themselves")
			}
		}
	}
}

// localDir checks an absolute local directory setting and cleans it.
func (v *validator) localDir(dir *string, key string, required bool, what string) {
	switch {
	case *dir == "" && required:
		v.fail(key, "is required: %s, as an absolute path", what)
	case *dir == "":
	case !filepath.IsAbs(*dir):
		v.fail(key, "%q is not an absolute path", truncate(*dir, 80))
	default:
		*dir = filepath.Clean(*dir)
	}
}

// templateFields are the event fields exec argv templates may use.
const templateFields = ".ID .Watch .Host .Type .Path .RelPath .Name .Size .MTime .LocalPath .OldPath"

// command checks exec argv: not empty, and every element a text/template
// that executes against an event (so {{.Nmae}} is caught now, not at the
// first event). Templates are parsed without extra functions, with
// missingkey=error; range is refused because "{{range 1000000000000}}" would
// hang this check and has no use in an argument.
func (v *validator) command(argv []string, key string) {
	if len(argv) == 0 {
		v.fail(key, `is required: the program and its arguments, such as ["/usr/local/bin/ingest", "{{.LocalPath}}"]`)
		return
	}
	if argv[0] == "" {
		v.fail(index(key, 0), "is empty; name the program to run")
	}
	for i, arg := range argv {
		ak := index(key, i)
		t, err := template.New("arg").Option("missingkey=error").Parse(arg)
		if err != nil {
			v.fail(ak, "is not a valid template: %v", err)
			continue
		}
		if hasRange(t) {
			v.fail(ak, "uses range, which command templates do not support")
			continue
		}
		if err := t.Execute(&limitWriter{n: 1 << 20}, event.Event{}); err != nil {
			v.fail(ak, "is not a valid template: %v (event fields: %s)", err, templateFields)
		}
	}
}

// hasRange reports whether any template of t's set contains a range action.
func hasRange(t *template.Template) bool {
	for _, tt := range t.Templates() {
		if tt.Tree != nil && nodeHasRange(tt.Tree.Root) {
			return true
		}
	}
	return false
}

func nodeHasRange(n tparse.Node) bool {
	switch n := n.(type) {
	case *tparse.ListNode:
		if n == nil {
			return false
		}
		return slices.ContainsFunc(n.Nodes, nodeHasRange)
	case *tparse.RangeNode:
		return true
	case *tparse.IfNode:
		return nodeHasRange(n.List) || nodeHasRange(n.ElseList)
	case *tparse.WithNode:
		return nodeHasRange(n.List) || nodeHasRange(n.ElseList)
	}
	return false
}

// limitWriter discards output but fails after n bytes, bounding what a
// template can make the check produce.
type limitWriter struct{ n int }

var _ io.Writer = (*limitWriter)(nil)

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, fmt.Errorf("template output is larger than 1 MiB")
	}
	l.n -= len(p)
	return len(p), nil
}

func (v *validator) envVars(env map[string]string, key string) {
	for _, name := range sortedKeys(env) {
		k := join(key, name)
		switch {
		case name == "" || strings.ContainsAny(name, "=\x00"):
			v.fail(k, "is not a valid environment variable name")
		case strings.ContainsRune(env[name], 0):
			v.fail(k, "contains a NUL byte")
		}
	}
}

func (v *validator) webhookURL(raw, key string) {
	if raw == "" {
		v.fail(key, "is required: the http:// or https:// address to POST events to")
		return
	}
	// url.Parse errors quote the URL, which may carry credentials: say what
	// is wrong without repeating it.
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		v.fail(key, "is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		v.fail(key, "must be an absolute http:// or https:// URL")
	case u.Host == "":
		v.fail(key, "has no host")
	}
}

func (v *validator) headers(h map[string]string, key string) {
	for _, name := range sortedKeys(h) {
		k := join(key, name)
		switch {
		case !ValidHeaderName(name):
			v.fail(k, "is not a valid HTTP header name")
		case strings.ContainsAny(h[name], "\r\n\x00"):
			v.fail(k, "has a line break or NUL byte in its value")
		}
	}
}

// ValidHeaderName reports whether s is an HTTP header field name (an
// RFC 9110 token).
func ValidHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
