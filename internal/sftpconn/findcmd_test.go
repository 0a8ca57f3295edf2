package sftpconn

import (
	"errors"
	"io/fs"
	"os/exec"
	"strings"
	"testing"
)

// hostileRoots are roots a remote shell must receive byte for byte.
var hostileRoots = []string{
	"/plain",
	"/with space",
	"/it's",
	"/'",
	"/''\\''",
	"/$(touch PWNED)",
	"/`touch PWNED`",
	"/a;touch PWNED",
	"/a\nb",
	"/back\\slash",
	"/dollar$HOME",
	"/glob*?[x]",
	"/!bang",
	"/tab\there",
	"/ünï",
}

// TestShellQuoteRealShell gives every hostile root to /bin/sh and checks
// that it arrives unchanged and runs nothing.
func TestShellQuoteRealShell(t *testing.T) {
	dir := t.TempDir()
	for _, root := range hostileRoots {
		cmd := exec.Command("/bin/sh", "-c", "printf '%s' "+ShellQuote(root))
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sh for %q: %v", root, err)
		}
		if string(out) != root {
			t.Errorf("root %q reached the shell as %q", root, out)
		}
	}
	assertNoPWNED(t, dir)
}

func TestFindCommand(t *testing.T) {
	got := findCommand("/it's", 0)
	want := `env LC_ALL=C find -H '/it'\''s' -printf '%y\0%s\0%T@\0%m\0%P\0%l\0'`
	if got != want {
		t.Errorf("findCommand = %s\nwant %s", got, want)
	}
	if got := findCommand("/r", 3); !strings.Contains(got, " -maxdepth 3 -printf ") {
		t.Errorf("findCommand with depth 3 = %s", got)
	}
}

func TestParseFindError(t *testing.T) {
	for _, tc := range []struct {
		line, path string
		is         error
	}{
		{`find: '/up/sub': Permission denied`, "/up/sub", fs.ErrPermission},
		{`find: '/up/q\'x\\y\nz': Permission denied`, "/up/q'x\\y\nz", fs.ErrPermission},
		{`find: '/up/\303\274 $(x)': No such file or directory`, "/up/ü $(x)", fs.ErrNotExist},
		{`find: '/up/a': b': Input/output error`, "", nil}, // unescaped quote: not gnulib's
		{`find: '/up/d': Something new`, "/up/d", nil},
	} {
		p, cause, err := parseFindError(tc.line)
		if tc.path == "" {
			if !errors.Is(err, errFindMessage) {
				t.Errorf("%q: err %v, want errFindMessage", tc.line, err)
			}
			continue
		}
		if err != nil || p != tc.path {
			t.Errorf("%q: path %q err %v, want %q", tc.line, p, err, tc.path)
			continue
		}
		if tc.is != nil && !errors.Is(cause, tc.is) {
			t.Errorf("%q: cause %v, want %v", tc.line, cause, tc.is)
		}
		if tc.is == nil && (cause == nil || cause.Error() != "Something new") {
			t.Errorf("%q: cause %v", tc.line, cause)
		}
	}
	for _, line := range []string{
		"find: warning: you have specified the global option -maxdepth after the argument",
		"find: File system loop detected; '/up/x' is part of the same file system loop as '/up'.",
		"find: '/up/x': ",
		`find: '/up/\q': Permission denied`,
		`find: '/up/\12': Permission denied`,
		"find: '/up/\x80': Permission denied",
		"find: -printf: unknown primary or operator",
		"",
	} {
		if _, _, err := parseFindError(line); !errors.Is(err, errFindMessage) {
			t.Errorf("%q parsed (err %v)", line, err)
		}
	}
	// Never a syscall.Errno: that is a net.Error, i.e. "connection lost".
	_, c, _ := parseFindError(`find: '/x': Permission denied`)
	if IsConnectionError(c) {
		t.Errorf("a permission error is classified as a connection error: %v", c)
	}
}

func rec(fields ...string) string { return strings.Join(fields, "\x00") + "\x00" }

func TestFindParser(t *testing.T) {
	root := rec("d", "4096", "1700000000.5", "755", "", "")
	ok := root + rec("f", "3", "1700000001.9999", "4644", "a b", "") +
		rec("d", "4096", "1700000002", "1777", "d", "") +
		rec("l", "3", "1700000003.0", "777", "d/ln", "../a b") +
		rec("p", "0", "1700000004.0", "600", "d/fifo\nx", "")
	p := newFindParser()
	// Fed a byte at a time: records span writes.
	for i := range len(ok) {
		p.Write([]byte{ok[i]})
	}
	if err := p.finish(); err != nil {
		t.Fatalf("finish: %v", err)
	}
	if len(p.entries) != 4 || !p.rootSeen() {
		t.Fatalf("entries %+v", p.entries)
	}
	f := p.entries[0]
	if f.Name != "a b" || f.Size != 3 || f.MTime.Unix() != 1700000001 || f.Mode.Perm() != 0o644 || f.Mode&fs.ModeSetuid == 0 {
		t.Errorf("file %+v", f)
	}
	if d := p.entries[1]; !d.Mode.IsDir() || d.Mode&fs.ModeSticky == 0 || d.Mode.Perm() != 0o777 {
		t.Errorf("dir %+v", d)
	}
	if l := p.entries[2]; l.Link != "../a b" || l.RelPath != "d/ln" || l.Name != "ln" {
		t.Errorf("link %+v", l)
	}
	if o := p.entries[3]; o.Mode&fs.ModeNamedPipe == 0 || o.Name != "fifo\nx" {
		t.Errorf("fifo %+v", o)
	}

	for name, stream := range map[string]string{
		"truncated field":    ok[:len(ok)-1],
		"truncated record":   root + "f\x003\x00",
		"root is a file":     rec("f", "1", "1", "644", "", ""),
		"no root first":      rec("f", "1", "1", "644", "a", ""),
		"orphan":             root + rec("f", "1", "1", "644", "nodir/a", ""),
		"parent not a dir":   root + rec("f", "1", "1", "644", "a", "") + rec("f", "1", "1", "644", "a/b", ""),
		"duplicate":          root + rec("f", "1", "1", "644", "a", "") + rec("f", "1", "1", "644", "a", ""),
		"dotdot":             root + rec("f", "1", "1", "644", "..", ""),
		"absolute":           root + rec("f", "1", "1", "644", "/etc/passwd", ""),
		"literal directives": "%y\x00%s\x00%T@\x00%m\x00%P\x00%l\x00",
		"bad size":           root + rec("f", "x", "1", "644", "a", ""),
		"bad mtime":          root + rec("f", "1", "1.x", "644", "a", ""),
		"bad mode":           root + rec("f", "1", "1", "9", "a", ""),
		"second root":        root + root,
	} {
		p := newFindParser()
		p.Write([]byte(stream))
		if err := p.finish(); !errors.Is(err, errFindOutput) {
			t.Errorf("%s: finish = %v, want errFindOutput", name, err)
		}
	}
}

func TestVanishedEntry(t *testing.T) {
	p := newFindParser()
	p.Write([]byte(rec("d", "4096", "1", "755", "", "") +
		rec("d", "4096", "1", "755", "d", "") +
		rec("f", "1", "1", "644", "d/kept", "")))
	if err := p.finish(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rel   string
		cause error
		want  bool
	}{
		{"x.part", fs.ErrNotExist, true},    // in the root, gone before find looked at it
		{"d/y.part", fs.ErrNotExist, true},  // in a printed directory
		{"d", fs.ErrNotExist, false},        // a printed directory that vanished: failed dir
		{"d/kept", fs.ErrNotExist, false},   // printed: not a vanished entry
		{"nodir/z", fs.ErrNotExist, false},  // parent never printed: cannot be sure
		{"x.part", fs.ErrPermission, false}, // not a vanishing
		{"", fs.ErrNotExist, false},         // the root itself
	} {
		if got := vanishedEntry(p, c.rel, c.cause); got != c.want {
			t.Errorf("vanishedEntry(%q, %v) = %v, want %v", c.rel, c.cause, got, c.want)
		}
	}
}
