package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
)

// collector records Walk's calls and checks the serial, once-per-dir
// contract on the way.
type collector struct {
	t        *testing.T
	busy     atomic.Bool
	listings map[string]DirListing
	order    []string
}

func newCollector(t *testing.T) *collector {
	return &collector{t: t, listings: make(map[string]DirListing)}
}

func (c *collector) fn(l DirListing) error {
	if !c.busy.CompareAndSwap(false, true) {
		c.t.Error("fn called concurrently")
	}
	defer c.busy.Store(false)
	if _, dup := c.listings[l.Dir]; dup {
		c.t.Errorf("directory %q reported twice", l.Dir)
	}
	if l.Err != nil && l.Entries != nil {
		c.t.Errorf("directory %q has both Err and %d entries", l.Dir, len(l.Entries))
	}
	c.listings[l.Dir] = l
	c.order = append(c.order, l.Dir)
	return nil
}

func (c *collector) dirs() []string {
	out := make([]string, 0, len(c.listings))
	for d := range c.listings {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// wantEntry is the comparable part of an Entry.
type wantEntry struct {
	RelPath, Name, Link string
	Type                EntryType
	Size, MTime         int64
	Perm                fs.FileMode
}

func comparable(e Entry) wantEntry {
	return wantEntry{RelPath: e.RelPath, Name: e.Name, Link: e.Link, Type: e.Type, Size: e.Size, MTime: e.MTime.Unix(), Perm: e.Mode.Perm()}
}

// expectListing reads local directory root/rel the way Walk should report it
// (links not followed).
func expectListing(t *testing.T, root, rel string) []wantEntry {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("expect %q: %v", rel, err)
	}
	var out []wantEntry
	for _, de := range ents {
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		r := de.Name()
		if rel != "" {
			r = rel + "/" + de.Name()
		}
		w := wantEntry{RelPath: r, Name: de.Name(), Type: typeOf(fi.Mode()), Size: fi.Size(), MTime: fi.ModTime().Unix(), Perm: fi.Mode().Perm()}
		if w.Type == TypeSymlink {
			w.Link, _ = os.Readlink(filepath.Join(root, filepath.FromSlash(r)))
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func checkListing(t *testing.T, root string, l DirListing) {
	t.Helper()
	want := expectListing(t, root, l.Dir)
	got := make([]wantEntry, len(l.Entries))
	for i, e := range l.Entries {
		got[i] = comparable(e)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("listing of %q:\n got %+v\nwant %+v", l.Dir, got, want)
	}
}

// buildTree makes a nested tree under root: width dirs per level, depth
// levels, files files per dir. It returns the relative dirs, root ("") first.
func buildTree(t testing.TB, root string, width, depth, files int) []string {
	t.Helper()
	dirs := []string{""}
	level := []string{""}
	for d := 0; d < depth; d++ {
		var next []string
		for _, p := range level {
			for w := 0; w < width; w++ {
				next = append(next, path.Join(p, fmt.Sprintf("d%d", w)))
			}
		}
		dirs = append(dirs, next...)
		level = next
	}
	for _, d := range dirs {
		ld := filepath.Join(root, filepath.FromSlash(d))
		if err := os.MkdirAll(ld, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < files; f++ {
			if err := os.WriteFile(filepath.Join(ld, fmt.Sprintf("f%d", f)), []byte(strings.Repeat("x", f)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dirs
}

func walkAll(t *testing.T, d Doer, root string, opt WalkOptions) (*collector, error) {
	t.Helper()
	col := newCollector(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := Walk(ctx, d, root, opt, col.fn)
	return col, err
}

func TestWalkTree(t *testing.T) {
	for _, r := range servers(t) {
		t.Run(r.Name, func(t *testing.T) {
			rd, ld := caseDir(t, r)
			dirs := buildTree(t, ld, 3, 3, 2)
			// Odd entries: hostile names, a link, a dangling link, a fifo, modes.
			for _, n := range hostileNames {
				writeLocal(t, filepath.Join(ld, "d0", n), n)
				os.MkdirAll(filepath.Join(ld, "d1", n, "inner"), 0o700)
			}
			for _, n := range hostileNames {
				dirs = append(dirs, "d1/"+n, "d1/"+n+"/inner")
			}
			os.Symlink("d0/f1", filepath.Join(ld, "link"))
			os.Symlink("no such target", filepath.Join(ld, "d2", "dangling"))
			if err := syscall.Mkfifo(filepath.Join(ld, "fifo"), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chmod(filepath.Join(ld, "d0", "f0"), 0o600)
			mt := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
			os.Chtimes(filepath.Join(ld, "d0", "f1"), mt, mt)

			col, err := walkAll(t, r.C, rd, WalkOptions{Recursive: true, Concurrency: 4})
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			sort.Strings(dirs)
			if got := col.dirs(); !equalStrings(got, dirs) {
				t.Fatalf("dirs visited:\n got %q\nwant %q", got, dirs)
			}
			for _, l := range col.listings {
				if l.Err != nil {
					t.Errorf("listing %q failed: %v", l.Dir, l.Err)
					continue
				}
				checkListing(t, ld, l)
			}
			// Spot checks on types.
			byName := map[string]Entry{}
			for _, e := range col.listings[""].Entries {
				byName[e.Name] = e
			}
			if e := byName["fifo"]; e.Type != TypeOther {
				t.Errorf("fifo type %v", e.Type)
			}
			if e := byName["link"]; e.Type != TypeSymlink || e.Link != "d0/f1" {
				t.Errorf("link = %+v", e)
			}
		})
	}
}

func TestWalkDepthRecursiveSkip(t *testing.T) {
	r := inProcessFS(t)
	buildTree(t, r.Local, 2, 3, 1)
	cases := []struct {
		name string
		opt  WalkOptions
		want []string
	}{
		{"not recursive", WalkOptions{}, []string{""}},
		{"MaxDepth 1", WalkOptions{Recursive: true, MaxDepth: 1}, []string{""}},
		{"MaxDepth 2", WalkOptions{Recursive: true, MaxDepth: 2}, []string{"", "d0", "d1"}},
		{"MaxDepth 3", WalkOptions{Recursive: true, MaxDepth: 3}, []string{"", "d0", "d0/d0", "d0/d1", "d1", "d1/d0", "d1/d1"}},
		{"Skip d0", WalkOptions{Recursive: true, Skip: func(rel string, fi os.FileInfo) bool {
			if !fi.IsDir() {
				t.Errorf("Skip asked about non-directory %q", rel)
			}
			return rel == "d0"
		}}, []string{"", "d1", "d1/d0", "d1/d0/d0", "d1/d0/d1", "d1/d1", "d1/d1/d0", "d1/d1/d1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			col, err := walkAll(t, r.C, "/", tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := col.dirs(); !equalStrings(got, tc.want) {
				t.Fatalf("dirs = %q, want %q", got, tc.want)
			}
			for _, l := range col.listings {
				checkListing(t, r.Local, l) // pruned dirs still appear as entries
			}
		})
	}
}

func TestWalkFailPath(t *testing.T) {
	r := inProcessFS(t)
	buildTree(t, r.Local, 3, 2, 2)
	r.Srv.FailPath("/d1", os.ErrPermission)
	r.Srv.FailPath("/d2/d0", errors.New("I/O error"))
	col, err := walkAll(t, r.C, "/", WalkOptions{Recursive: true})
	if err != nil {
		t.Fatalf("Walk: %v (a failing subdirectory must not fail the walk)", err)
	}
	want := []string{"", "d0", "d0/d0", "d0/d1", "d0/d2", "d1", "d2", "d2/d0", "d2/d1", "d2/d2"}
	if got := col.dirs(); !equalStrings(got, want) {
		t.Fatalf("dirs = %q, want %q", got, want)
	}
	for dir, l := range col.listings {
		switch dir {
		case "d1":
			if !errors.Is(l.Err, fs.ErrPermission) || !strings.Contains(l.Err.Error(), "d1") {
				t.Errorf("d1: Err = %v, want a permission error naming it", l.Err)
			}
		case "d2/d0":
			if l.Err == nil || IsPermission(l.Err) {
				t.Errorf("d2/d0: Err = %v, want a failure", l.Err)
			}
		default:
			if l.Err != nil {
				t.Errorf("%s: %v", dir, l.Err)
			}
			checkListing(t, r.Local, l)
		}
	}

	// The root failing: reported through fn and returned.
	r.Srv.FailPath("/", os.ErrPermission)
	col, err = walkAll(t, r.C, "/", WalkOptions{Recursive: true})
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Walk of a refused root: %v", err)
	}
	if len(col.listings) != 1 || !errors.Is(col.listings[""].Err, fs.ErrPermission) {
		t.Fatalf("root failure not reported through fn: %v", col.listings)
	}
	r.Srv.FailPath("/", nil)
	if _, err := walkAll(t, r.C, "/missing", WalkOptions{}); !IsNotExist(err) {
		t.Fatalf("Walk of a missing root: %v", err)
	}
}

// TestWalkDropAfter cuts the connection part way through walks and checks
// that every directory is reported either complete and correct or with Err,
// never as a silently shorter listing.
func TestWalkDropAfter(t *testing.T) {
	// Drop points as parts of a full walk's requests (about 80; it varies
	// with how the reads are batched), so that the last still lands in it.
	for _, part := range []float64{0, .04, .12, .3, .55, .85} {
		t.Run(fmt.Sprint(part), func(t *testing.T) {
			r := inProcessFS(t)
			dirs := buildTree(t, r.Local, 4, 2, 5) // 21 dirs; about 4 requests each
			for i := 0; i < 120; i++ {             // one large directory: several READDIR batches
				writeLocal(t, filepath.Join(r.Local, "d3", fmt.Sprintf("many%03d", i)), "")
			}
			before := r.Srv.Requests()
			if _, err := walkAll(t, r.C, "/", WalkOptions{Recursive: true}); err != nil {
				t.Fatal(err)
			}
			full := r.Srv.Requests() - before
			if full < 40 {
				t.Fatalf("a full walk takes only %d requests: the drop points are too close together", full)
			}
			n := int(part * float64(full))
			r.Srv.DropAfter(n)
			col, err := walkAll(t, r.C, "/", WalkOptions{Recursive: true, Concurrency: 4})
			var failed int
			for dir, l := range col.listings {
				if l.Err != nil {
					failed++
					continue
				}
				checkListing(t, r.Local, l) // complete and correct
				if dir == "" && err != nil {
					t.Errorf("root listed yet Walk returned %v", err)
				}
			}
			rootL, ok := col.listings[""]
			if !ok {
				t.Fatal("root never reported")
			}
			if rootL.Err != nil && err == nil {
				t.Error("root failed but Walk returned nil")
			}
			if failed == 0 {
				t.Errorf("DropAfter(%d): no directory failed (%d listed of %d)", n, len(col.listings), len(dirs))
			}
			t.Logf("DropAfter(%d): %d listings, %d failed, Walk err=%v", n, len(col.listings), failed, err)
		})
	}
}

func TestWalkSymlinks(t *testing.T) {
	r := inProcessFS(t)
	w := filepath.Join(r.Local, "watch")
	for _, d := range []string{"a/b", "p", "q"} {
		os.MkdirAll(filepath.Join(w, d), 0o755)
	}
	os.MkdirAll(filepath.Join(r.Local, "outside", "deep"), 0o755)
	writeLocal(t, filepath.Join(w, "a", "file"), "12345")
	links := map[string]string{
		"a/b/up":   "../..",      // the root: an ancestor
		"a/self":   ".",          // its own directory
		"x":        "a",          // a directory inside the root, not an ancestor
		"out":      "../outside", // outside the walk root
		"abs":      "/outside",   // absolute, outside the walk root
		"dangling": "nope",
		"fl":       "a/file", // a file
		"p/l":      "../q",   // p and q point at each other
		"q/l":      "../p",
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(w, filepath.FromSlash(l))); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("not followed", func(t *testing.T) {
		col, err := walkAll(t, r.C, "/watch", WalkOptions{Recursive: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := col.dirs(), []string{"", "a", "a/b", "p", "q"}; !equalStrings(got, want) {
			t.Fatalf("dirs = %q, want %q", got, want)
		}
		for _, l := range col.listings {
			checkListing(t, w, l)
		}
	})

	t.Run("followed", func(t *testing.T) {
		col, err := walkAll(t, r.C, "/watch", WalkOptions{Recursive: true, FollowSymlinks: true})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"", "a", "a/b", "p", "p/l", "q", "q/l", "x", "x/b"}
		if got := col.dirs(); !equalStrings(got, want) {
			t.Fatalf("dirs = %q, want %q", got, want)
		}
		types := map[string]Entry{}
		for _, l := range col.listings {
			if l.Err != nil {
				t.Fatalf("%q: %v", l.Dir, l.Err)
			}
			for _, e := range l.Entries {
				types[e.RelPath] = e
			}
		}
		expect := map[string]EntryType{
			"a/b/up": TypeSymlink, "a/self": TypeSymlink, "x": TypeDir, "out": TypeSymlink,
			"abs": TypeSymlink, "dangling": TypeSymlink, "fl": TypeFile, "p/l": TypeDir,
			"q/l": TypeDir, "p/l/l": TypeSymlink, "q/l/l": TypeSymlink, "x/self": TypeSymlink,
			"x/b/up": TypeSymlink, "x/file": TypeFile,
		}
		for rel, typ := range expect {
			e, ok := types[rel]
			if !ok || e.Type != typ {
				t.Errorf("%s: %+v, want type %v", rel, e, typ)
			}
		}
		if e := types["fl"]; e.Size != 5 || e.Link != "a/file" {
			t.Errorf("followed file link = %+v, want the target's size and the link", e)
		}
		if e := types["out"]; e.Link != "../outside" {
			t.Errorf("out link = %q", e.Link)
		}
		if _, ok := types["out/deep"]; ok {
			t.Error("walked outside the root")
		}
	})
}

func TestWalkFnErrorStops(t *testing.T) {
	r := inProcessFS(t)
	buildTree(t, r.Local, 3, 3, 1)
	stop := errors.New("stop here")
	for _, after := range []int{1, 3} {
		calls := 0
		err := Walk(context.Background(), r.C, "/", WalkOptions{Recursive: true, Concurrency: 8}, func(DirListing) error {
			calls++
			if calls == after {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != after {
			t.Fatalf("after=%d: err=%v calls=%d", after, err, calls)
		}
	}
	// The client is still usable: the cancelled reads were cleaned up.
	if _, err := r.C.ListDir(context.Background(), "/"); err != nil {
		t.Fatal(err)
	}
}

func TestWalkCancel(t *testing.T) {
	r := inProcessFS(t)
	buildTree(t, r.Local, 3, 3, 1)
	r.Srv.SetLatency(5 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Walk(ctx, r.C, "/", WalkOptions{Recursive: true}, func(DirListing) error {
		calls++
		if calls == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 2 {
		t.Fatalf("err=%v calls=%d", err, calls)
	}
	cancel()
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := Walk(ctx, r.C, "/", WalkOptions{}, func(DirListing) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Walk with a cancelled ctx: %v", err)
	}
}

// countingDoer measures how many Do calls overlap.
type countingDoer struct {
	d        Doer
	mu       sync.Mutex
	cur, max int
}

func (c *countingDoer) Do(ctx context.Context, fn func(*Client) error) error {
	c.mu.Lock()
	c.cur++
	c.max = max(c.max, c.cur)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.cur--
		c.mu.Unlock()
	}()
	return c.d.Do(ctx, fn)
}

func TestWalkKeepsReadsInFlight(t *testing.T) {
	r := inProcessFS(t)
	buildTree(t, r.Local, 6, 2, 1) // 43 dirs
	r.Srv.SetLatency(10 * time.Millisecond)
	cd := &countingDoer{d: r.C}
	col, err := walkAll(t, cd, "/", WalkOptions{Recursive: true, Concurrency: 8})
	if err != nil || len(col.listings) != 43 {
		t.Fatalf("Walk: %v, %d listings", err, len(col.listings))
	}
	if cd.max < 4 || cd.max > 8 {
		t.Fatalf("max reads in flight = %d, want between 4 and Concurrency 8", cd.max)
	}
}

// TestWalkPkgSFTPMatchesPipelined walks one tree with the pipelined reader
// and with pkg/sftp (the fallback when a server refuses the reader): the
// listings, hostile names, links, a fifo and special mode bits included,
// and what Skip is shown, are the same.
func TestWalkPkgSFTPMatchesPipelined(t *testing.T) {
	s, root := startInProcess(t)
	buildTree(t, root, 2, 2, 2)
	for _, n := range hostileNames {
		writeLocal(t, filepath.Join(root, "d0", n), n)
		if err := os.MkdirAll(filepath.Join(root, "d1", n, "inner"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("d0/f1", filepath.Join(root, "link"))
	os.Symlink("d1", filepath.Join(root, "dirlink"))
	os.Symlink("nowhere", filepath.Join(root, "d0", "dangling"))
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "d0", "f0"), 0o755|fs.ModeSetuid|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "d1"), 0o755|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
	at, mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(root, "d0", "f1"), at, mt); err != nil {
		t.Fatal(err)
	}

	walk := func(pkgSFTP, follow bool) (map[string]DirListing, map[string]string) {
		c := dialInProcess(t, s)
		if pkgSFTP {
			c.lister.off = errors.New("test: list with pkg/sftp")
		}
		var mu sync.Mutex
		skipped := map[string]string{}
		opt := WalkOptions{Recursive: true, FollowSymlinks: follow, Concurrency: 3, Skip: func(rel string, fi os.FileInfo) bool {
			st, _ := fi.Sys().(*sftp.FileStat)
			mu.Lock()
			defer mu.Unlock()
			skipped[rel] = fmt.Sprintf("%s %v %v %d", fi.Name(), fi.Mode(), st != nil, fi.ModTime().Unix())
			return false
		}}
		col, err := walkAll(t, c, "/", opt)
		if err != nil {
			t.Fatal(err)
		}
		if used := c.lister.cur.Load() != nil; used == pkgSFTP {
			t.Fatalf("pipelined reader used: %v", used)
		}
		return col.listings, skipped
	}
	for _, follow := range []bool{false, true} {
		pipe, pipeSkip := walk(false, follow)
		pkg, pkgSkip := walk(true, follow)
		if !reflect.DeepEqual(pipe, pkg) {
			t.Errorf("follow %v: listings differ\npipelined %+v\npkg/sftp  %+v", follow, pipe, pkg)
		}
		if !reflect.DeepEqual(pipeSkip, pkgSkip) {
			t.Errorf("follow %v: Skip saw\npipelined %q\npkg/sftp  %q", follow, pipeSkip, pkgSkip)
		}
		if len(pipe) < 10 || len(pipeSkip) < 10 {
			t.Fatalf("follow %v: %d listings, %d Skip calls", follow, len(pipe), len(pipeSkip))
		}
		for _, l := range pipe {
			if !follow {
				checkListing(t, root, l)
			}
		}
	}
}

// TestListedNameIsSafeName: the walk's quicker check refuses exactly what
// safeName refuses.
func TestListedNameIsSafeName(t *testing.T) {
	names := append([]string{"", ".", "..", "...", "a/b", "/", "a/", "\x00", "a\x00b", `a\b`, "..a", " ", "\n"}, hostileNames...)
	for _, n := range names {
		if listedName(n) != safeName(n) {
			t.Errorf("listedName(%q) = %v, safeName %v", n, listedName(n), safeName(n))
		}
	}
}
