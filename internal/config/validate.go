package config

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

var watchNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// The value sets of enumerated settings.
func logLevels() []string    { return []string{"debug", "info", "warn", "error"} }
func logFormats() []string   { return []string{"json", "console"} }
func entryTypes() []string   { return []string{"file", "dir", "symlink"} }
func eventTypes() []string   { return []string{"create", "modify", "delete", "rename"} }
func initialModes() []string { return []string{"baseline", "emit"} }
func listers() []string      { return []string{ListerSFTP, ListerFind} }

// validator checks a defaulted Config and collects every problem.
type validator struct {
	c   *Config
	set func(string) bool
	p   *problems
}

func (v *validator) fail(key, format string, args ...any) {
	v.p.add(key, fmt.Sprintf(format, args...))
}

// oneOf checks that val is one of allowed.
func (v *validator) oneOf(key, val string, allowed []string) bool {
	if slices.Contains(allowed, val) {
		return true
	}
	v.fail(key, "%q is not one of %s%s", truncate(val, 40), strings.Join(allowed, ", "), didYouMean(val, allowed))
	return false
}

func (v *validator) validate() {
	c := v.c
	if c.StateDir == "" {
		v.fail("state_dir", "is empty; give the directory that holds the state, or leave it out for the default")
	}
	if c.ShutdownTimeout < 0 {
		v.fail("shutdown_timeout", "must not be negative")
	}
	v.oneOf("log.level", c.Log.Level, logLevels())
	v.oneOf("log.format", c.Log.Format, logFormats())
	if c.HTTP.Listen != "" {
		if err := checkListen(c.HTTP.Listen); err != "" {
			v.fail("http.listen", "%s; use host:port such as 127.0.0.1:9717, or \"\" to disable the server", err)
		}
	}
	for _, name := range sortedKeys(c.Hosts) {
		h := c.Hosts[name]
		v.host(&h, join("hosts", name))
		c.Hosts[name] = h // keeps the normalized address
	}
	if len(c.Watches) == 0 && !v.p.has("watches") {
		v.fail("watches", "no watch is configured; add at least one under watches:")
	}
	firstByName := map[string]int{}
	for i := range c.Watches {
		key := index("watches", i)
		w := &c.Watches[i]
		if w.Name != "" {
			if j, dup := firstByName[w.Name]; dup {
				v.fail(key+".name", "%q is already the name of watches[%d]; watch names must be unique", truncate(w.Name, 60), j)
			} else {
				firstByName[w.Name] = i
			}
		}
		v.watch(w, key)
	}
}

// checkListen returns what is wrong with a listen address, or "".
func checkListen(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not a host:port address", truncate(addr, 60))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q has an invalid port", truncate(addr, 60))
	}
	return ""
}

func (v *validator) watch(w *Watch, key string) {
	if v.p.has(key) {
		return // not a mapping: reported once
	}
	switch {
	case w.Name == "":
		v.fail(key+".name", "is required: a unique name made of letters, digits, '_', '.' and '-'")
	case !watchNameRE.MatchString(w.Name):
		v.fail(key+".name", "%q may only hold letters, digits, '_', '.' and '-'", truncate(w.Name, 60))
	case w.Name == "." || w.Name == "..":
		// Allowed by the SPEC's pattern, but the name keys state and metrics
		// and may become a path element somewhere: refuse the two that would
		// mean "here" and "the parent".
		v.fail(key+".name", "%q cannot be a watch name", w.Name)
	}
	switch _, ok := v.c.Hosts[w.Host]; {
	case v.p.has("hosts"):
		// hosts: itself is malformed; every reference would fail.
	case w.Host == "":
		v.fail(key+".host", "is required: the name of a host under hosts:")
	case !ok && len(v.c.Hosts) == 0:
		v.fail(key+".host", "names host %q, but no hosts are defined under hosts:", truncate(w.Host, 60))
	case !ok:
		v.fail(key+".host", "names host %q, which is not defined under hosts:%s", truncate(w.Host, 60), didYouMean(w.Host, sortedKeys(v.c.Hosts)))
	}
	switch {
	case w.Path == "":
		v.fail(key+".path", "is required: the absolute remote directory to watch")
	case !path.IsAbs(w.Path):
		v.fail(key+".path", "%q is not an absolute remote path; start it with /", truncate(w.Path, 80))
	default:
		w.Path = path.Clean(w.Path)
	}
	if w.MaxDepth < 0 {
		v.fail(key+".max_depth", "must not be negative (0 means unlimited)")
	}
	if v.oneOf(key+".lister", w.Lister, listers()) && w.Lister == ListerFind && w.FollowSymlinks {
		v.fail(key+".lister", "find cannot be combined with follow_symlinks: true (find -L could follow links out of path); use lister: sftp")
	}
	v.globs(w.Include, key+".include")
	v.globs(w.Exclude, key+".exclude")
	for i, t := range w.Types {
		v.oneOf(index(key+".types", i), t, entryTypes())
	}
	if w.Interval <= 0 {
		v.fail(key+".interval", "must be positive, such as 30s")
	}
	if w.Settle < 0 {
		v.fail(key+".settle", "must not be negative")
	}
	if w.MinAge < 0 {
		v.fail(key+".min_age", "must not be negative")
	}
	v.oneOf(key+".initial", w.Initial, initialModes())
	for i, e := range w.Events {
		ek := index(key+".events", i)
		if v.oneOf(ek, e, eventTypes()) && e == "rename" && !w.DetectRenames {
			v.fail(ek, "rename events need detect_renames: true")
		}
	}
	if w.Concurrency < 1 {
		v.fail(key+".concurrency", "must be at least 1")
	}
	r := w.Retry
	if r.MaxAttempts < 1 {
		v.fail(key+".retry.max_attempts", "must be at least 1")
	}
	if r.InitialBackoff <= 0 {
		v.fail(key+".retry.initial_backoff", "must be positive, such as 1s")
	}
	if r.MaxBackoff < r.InitialBackoff {
		v.fail(key+".retry.max_backoff", "(%s) must not be less than initial_backoff (%s)", r.MaxBackoff, r.InitialBackoff)
	}
	for i := range w.Actions {
		v.action(w, &w.Actions[i], index(key+".actions", i))
	}
	v.watchFilesOptions(w, key)
}

// watchFilesOptions checks the size bounds, the marker and the dead-letter
// policy of a watch.
func (v *validator) watchFilesOptions(w *Watch, key string) {
	if w.MinSize < 0 {
		v.fail(key+".min_size", "must not be negative (bytes; 0 means no lower bound)")
	}
	switch {
	case w.MaxSize < 0:
		v.fail(key+".max_size", "must not be negative (bytes; 0 means no upper bound)")
	case w.MaxSize > 0 && w.MaxSize < w.MinSize:
		v.fail(key+".max_size", "(%d) must be >= min_size (%d); both bounds are inclusive", w.MaxSize, w.MinSize)
	}
	switch m := w.RequireMarker; {
	case m == "" && w.RemoveMarker:
		v.fail(key+".remove_marker", "needs require_marker: the suffix of the marker files to remove")
	case m == "":
	case strings.ContainsAny(m, "/\x00"):
		v.fail(key+".require_marker", "%q must be a plain suffix such as \".done\", without '/'", truncate(m, 40))
	case m == "." || m == "..":
		v.fail(key+".require_marker", "%q cannot be a marker suffix; use something like \".done\"", m)
	}
	switch d := w.OnDeadLetter.MoveTo; {
	case d == "":
	case !path.IsAbs(d):
		v.fail(key+".on_dead_letter.move_to", "%q is not an absolute remote path; start it with /", truncate(d, 80))
	default:
		w.OnDeadLetter.MoveTo = path.Clean(d)
		if w.Path != "" && w.OnDeadLetter.MoveTo == path.Clean(w.Path) {
			v.fail(key+".on_dead_letter.move_to", "is the watched directory itself; give a directory to move failed files into")
		}
	}
}

func (v *validator) globs(patterns []string, key string) {
	for i, g := range patterns {
		switch {
		case g == "":
			v.fail(index(key, i), "is an empty pattern")
		case !doublestar.ValidatePattern(g):
			v.fail(index(key, i), "%q is not a valid glob pattern (check brackets and braces)", truncate(g, 80))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
