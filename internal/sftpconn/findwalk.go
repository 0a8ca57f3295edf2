package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// ErrFindFollow is FindWalk's refusal of WalkOptions.FollowSymlinks: find
// -L would follow links out of the root.
var ErrFindFollow = errors.New("the find lister cannot follow symbolic links")

// errFindFailed is a find run whose outcome cannot be trusted as a listing.
var errFindFailed = errors.New("find did not list the tree")

// maxFindStderr bounds the error messages of one run that are kept; more
// than that fails the walk.
const maxFindStderr = 1 << 20

// FindWalk lists the tree under root, an absolute path, with one GNU find
// run in an SSH session through d — one round trip instead of one per
// directory — and hands the result to fn with Walk's contract (one
// DirListing per directory visited, complete or with Err; MaxDepth,
// Recursive and Skip honoured; Skip prunes client side). It needs a server
// that allows exec sessions, a POSIX login shell and GNU find.
//
// A directory find reports it could not read (its message, in the C
// locale, names a directory find printed) becomes DirListing{Dir, Err}.
// Anything else fails the whole walk with an error and no listing: a
// message that cannot be attributed with certainty, an exit status other
// than 0 or 1 (no shell, no find, a signal), output that is not GNU find's
// (a find without -printf), a stream cut short, a broken connection.
// Nothing is handed to fn before the run has ended and been checked.
// Memory is the whole listing (find prints a directory's contents
// interleaved with its subdirectories'), not Walk's bounded window.
func FindWalk(ctx context.Context, d Doer, root string, opt WalkOptions, fn func(DirListing) error) error {
	if opt.FollowSymlinks {
		return fmt.Errorf("find walk %q: %w", root, ErrFindFollow)
	}
	if !path.IsAbs(root) {
		return fmt.Errorf("find walk %q: the root must be an absolute path", root)
	}
	root = path.Clean(root)
	depth := opt.MaxDepth
	if !opt.Recursive {
		depth = 1
	}
	p := newFindParser()
	stderr := &boundedBuffer{max: maxFindStderr}
	runErr := d.Do(ctx, func(c *Client) error {
		return c.Run(ctx, findCommand(root, depth), p, stderr)
	})
	if err := ctx.Err(); err != nil {
		return err // p and stderr may still be written to: do not read them
	}
	failed, err := checkFindRun(root, runErr, p, stderr)
	if err != nil {
		return fmt.Errorf("find walk %q: %w", root, err)
	}
	if err, ok := failed[""]; ok {
		err = fmt.Errorf("list %q: %w", root, err)
		if ferr := fn(DirListing{Err: err}); ferr != nil {
			return ferr
		}
		return err
	}
	for _, l := range findListings(root, opt, p.entries, failed) {
		if err := fn(l); err != nil {
			return err
		}
	}
	return nil
}

// checkFindRun decides whether a finished run is a listing, and returns the
// directories find could not read (rel path → error).
func checkFindRun(root string, runErr error, p *findParser, stderr *boundedBuffer) (map[string]error, error) {
	msgs, overflow := stderr.contents()
	status := 0
	if runErr != nil {
		var exit *ssh.ExitError
		switch {
		case IsConnectionError(runErr):
			return nil, runErr
		case !errors.As(runErr, &exit):
			// The session or the command was refused, or it ended without
			// an exit status.
			return nil, fmt.Errorf("%w (lister: find needs a server that runs commands over SSH with a POSIX shell and GNU find; lister: sftp does not)", runErr)
		case exit.Signal() != "":
			return nil, fmt.Errorf("%w: killed by signal %s", errFindFailed, exit.Signal())
		}
		status = exit.ExitStatus()
	}
	if status != 0 && status != 1 {
		return nil, fmt.Errorf("%w: exit status %d: %s", errFindFailed, status, excerpt(msgs))
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	if overflow {
		return nil, fmt.Errorf("%w: more than %d bytes of error messages", errFindFailed, maxFindStderr)
	}
	if msgs != "" && !strings.HasSuffix(msgs, "\n") {
		return nil, fmt.Errorf("%w: error messages cut short: %s", errFindFailed, excerpt(msgs))
	}
	failed := map[string]error{}
	vanished := 0
	for line := range strings.Lines(msgs) {
		line = strings.TrimSuffix(line, "\n")
		where, cause, err := parseFindError(line)
		if err != nil {
			return nil, err
		}
		rel, ok := relOf(root, where)
		if ok && vanishedEntry(p, rel, cause) {
			vanished++
			continue
		}
		if !ok || (rel != "" && !p.dirs[rel]) {
			return nil, fmt.Errorf("%w: %q does not name a directory of the listing", errFindMessage, line)
		}
		failed[rel] = cause
	}
	switch {
	case status == 1 && len(failed) == 0 && vanished == 0:
		return nil, fmt.Errorf("%w: exit status 1 without a message", errFindFailed)
	case status == 0 && len(failed) > 0:
		return nil, fmt.Errorf("%w: exit status 0 after errors: %s", errFindFailed, excerpt(msgs))
	case !p.rootSeen() && failed[""] == nil:
		return nil, fmt.Errorf("%w: no output", errFindFailed)
	}
	return failed, nil
}

// vanishedEntry reports whether a find message is about an entry that was
// removed or renamed between find reading its directory and looking at it
// (an upload's "x.part" renamed to "x", say): "No such file or directory"
// for a path that find did not print, whose parent directory it did print.
// That parent was read completely and the entry is gone, which is what an
// SFTP listing a moment later would show: the message is no reason to fail
// the scan. A directory that vanished after find printed it is in p.dirs
// and is not this case: it stays a failed directory (its subtree keeps its
// stored state).
func vanishedEntry(p *findParser, rel string, cause error) bool {
	if rel == "" || !errors.Is(cause, fs.ErrNotExist) {
		return false
	}
	if _, printed := p.byRel[rel]; printed {
		return false
	}
	parent := ""
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		parent = rel[:i]
	}
	return p.dirs[parent]
}

// relOf is where's path relative to root, if it is root or below it.
func relOf(root, where string) (string, bool) {
	if where == root {
		return "", true
	}
	prefix := root + "/"
	if root == "/" {
		prefix = "/"
	}
	rel, ok := strings.CutPrefix(where, prefix)
	return rel, ok && validRel(rel)
}

// findListings groups the entries (in find's pre-order) into the listings
// Walk would have produced: the root's, and those of every directory Walk
// would have descended into.
func findListings(root string, opt WalkOptions, entries []Entry, failed map[string]error) []DirListing {
	groups := map[string][]Entry{"": {}}
	order := []string{""}
	var bad []DirListing
	for _, e := range entries {
		parent, _ := splitRel(e.RelPath)
		g, listed := groups[parent]
		if !listed {
			continue // below a directory that is not listed
		}
		groups[parent] = append(g, e)
		if e.Type != diff.Dir || !descends(opt, e) {
			continue
		}
		if err, ok := failed[e.RelPath]; ok {
			bad = append(bad, DirListing{Dir: e.RelPath, Err: fmt.Errorf("list %q: %w", findPath(root, e.RelPath), err)})
			continue
		}
		groups[e.RelPath] = []Entry{}
		order = append(order, e.RelPath)
	}
	out := make([]DirListing, 0, len(order)+len(bad))
	for _, dir := range order {
		g := groups[dir]
		slices.SortFunc(g, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, DirListing{Dir: dir, Entries: g})
	}
	return append(out, bad...)
}

// descends reports whether Walk would list directory entry e.
func descends(opt WalkOptions, e Entry) bool {
	depth := strings.Count(e.RelPath, "/") + 1
	if !opt.Recursive || (opt.MaxDepth > 0 && depth >= opt.MaxDepth) {
		return false
	}
	return opt.Skip == nil || !opt.Skip(e.RelPath, findInfo{e})
}

// excerpt is the start of find's messages for an error.
func excerpt(s string) string {
	const n = 300
	if len(s) > n {
		s = s[:n] + "…"
	}
	return fmt.Sprintf("%q", s)
}
