package findlist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
)

// ErrFollow is Walk's refusal of sftpconn.WalkOptions.FollowSymlinks: find
// -L would follow links out of the root.
var ErrFollow = errors.New("the find lister cannot follow symbolic links")

// errFindFailed is a find run whose outcome cannot be trusted as a listing.
var errFindFailed = errors.New("find did not list the tree")

// ErrRefused is a server that did not run find: the exec session was
// refused, or what answered was not GNU find (an SFTP-only account, a
// nologin shell, no find, a find without -printf). It is a configuration
// problem of the watch, not a failure of one scan: the error carries the
// server's own text and says what the lister needs.
var ErrRefused = errors.New("lister: find needs a server that runs commands over SSH with a POSIX shell and GNU find; lister: sftp does not")

// maxFindStdoutHead is how much of find's output is kept to show when it
// turns out not to be find's.
const maxFindStdoutHead = 512

// maxFindStderr bounds the error messages of one run that are kept; more
// than that fails the walk.
const maxFindStderr = 1 << 20

// findQueue is how many complete listings may wait for fn; beyond that the
// parser, and through the SSH window find itself, waits.
const findQueue = 16

// Walk lists the tree under root, an absolute path, with one GNU find
// run in an SSH session through d — one round trip instead of one per
// directory — and hands the result to fn with Walk's contract (one
// sftpconn.DirListing per directory visited, complete or with Err; MaxDepth,
// Recursive and Skip honoured; Skip prunes client side), with one
// exception: a directory may be handed over complete and later again
// with Err (see below). It needs a server that allows exec sessions, a
// POSIX login shell and GNU find.
//
// Listings are handed over as find leaves each directory (find prints in
// pre-order), while it runs, so memory is bounded by the directories open
// on find's current path, not by the tree; the root's listing comes last.
// find's messages arrive on another stream, so they are judged when the
// run has ended: a directory find reports it could not read (its message,
// in the C locale, names a directory find printed) is then handed over
// again as sftpconn.DirListing{Dir, Err}, after whatever find printed of it. Such
// an Err means: what was handed over of this directory is true, and what
// was not may still exist (the poller treats it so). Anything else fails
// the whole walk with an error after the listings handed over so far: a
// message that cannot be attributed with certainty, an exit status other
// than 0 or 1 (no shell, no find, a signal), output that is not GNU find's
// (a find without -printf), a stream cut short, a broken connection. A
// caller must therefore act on the listings only once Walk returned
// nil, as the poller does (a failed walk is a failed scan).
func Walk(ctx context.Context, d sftpconn.Doer, root string, opt sftpconn.WalkOptions, fn func(sftpconn.DirListing) error) error {
	if opt.FollowSymlinks {
		return fmt.Errorf("find walk %q: %w", root, ErrFollow)
	}
	if !path.IsAbs(root) {
		return fmt.Errorf("find walk %q: the root must be an absolute path", root)
	}
	root = path.Clean(root)
	depth := opt.MaxDepth
	if !opt.Recursive {
		depth = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan sftpconn.DirListing, findQueue)
	gone := make(chan struct{}) // Walk returned: the parser stops handing over
	defer close(gone)
	p := newFindParser(opt, func(l sftpconn.DirListing) bool {
		select {
		case queue <- l:
			return true
		case <-gone:
			return false
		}
	})
	stderr := &boundedBuffer{max: maxFindStderr}
	head := &boundedBuffer{max: maxFindStdoutHead}
	ran := make(chan error, 1)
	go func() {
		ran <- d.Do(ctx, func(c *sftpconn.Client) error {
			// Under the request deadline: find's output, while the parser
			// is not waiting for fn, must keep coming.
			return c.RunTimed(ctx, findCommand(root, depth), io.MultiWriter(head, p), stderr)
		})
	}()
	var runErr error
	for running := true; running; {
		select {
		case l := <-queue:
			if err := fn(l); err != nil {
				return err
			}
		case runErr = <-ran:
			running = false
		}
	}
	if err := ctx.Err(); err != nil {
		return err // p and stderr may still be written to: do not read them
	}
	// The run has ended and its output was copied (Session.Wait waits for
	// that): what is queued is all there is.
	for queued := true; queued; {
		select {
		case l := <-queue:
			if err := fn(l); err != nil {
				return err
			}
		default:
			queued = false
		}
	}
	rest, failed, err := checkFindRun(root, runErr, p, stderr, head)
	if err != nil {
		return fmt.Errorf("find walk %q: %w", root, err)
	}
	if err, ok := failed[""]; ok {
		err = fmt.Errorf("list %q: %w", root, err)
		if ferr := fn(sftpconn.DirListing{Err: err}); ferr != nil {
			return ferr
		}
		return err
	}
	for _, l := range rest {
		if err := fn(l); err != nil {
			return err
		}
	}
	for _, dir := range slices.Sorted(maps.Keys(failed)) {
		if _, listed, _ := p.printed(dir); !listed {
			continue // pruned by Skip or max depth: Walk would not have listed it
		}
		err := fmt.Errorf("list %q: %w", findPath(root, dir), failed[dir])
		if err := fn(sftpconn.DirListing{Dir: dir, Err: err}); err != nil {
			return err
		}
	}
	return nil
}

// Probe checks that Walk can list root through d, at the cost of
// one tiny find run that prints the root alone: it fails with
// ErrRefused where the server does not run GNU find, and with the
// listing error of the root (fs.ErrNotExist, fs.ErrPermission, not a
// directory) where find cannot list it.
func Probe(ctx context.Context, d sftpconn.Doer, root string) error {
	if !path.IsAbs(root) {
		return fmt.Errorf("find probe %q: the root must be an absolute path", root)
	}
	root = path.Clean(root)
	p := newFindParser(sftpconn.WalkOptions{}, func(sftpconn.DirListing) bool { return true })
	stderr := &boundedBuffer{max: maxFindStderr}
	head := &boundedBuffer{max: maxFindStdoutHead}
	runErr := d.Do(ctx, func(c *sftpconn.Client) error {
		return c.Run(ctx, findCommand(root, findRootOnly), io.MultiWriter(head, p), stderr)
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	_, failed, err := checkFindRun(root, runErr, p, stderr, head)
	if err == nil {
		err = failed[""]
	}
	if err != nil {
		return fmt.Errorf("find probe %q: %w", root, err)
	}
	return nil
}

// checkFindRun decides whether a finished run is a listing, and returns the
// listings of the directories still open at its end (the root's last) and
// the directories find could not read (rel path → error). head is the
// start of the run's stdout.
func checkFindRun(root string, runErr error, p *findParser, stderr, head *boundedBuffer) ([]sftpconn.DirListing, map[string]error, error) {
	msgs, overflow := stderr.contents()
	status := 0
	if runErr != nil {
		var exit *ssh.ExitError
		switch {
		case sftpconn.IsConnectionError(runErr):
			return nil, nil, runErr
		case !errors.As(runErr, &exit) && p.rootSeen():
			// find ran and printed, then the session ended without an
			// exit status: the connection (or sshd) went away under it.
			return nil, nil, fmt.Errorf("%w after its output began (connection lost?): %w", errFindFailed, runErr)
		case !errors.As(runErr, &exit):
			// The session or the command was refused, or it ended without
			// an exit status.
			return nil, nil, fmt.Errorf("%w: %w", ErrRefused, runErr)
		case exit.Signal() != "":
			return nil, nil, fmt.Errorf("%w: killed by signal %s", errFindFailed, exit.Signal())
		}
		status = exit.ExitStatus()
	}
	if err := refusal(status, p, msgs, head); err != nil {
		return nil, nil, err
	}
	if status != 0 && status != 1 {
		return nil, nil, fmt.Errorf("%w: exit status %d: %s", errFindFailed, status, excerpt(msgs))
	}
	rest, err := p.finish()
	if err != nil {
		return nil, nil, err
	}
	if overflow {
		return nil, nil, fmt.Errorf("%w: more than %d bytes of error messages", errFindFailed, maxFindStderr)
	}
	if msgs != "" && !strings.HasSuffix(msgs, "\n") {
		return nil, nil, fmt.Errorf("%w: error messages cut short: %s", errFindFailed, excerpt(msgs))
	}
	failed := map[string]error{}
	vanished := 0
	for line := range strings.Lines(msgs) {
		line = strings.TrimSuffix(line, "\n")
		where, cause, err := parseFindError(line)
		if err != nil {
			return nil, nil, err
		}
		rel, ok := relOf(root, where)
		if ok && vanishedEntry(p, rel, cause) {
			vanished++
			continue
		}
		if dir, _, _ := p.printed(rel); !ok || (rel != "" && !dir) {
			return nil, nil, fmt.Errorf("%w: %q does not name a directory of the listing", errFindMessage, line)
		}
		failed[rel] = cause
	}
	switch {
	case status == 1 && len(failed) == 0 && vanished == 0:
		return nil, nil, fmt.Errorf("%w: exit status 1 without a message", errFindFailed)
	case status == 0 && len(failed) > 0:
		return nil, nil, fmt.Errorf("%w: exit status 0 after errors: %s", errFindFailed, excerpt(msgs))
	case !p.rootSeen() && failed[""] == nil:
		return nil, nil, fmt.Errorf("%w: no output", errFindFailed)
	}
	return rest, failed, nil
}

// refusal is the ErrRefused error of a run in which find did not run:
// nothing of find's output (no root record) and either output that is not
// find's, or a failure whose messages are not all find's own (find's
// message about a missing or unreadable root is a listing error, not a
// refusal). The error quotes the server's text: stderr, then stdout.
func refusal(status int, p *findParser, msgs string, head *boundedBuffer) error {
	if p.rootSeen() {
		return nil
	}
	out, _ := head.contents()
	foreign := out != "" // output, yet no root record: not find's
	if !foreign && status != 0 {
		foreign = msgs == ""
		for line := range strings.Lines(msgs) {
			if _, _, err := parseFindError(strings.TrimSuffix(line, "\n")); err != nil {
				foreign = true
			}
		}
	}
	if !foreign {
		return nil
	}
	text := strings.TrimSpace(strings.TrimSpace(msgs) + "\n" + strings.TrimSpace(out))
	if text == "" {
		return fmt.Errorf("%w: the command exited with status %d and printed nothing", ErrRefused, status)
	}
	return fmt.Errorf("%w: the command exited with status %d; the server said %s", ErrRefused, status, excerpt(text))
}

// vanishedEntry reports whether a find message is about an entry that was
// removed or renamed between find reading its directory and looking at it
// (an upload's "x.part" renamed to "x", say): "No such file or directory"
// for a path that find did not print, whose parent directory it did print.
// That parent was read completely and the entry is gone, which is what an
// SFTP listing a moment later would show: the message is no reason to fail
// the scan. A directory that vanished after find printed it is not this
// case: it is a failed directory (its subtree keeps its stored state).
// Nor is a symbolic link find printed and then could not read (%l): that
// message fails the walk. Only directories and links are remembered as
// printed: for any other entry find's -printf only uses the attributes it
// read before printing, so a message about it means it was not printed.
func vanishedEntry(p *findParser, rel string, cause error) bool {
	if rel == "" || !errors.Is(cause, fs.ErrNotExist) {
		return false
	}
	if dir, _, link := p.printed(rel); dir || link {
		return false
	}
	parent := ""
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		parent = rel[:i]
	}
	dir, _, _ := p.printed(parent)
	return dir
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

// descends reports whether Walk would list directory entry e.
func descends(opt sftpconn.WalkOptions, e sftpconn.Entry) bool {
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
