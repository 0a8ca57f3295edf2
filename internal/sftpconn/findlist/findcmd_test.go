package findlist

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
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
	if sftpconn.IsConnectionError(c) {
		t.Errorf("a permission error is classified as a connection error: %v", c)
	}
}

func rec(fields ...string) string { return strings.Join(fields, "\x00") + "\x00" }

// parseFind feeds stream to a parser for a recursive walk, step bytes at a
// time, and returns every listing it produced (handed over while parsing,
// then those finish returns) by directory.
func parseFind(stream string, step int, opt sftpconn.WalkOptions) (map[string][]sftpconn.Entry, []string, error) {
	var order []string
	got := map[string][]sftpconn.Entry{}
	add := func(l sftpconn.DirListing) {
		order = append(order, l.Dir)
		got[l.Dir] = l.Entries
	}
	p := newFindParser(opt, func(l sftpconn.DirListing) bool { add(l); return true })
	for i := 0; i < len(stream); i += step {
		p.Write([]byte(stream[i:min(i+step, len(stream))]))
	}
	rest, err := p.finish()
	for _, l := range rest {
		add(l)
	}
	return got, order, err
}

func TestFindParser(t *testing.T) {
	root := rec("d", "4096", "1700000000.5", "755", "", "")
	ok := root + rec("f", "3", "1700000001.9999", "4644", "a b", "") +
		rec("d", "4096", "1700000002", "1777", "d", "") +
		rec("l", "3", "1700000003.0", "777", "d/ln", "../a b") +
		rec("d", "4096", "1700000002", "755", "d/e", "") +
		rec("p", "0", "1700000004.0", "600", "d/e/fifo\nx", "") +
		rec("f", "0", "-5.5", "600", "d/0", "") +
		rec("f", "0", "1", "600", "B", "")
	for _, step := range []int{1, 7, len(ok)} { // records span writes, or not
		got, order, err := parseFind(ok, step, sftpconn.WalkOptions{Recursive: true})
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		// A directory is handed over when find leaves it: deepest first,
		// the root last.
		if want := []string{"d/e", "d", ""}; !slices.Equal(order, want) {
			t.Fatalf("step %d: listings %q, want %q", step, order, want)
		}
		names := func(dir string) (n []string) {
			for _, e := range got[dir] {
				n = append(n, e.Name)
			}
			return n
		}
		if r, d := names(""), names("d"); !slices.Equal(r, []string{"B", "a b", "d"}) || !slices.Equal(d, []string{"0", "e", "ln"}) {
			t.Fatalf("step %d: not sorted by name or incomplete: root %q, d %q", step, r, d)
		}
		f := got[""][1]
		if f.Name != "a b" || f.RelPath != "a b" || f.Size != 3 || f.MTime.Unix() != 1700000001 || f.Mode.Perm() != 0o644 || f.Mode&fs.ModeSetuid == 0 {
			t.Errorf("file %+v", f)
		}
		if d := got[""][2]; !d.Mode.IsDir() || d.Mode&fs.ModeSticky == 0 || d.Mode.Perm() != 0o777 {
			t.Errorf("dir %+v", d)
		}
		if l := got["d"][2]; l.Link != "../a b" || l.RelPath != "d/ln" || l.Name != "ln" {
			t.Errorf("link %+v", l)
		}
		if o := got["d/e"][0]; o.Mode&fs.ModeNamedPipe == 0 || o.Name != "fifo\nx" || o.RelPath != "d/e/fifo\nx" {
			t.Errorf("fifo %+v", o)
		}
		if o := got["d"][0]; o.MTime.Unix() != -5 {
			t.Errorf("mtime before 1970: %v", o.MTime)
		}
	}

	// Skip and depth: a directory Walk would not list is not handed over,
	// nor anything below it.
	got, order, err := parseFind(ok, 3, sftpconn.WalkOptions{Recursive: true, Skip: func(rel string, fi os.FileInfo) bool {
		return rel == "d" && fi.IsDir()
	}})
	if err != nil || !slices.Equal(order, []string{""}) || len(got[""]) != 3 {
		t.Errorf("skip d: %q %v %v", order, got, err)
	}
	if _, order, err := parseFind(ok, 3, sftpconn.WalkOptions{Recursive: true, MaxDepth: 2}); err != nil || !slices.Equal(order, []string{"d", ""}) {
		t.Errorf("max depth 2: %q %v", order, err)
	}

	for name, stream := range map[string]string{
		"truncated field":    ok[:len(ok)-1],
		"truncated record":   root + "f\x003\x00",
		"root is a file":     rec("f", "1", "1", "644", "", ""),
		"no root first":      rec("f", "1", "1", "644", "a", ""),
		"orphan":             root + rec("f", "1", "1", "644", "nodir/a", ""),
		"parent not a dir":   root + rec("f", "1", "1", "644", "a", "") + rec("f", "1", "1", "644", "a/b", ""),
		"duplicate":          root + rec("f", "1", "1", "644", "a", "") + rec("f", "1", "1", "644", "a", ""),
		"duplicate dir":      root + rec("d", "1", "1", "755", "a", "") + rec("d", "1", "1", "755", "a", ""),
		"left and back":      root + rec("d", "1", "1", "755", "a", "") + rec("f", "1", "1", "644", "b", "") + rec("f", "1", "1", "644", "a/x", ""),
		"dotdot":             root + rec("f", "1", "1", "644", "..", ""),
		"dot":                root + rec("d", "1", "1", "755", "a", "") + rec("f", "1", "1", "644", "a/./x", ""),
		"empty element":      root + rec("d", "1", "1", "755", "a", "") + rec("f", "1", "1", "644", "a//x", ""),
		"absolute":           root + rec("f", "1", "1", "644", "/etc/passwd", ""),
		"literal directives": "%y\x00%s\x00%T@\x00%m\x00%P\x00%l\x00",
		"bad size":           root + rec("f", "x", "1", "644", "a", ""),
		"negative size":      root + rec("f", "-1", "1", "644", "a", ""),
		"huge size":          root + rec("f", "99999999999999999999", "1", "644", "a", ""),
		"bad mtime":          root + rec("f", "1", "1.x", "644", "a", ""),
		"empty mtime":        root + rec("f", "1", "", "644", "a", ""),
		"bad mode":           root + rec("f", "1", "1", "9", "a", ""),
		"mode too big":       root + rec("f", "1", "1", "17777", "a", ""),
		"second root":        root + root,
	} {
		if _, _, err := parseFind(stream, 5, sftpconn.WalkOptions{Recursive: true}); !errors.Is(err, errFindOutput) {
			t.Errorf("%s: finish = %v, want errFindOutput", name, err)
		}
	}
}

// TestFindParserAbandoned: once nobody takes listings, parsing stops.
func TestFindParserAbandoned(t *testing.T) {
	p := newFindParser(sftpconn.WalkOptions{Recursive: true}, func(sftpconn.DirListing) bool { return false })
	p.Write([]byte(rec("d", "1", "1", "755", "", "") + rec("d", "1", "1", "755", "a", "") + rec("f", "1", "1", "644", "b", "")))
	if _, err := p.finish(); !errors.Is(err, errFindAbandoned) {
		t.Errorf("finish = %v, want errFindAbandoned", err)
	}
}

func TestVanishedEntry(t *testing.T) {
	p := newFindParser(sftpconn.WalkOptions{Recursive: true}, func(sftpconn.DirListing) bool { return true })
	p.Write([]byte(rec("d", "4096", "1", "755", "", "") +
		rec("d", "4096", "1", "755", "d", "") +
		rec("l", "1", "1", "777", "d/ln", "gone") +
		rec("f", "1", "1", "644", "d/kept", "")))
	if _, err := p.finish(); err != nil {
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
		{"d/ln", fs.ErrNotExist, false},     // a printed link find could not read: not a vanishing
		{"nodir/z", fs.ErrNotExist, false},  // parent never printed: cannot be sure
		{"x.part", fs.ErrPermission, false}, // not a vanishing
		{"", fs.ErrNotExist, false},         // the root itself
	} {
		if got := vanishedEntry(p, c.rel, c.cause); got != c.want {
			t.Errorf("vanishedEntry(%q, %v) = %v, want %v", c.rel, c.cause, got, c.want)
		}
	}
}

func FuzzValidRelBytes(f *testing.F) {
	for _, s := range []string{"a", "a/b", "", "/", "a/", "/a", ".", "..", "a/./b", "a/../b", "...", ".a/b.", "a//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		if got, want := validRelBytes([]byte(rel)), validRel(rel); got != want {
			t.Fatalf("validRelBytes(%q) = %v, validRel %v", rel, got, want)
		}
	})
}
