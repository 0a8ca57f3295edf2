package poller

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/findlist"
)

// Lister lists a remote tree: SFTPLister (concurrent SFTP directory reads)
// or FindLister (one GNU find over an SSH session), chosen by the watch's
// lister setting (see NewLister). Walk follows sftpconn.Walk's contract,
// except that a directory may be reported complete and later again with
// Err (FindLister: find's messages are judged when it has ended); walkTree
// then counts it as failed, so that its stored entries that were not seen
// are kept, while those that were seen are compared as usual.
type Lister interface {
	Walk(ctx context.Context, root string, opt sftpconn.WalkOptions, fn func(sftpconn.DirListing) error) error
}

// SFTPLister lists through concurrent SFTP directory reads over a pool.
type SFTPLister struct {
	Doer        sftpconn.Doer
	Concurrency int // directory reads in flight; 0 = sftpconn's default
}

// Walk implements Lister.
func (l SFTPLister) Walk(ctx context.Context, root string, opt sftpconn.WalkOptions, fn func(sftpconn.DirListing) error) error {
	if opt.Concurrency == 0 {
		opt.Concurrency = l.Concurrency
	}
	return sftpconn.Walk(ctx, l.Doer, root, opt, fn)
}

// FindLister lists with one GNU find run in an SSH session (see
// findlist.Walk): one round trip for the whole tree. It needs a server
// that allows exec sessions and cannot follow symbolic links.
type FindLister struct {
	Doer sftpconn.Doer
}

// Walk implements Lister.
func (l FindLister) Walk(ctx context.Context, root string, opt sftpconn.WalkOptions, fn func(sftpconn.DirListing) error) error {
	return findlist.Walk(ctx, l.Doer, root, opt, fn)
}

var (
	_ Lister = SFTPLister{}
	_ Lister = FindLister{}
)

// NewLister is the lister a watch's lister setting names ("" or "sftp":
// SFTPLister with concurrency directory reads in flight; "find":
// FindLister), listing through d.
func NewLister(kind string, d sftpconn.Doer, concurrency int) (Lister, error) {
	switch kind {
	case "", config.ListerSFTP:
		return SFTPLister{Doer: d, Concurrency: concurrency}, nil
	case config.ListerFind:
		return FindLister{Doer: d}, nil
	}
	return nil, fmt.Errorf("unknown lister %q", kind)
}

// Scan results, as counted in sftpwatchd_scans_total.
const (
	ResultOK      = "ok"
	ResultPartial = "partial"
	ResultError   = "error"
)

// DirError is a directory that could not be listed completely.
type DirError struct {
	Dir string // rel path, "" for the root
	Err error
}

// ScanOutcome is one scan of a watch's tree, filtered.
type ScanOutcome struct {
	Scan      diff.Scan
	Result    string // ResultOK or ResultPartial; a failed scan returns an error instead
	DirErrors []DirError
	Dirs      int // directories listed
}

// ProgressFunc is told about every directory listed (for terminal progress).
type ProgressFunc func(dirs, entries int)

// Scan lists the watch's tree and applies its filters. It fails (and nothing
// may be concluded from the listing) when the root cannot be listed or the
// connection was lost; a directory below the root that could not be listed
// makes the scan partial, and its entries are reported in Scan.Failed so
// that they keep their stored state.
func Scan(ctx context.Context, l Lister, w config.Watch, progress ProgressFunc) (ScanOutcome, error) {
	return scan(ctx, l, w, progress, 0)
}

// scan is Scan with a size hint for the entry map (the previous snapshot's
// size), so that a rescan does not grow the map step by step.
func scan(ctx context.Context, l Lister, w config.Watch, progress ProgressFunc, sizeHint int) (ScanOutcome, error) {
	entries := make(diff.Snapshot, sizeHint)
	wo, err := walkTree(ctx, l, w, func(d sftpconn.DirListing, f Filter) {
		for _, e := range d.Entries {
			if ent := entryOf(&e); f.Covers(e.RelPath, ent) {
				entries[e.RelPath] = ent
			}
		}
	}, func(dirs int) {
		if progress != nil {
			progress(dirs, len(entries))
		}
	})
	if err != nil {
		return ScanOutcome{}, err
	}
	return ScanOutcome{
		Scan:      diff.Scan{Entries: entries, Failed: wo.failed},
		Result:    wo.result,
		DirErrors: wo.dirErrors,
		Dirs:      wo.dirs,
	}, nil
}

// walkOutcome is what walkTree found besides the entries themselves.
type walkOutcome struct {
	result    string // ResultOK or ResultPartial
	dirErrors []DirError
	failed    []string // rel paths of the directories that could not be listed
	dirs      int      // directories listed
}

// walkTree lists the watch's tree and hands every complete listing to
// visit, with the watch's filter (visit applies Match itself), then calls
// listed with the number of directories listed so far. It fails when the
// root cannot be listed or the connection was lost.
func walkTree(ctx context.Context, l Lister, w config.Watch, visit func(sftpconn.DirListing, Filter), listed func(dirs int)) (walkOutcome, error) {
	f, err := NewFilter(w)
	if err != nil {
		return walkOutcome{}, err
	}
	out := walkOutcome{result: ResultOK}
	opt := sftpconn.WalkOptions{
		MaxDepth:       w.MaxDepth,
		Recursive:      w.Recursive,
		FollowSymlinks: w.FollowSymlinks,
		Skip: func(rel string, _ os.FileInfo) bool {
			return f.Excluded(rel)
		},
	}
	var connErr error
	walkErr := l.Walk(ctx, w.Path, opt, func(d sftpconn.DirListing) error {
		if d.Err != nil {
			if sftpconn.IsConnectionError(d.Err) && connErr == nil {
				connErr = d.Err
			}
			out.failed = append(out.failed, d.Dir)
			out.dirErrors = append(out.dirErrors, DirError{Dir: d.Dir, Err: d.Err})
			out.result = ResultPartial
			return nil
		}
		out.dirs++
		visit(d, f)
		listed(out.dirs)
		return nil
	})
	switch {
	case walkErr != nil && ctx.Err() != nil:
		return walkOutcome{}, ctx.Err()
	case walkErr != nil:
		return walkOutcome{}, walkErr // names the root already
	case connErr != nil:
		return walkOutcome{}, fmt.Errorf("scan interrupted: %w", connErr)
	}
	for _, d := range out.dirErrors {
		if d.Dir == "" {
			return walkOutcome{}, d.Err
		}
	}
	return out, nil
}

// entryOf is the stored form of a listed entry.
func entryOf(e *sftpconn.Entry) diff.Entry {
	return diff.Entry{
		Type:  entryType(e.Type),
		Size:  e.Size,
		MTime: e.MTime.Unix(),
		Mode:  permBits(e.Mode),
		Link:  e.Link,
	}
}

// entryType is the snapshot's type of a listed entry's type.
func entryType(t sftpconn.EntryType) diff.EntryType {
	switch t {
	case sftpconn.TypeFile:
		return diff.File
	case sftpconn.TypeDir:
		return diff.Dir
	case sftpconn.TypeSymlink:
		return diff.Symlink
	default:
		return diff.Other
	}
}

// permBits is the Unix permission word (0o7777) of m: Go keeps setuid,
// setgid and sticky outside Perm(), so they are put back where stat has them.
func permBits(m fs.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// errorsJoin keeps the first few directory errors readable in a log line.
func errorsJoin(ds []DirError, max int) error {
	var errs []error
	for i, d := range ds {
		if i == max {
			errs = append(errs, fmt.Errorf("and %d more", len(ds)-max))
			break
		}
		errs = append(errs, d.Err)
	}
	return errors.Join(errs...)
}
