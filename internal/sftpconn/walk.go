package sftpconn

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/sftp3"
)

// Doer runs fn with a connected Client: *Pool (one pooled connection per
// call) and *Client (itself) satisfy it.
type Doer interface {
	Do(ctx context.Context, fn func(*Client) error) error
}

var _ Doer = (*Client)(nil)

// Do runs fn with c, after checking ctx: a Client is a Doer of one
// connection.
func (c *Client) Do(ctx context.Context, fn func(*Client) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn(c)
}

// DefaultWalkConcurrency is the number of directory reads Walk keeps in
// flight when WalkOptions.Concurrency is 0: the pool's default request
// budget (DefaultMaxConcurrentRequests, 64). What it buys over a
// one-request-at-a-time walk is measured in bench/RESULTS.md.
const DefaultWalkConcurrency = DefaultMaxConcurrentRequests

// WalkOptions tunes Walk.
type WalkOptions struct {
	// MaxDepth limits how deep entries are reported: 0 is unlimited, 1 the
	// root's entries only, 2 also its subdirectories' entries, and so on.
	MaxDepth int
	// Recursive descends into subdirectories; false lists the root only.
	Recursive bool
	// FollowSymlinks reports a symbolic link that resolves inside the root
	// as what it points to and descends into it when it is a directory,
	// unless that directory is the link's own directory or one of its
	// ancestors (a loop). Links that resolve outside the root, dangle or
	// loop are reported as symbolic links. Off, links are never followed.
	FollowSymlinks bool
	// Concurrency is the number of directory reads in flight (default
	// DefaultWalkConcurrency, 64).
	Concurrency int
	// Skip, if set, is asked before descending into each directory (relPath
	// is relative to the root); true prunes it: it is reported as an entry of
	// its parent but not listed.
	Skip func(relPath string, fi os.FileInfo) bool
}

// Walk lists the tree under root (resolved against c's working directory
// when relative), keeping up to opt.Concurrency directory reads in flight
// through d — pysftp's walktree does one request at a time; on a link with
// round-trip time R a tree of N directories takes about N×R/Concurrency
// instead of N×R.
//
// Contract:
//   - fn is called exactly once per directory visited, serially (never
//     concurrently, on Walk's goroutine), in no particular order.
//   - A listing is complete or has Err set, never silently shorter: an error
//     part way through a directory (permission, I/O error, the directory
//     vanishing, the connection lost) is reported as DirListing{Dir, Err}
//     with no entries, and the walk goes on with the other directories.
//   - If the root cannot be listed, fn is called with its DirListing{Err}
//     and Walk returns an error wrapping it.
//   - If fn returns an error, Walk cancels the reads in flight, waits for
//     them and returns that error. Cancelling ctx stops it promptly with
//     ctx.Err().
//   - Memory is bounded by the directories in flight and not yet visited,
//     not by the tree: listings are handed to fn and then dropped.
//   - Symbolic links are reported as Type Symlink with Link set (one extra
//     Readlink each, issued concurrently); see WalkOptions.FollowSymlinks.
//     Entries that are neither files, directories nor links are Type Other.
//     Names pass through unchanged (newlines, spaces, any bytes but '/').
func Walk(ctx context.Context, d Doer, root string, opt WalkOptions, fn func(DirListing) error) error {
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultWalkConcurrency
	}
	if root == "" {
		root = "."
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &walker{
		d: d, root: root, opt: opt,
		tasks:   make(chan dirTask, opt.Concurrency),
		results: make(chan dirResult, opt.Concurrency),
	}
	defer w.wg.Wait() // runs before cancel: in-flight reads have been cancelled by then (see run)

	first := dirTask{}
	if opt.FollowSymlinks {
		err := d.Do(ctx, func(c *Client) error {
			real, err := c.Normalize(ctx, root)
			w.rootReal = real
			return err
		})
		if err != nil {
			err = fmt.Errorf("walk %q: %w", root, err)
			if ferr := fn(DirListing{Err: err}); ferr != nil {
				return ferr
			}
			return err
		}
		first.real = w.rootReal
		first.segs = []segment{{start: w.rootReal}}
	}
	return w.run(ctx, cancel, first, fn)
}

// dirTask is a directory to list. real and segs are only kept when following
// links: real is the directory's resolved path on the server; segs are the
// stretches of the walk path between followed links (start is where each
// began, end where the next link was taken; the last ends at real), which
// together are exactly this directory's ancestors.
type dirTask struct {
	rel   string
	depth int
	real  string
	segs  []segment
}

type segment struct{ start, end string }

type linkInfo struct {
	target string      // Readlink result; "" if the server could not say
	fi     os.FileInfo // Stat of the target; nil if it dangles or is refused
	real   string      // RealPath of the link; "" if refused
}

type dirResult struct {
	task    dirTask
	entries []sftp3.Entry // sorted by name
	links   map[int]linkInfo
	err     error
}

type walker struct {
	d        Doer
	root     string
	rootReal string
	opt      WalkOptions
	tasks    chan dirTask   // to the workers; never more than Concurrency in flight
	results  chan dirResult // from the workers
	workers  int
	wg       sync.WaitGroup // the workers
}

// run hands the directories to list to up to Concurrency workers, started
// as the walk needs them and kept until it ends: a goroutine per directory
// would also grow a new stack per directory (an SSH write needs a deep one).
func (w *walker) run(ctx context.Context, cancel context.CancelFunc, first dirTask, fn func(DirListing) error) error {
	defer close(w.tasks) // the workers return; Walk waits for them
	pending := []dirTask{first}
	inflight := 0
	fail := func(err error) error {
		cancel()
		for ; inflight > 0; inflight-- {
			<-w.results
		}
		return err
	}
	for len(pending) > 0 || inflight > 0 {
		for len(pending) > 0 && inflight < w.opt.Concurrency {
			t := pending[len(pending)-1] // depth first keeps the pending list short
			pending = pending[:len(pending)-1]
			inflight++
			if inflight > w.workers {
				w.workers++
				w.wg.Add(1)
				go w.work(ctx)
			}
			w.tasks <- t // never blocks: at most Concurrency tasks are in flight
		}
		var r dirResult
		select {
		case r = <-w.results:
			inflight--
		case <-ctx.Done():
			return fail(ctx.Err())
		}
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		listing, children := w.build(r)
		if err := fn(listing); err != nil {
			return fail(err)
		}
		if r.task.rel == "" && listing.Err != nil {
			return fail(listing.Err) // already names the root
		}
		pending = append(pending, children...)
	}
	return nil
}

// work lists the directories run hands it until the walk ends.
func (w *walker) work(ctx context.Context) {
	defer w.wg.Done()
	for t := range w.tasks {
		w.list(ctx, t)
	}
}

// list reads one directory (and its links' targets) and sends the result.
func (w *walker) list(ctx context.Context, t dirTask) {
	dir := path.Join(w.root, t.rel)
	res := dirResult{task: t}
	err := w.d.Do(ctx, func(c *Client) error {
		full := c.abs(dir)
		entries, err := c.listDir(ctx, full)
		if err != nil {
			return err
		}
		links, err := w.resolveLinks(ctx, c, full, entries)
		if err != nil {
			return err
		}
		res.entries, res.links = entries, links
		return nil
	})
	res.err = opErr("list", dir, err)
	w.results <- res
}

// linkConcurrency bounds the link look-ups of one directory in flight.
const linkConcurrency = 8

// resolveLinks reads every link's target (and, when following, its target's
// attributes and resolved path) concurrently. An answer from the server
// ("no such file", "permission denied", another status) is a fact about the
// link; anything else (the connection failing) fails the directory, so a
// lost connection never turns into a wrong entry.
func (w *walker) resolveLinks(ctx context.Context, c *Client, dir string, entries []sftp3.Entry) (map[int]linkInfo, error) {
	var idx []int
	for i := range entries {
		if entries[i].Attrs.IsSymlink() {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil, nil
	}
	var (
		mu       sync.Mutex
		links    = make(map[int]linkInfo, len(idx))
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, linkConcurrency)
	)
	for _, i := range idx {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p := path.Join(dir, entries[i].Filename)
			var li linkInfo
			err := answered(&li.target, func() (string, error) { return c.Readlink(ctx, p) })
			if err == nil && w.opt.FollowSymlinks {
				if fi, serr := c.Stat(ctx, p); serr == nil {
					li.fi = fi
				} else if !serverAnswered(serr) {
					err = serr
				}
				if err == nil {
					err = answered(&li.real, func() (string, error) { return c.Normalize(ctx, p) })
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			links[i] = li
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return links, nil
}

// answered stores f's result in dst; a refusal by the server leaves dst
// empty and is not an error.
func answered(dst *string, f func() (string, error)) error {
	s, err := f()
	switch {
	case err == nil:
		*dst = s
		return nil
	case serverAnswered(err):
		return nil
	default:
		return err
	}
}

// build turns a read result into the listing for fn and the directories to
// descend into. Below the root, the rel paths of a listing share one
// allocation: each entry's RelPath is a substring of it, and its Name a
// substring of that.
func (w *walker) build(r dirResult) (DirListing, []dirTask) {
	t := r.task
	if r.err != nil {
		return DirListing{Dir: t.rel, Err: r.err}, nil
	}
	rels, prefix, n := relPaths(t.rel, r.entries)
	listing := DirListing{Dir: t.rel, Entries: make([]Entry, n)}
	var children []dirTask
	childDepth := t.depth + 1
	canDescend := w.opt.Recursive && (w.opt.MaxDepth == 0 || childDepth < w.opt.MaxDepth)
	off, k := 0, 0
	for i := range r.entries {
		de := &r.entries[i]
		if de.Filename == "" {
			continue // not safe (relPaths): a hostile server's "..", "", or a name with '/'
		}
		rel := de.Filename
		if prefix > 0 {
			rel = rels[off : off+prefix+len(de.Filename)]
			off += len(rel)
		}
		name := rel[prefix:]
		mode := sftp3.FileMode(de.Attrs.Mode)
		e := &listing.Entries[k] // filled in place: an Entry is 112 bytes
		k++
		e.RelPath, e.Name = rel, name
		e.Type, e.Size, e.Mode = typeOf(mode), int64(de.Attrs.Size), mode
		e.MTime = time.Unix(int64(de.Attrs.Mtime), 0)
		var fi os.FileInfo = de
		followed := false
		if e.Type == TypeSymlink {
			li := r.links[i]
			e.Link = li.target
			if w.followable(t, li) {
				*e = entryOf(rel, name, li.fi)
				e.Link = li.target
				fi, followed = li.fi, true
			}
		}
		if e.Type != TypeDir || !canDescend || (w.opt.Skip != nil && w.opt.Skip(rel, fi)) {
			continue
		}
		// A task outlives its listing: its own copy of rel keeps the
		// listing's shared string from being held by the pending list.
		child := dirTask{rel: strings.Clone(rel), depth: childDepth}
		if w.opt.FollowSymlinks {
			child.real, child.segs = path.Join(t.real, name), t.segs
			if followed {
				li := r.links[i]
				child.real = li.real
				child.segs = append(closeSegments(t), segment{start: li.real})
			}
		}
		children = append(children, child)
	}
	return listing, children
}

// relPaths clears the name of every entry that is not safe to report (a
// hostile server's "..", "", or a name with '/') and returns the rel paths
// of the others (dir + "/" + name, in order) back to back in one string,
// the length of the "dir/" prefix, and how many names are safe. In the
// root (dir "") a rel path is the name itself: the string is "" and the
// prefix 0.
func relPaths(dir string, entries []sftp3.Entry) (rels string, prefix, safe int) {
	n := 0
	for i := range entries {
		if !listedName(entries[i].Filename) {
			entries[i].Filename = ""
			continue
		}
		n += len(entries[i].Filename)
		safe++
	}
	if dir == "" {
		return "", 0, safe
	}
	prefix = len(dir) + 1
	var b strings.Builder
	b.Grow(n + prefix*safe)
	for i := range entries {
		if entries[i].Filename == "" {
			continue
		}
		b.WriteString(dir)
		b.WriteByte('/')
		b.WriteString(entries[i].Filename)
	}
	return b.String(), prefix, safe
}

// listedName is safeName for a name the server listed, without its
// filepath.Base where the OS separator is '/' (the byte loop already
// refuses it): not "", "." or "..", no '/' and no NUL.
func listedName(name string) bool {
	if filepath.Separator != '/' {
		return safeName(name)
	}
	if name == "" || name == "." || name == ".." {
		return false
	}
	return strings.IndexByte(name, '/') < 0 && strings.IndexByte(name, 0) < 0
}

// followable reports whether a link found in directory t is reported as
// its target: following is on, the target exists and resolves inside the
// root, and, for a directory, it is not t or one of t's ancestors.
func (w *walker) followable(t dirTask, li linkInfo) bool {
	if !w.opt.FollowSymlinks || li.fi == nil || li.real == "" || !within(li.real, w.rootReal) {
		return false
	}
	if !li.fi.IsDir() {
		return true
	}
	for _, s := range closeSegments(t) {
		if within(li.real, s.start) && within(s.end, li.real) {
			return false // loop: the target is on the path we came by
		}
	}
	return true
}

// closeSegments returns t's segments with the last one ending at t.
func closeSegments(t dirTask) []segment {
	segs := make([]segment, len(t.segs))
	copy(segs, t.segs)
	if len(segs) > 0 {
		segs[len(segs)-1].end = t.real
	}
	return segs
}

// within reports whether p is base or below it.
func within(p, base string) bool {
	if base == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == base || strings.HasPrefix(p, base+"/")
}

func entryOf(rel, name string, fi os.FileInfo) Entry {
	return Entry{
		RelPath: rel,
		Name:    name,
		Type:    typeOf(fi.Mode()),
		Size:    fi.Size(),
		Mode:    fi.Mode(),
		MTime:   fi.ModTime(),
	}
}

func typeOf(m fs.FileMode) EntryType {
	switch {
	case m.IsRegular():
		return TypeFile
	case m.IsDir():
		return TypeDir
	case m&fs.ModeSymlink != 0:
		return TypeSymlink
	default:
		return TypeOther
	}
}
