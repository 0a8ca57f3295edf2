package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// ErrChangedDuringTransfer is wrapped by download errors for a remote file
// whose size or mtime changed while it was being copied. It is retryable.
var ErrChangedDuringTransfer = errors.New("remote file changed during transfer")

// Download copies the remote file of an event to the local directory dest.
//
//   - type: download
//     dest: /data/incoming   # local file = dest/rel_path (or dest/name with flatten)
//     flatten: false
//     preserve_mtime: true   # give the local file the remote mtime
//     on_delete: keep        # keep | remove (remove the local copy on delete)
//
// The file is written to a temporary ".sftpwatchd-*.tmp" file in the
// destination directory, synced, given the remote mtime and renamed into
// place, so a reader never sees a partial file under the final name. A remote
// file whose size or mtime changed during the copy fails the attempt
// (retried). A remote file that is gone, or no longer has the event's type,
// size and mtime, when the attempt starts was overtaken by a later change:
// the attempt fails with ErrSuperseded (the later event carries it). Only
// regular files are downloaded: a remote symlink or other special entry
// fails permanently, except that with the watch's follow_symlinks a link
// the walk followed (reported as a file) is downloaded as its target; a
// directory entry creates the local directory.
//
// Temporary files left by another process (a crash mid-download) are
// removed by Start in all of dest, and in each directory before the first
// download into it; see tempfiles.go for how ours are told from stale ones.
// Each downloaded file records the rel_path it was written for in an
// extended attribute (user.sftpwatchd.src). With flatten, where several
// rel_paths share a local name, on_delete: remove (and a rename's removal
// of the old copy) removes a local file only when it records the deleted
// rel_path; a file whose origin cannot be read is kept and logged. With
// flatten, events sharing a local name are also delivered one at a time in
// order (OrderKeys). A rel_path that would leave dest (absolute, "..", a symlink
// inside dest pointing out) fails permanently and nothing is written: every
// local operation goes through an os.Root opened on dest. A rename event
// downloads the new path and, with on_delete: remove, removes the old local
// copy. On success ev.LocalPath is the absolute local path.
//
// Default events: create, modify, rename, and delete with on_delete: remove.
type Download struct {
	dest           string // absolute
	flatten        bool
	preserveMtime  bool
	removeOnDelete bool
	events         eventSet
	remote         Remote
	root           string // remote watch root
	follow         bool   // the watch follows symlinks
	log            *zap.Logger
	bytes          prometheus.Counter // nil without metrics

	sweptMu sync.Mutex
	swept   map[string]bool // local directories swept of stale temporary files
}

var (
	_ Action  = (*Download)(nil)
	_ Starter = (*Download)(nil)
	_ Orderer = (*Download)(nil)
)

// NewDownload builds a download action; d.Remote is required.
func NewDownload(cfg config.Action, d Deps) (*Download, error) {
	if cfg.Dest == "" {
		return nil, errors.New("dest: required")
	}
	dest, err := filepath.Abs(cfg.Dest)
	if err != nil {
		return nil, fmt.Errorf("dest %q: %w", cfg.Dest, err)
	}
	var remove bool
	switch cfg.OnDelete {
	case "", "keep":
	case "remove":
		remove = true
	default:
		return nil, fmt.Errorf("on_delete: %q is not keep or remove", cfg.OnDelete)
	}
	def := []event.Type{event.Create, event.Modify, event.Rename}
	if remove {
		def = append(def, event.Delete)
	}
	evs, err := newEventSet(cfg.Events, def...)
	if err != nil {
		return nil, err
	}
	if d.Remote == nil {
		return nil, errNoRemote
	}
	dl := &Download{
		dest: dest, flatten: cfg.Flatten, preserveMtime: cfg.PreserveMtime,
		removeOnDelete: remove, events: evs, remote: d.Remote, root: d.Root,
		follow: d.FollowSymlinks, log: loggerOrNop(d.Logger), swept: map[string]bool{},
	}
	if d.Metrics != nil && d.Metrics.DownloadBytesTotal != nil {
		dl.bytes = d.Metrics.DownloadBytesTotal.WithLabelValues(d.Watch)
	}
	return dl, nil
}

// Type implements Action.
func (*Download) Type() string { return "download" }

// Handles implements Action.
func (a *Download) Handles(t event.Type) bool { return a.events.has(t) }

// Run implements Action.
func (a *Download) Run(ctx context.Context, ev *event.Event) error {
	switch ev.Type {
	case event.Create, event.Modify:
		return a.fetch(ctx, ev)
	case event.Rename:
		err := a.fetch(ctx, ev)
		if err != nil && !errors.Is(err, ErrSuperseded) {
			return err
		}
		// The old path is gone whatever became of the new one.
		if a.removeOnDelete {
			return errors.Join(err, a.removeOld(ev))
		}
		return err
	case event.Delete:
		if !a.removeOnDelete {
			return nil
		}
		name, err := a.localName(ev.RelPath)
		if err != nil {
			return err
		}
		if err := a.removeLocal(name, ev.RelPath, ev.EntryType == "dir"); err != nil {
			return err
		}
		ev.LocalPath = filepath.Join(a.dest, name)
		return nil
	default:
		return Permanent(fmt.Errorf("download %q: unknown event type %q", ev.RelPath, ev.Type))
	}
}

// Start removes the stale temporary files (see tempfiles.go) in every
// directory under dest. Only names of our temporary-file pattern are
// removed, only regular files, and symbolic links are not followed.
func (a *Download) Start(context.Context) error {
	r, err := os.OpenRoot(a.dest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sweep dest %q: %w", a.dest, err)
	}
	defer r.Close()
	began := time.Now()
	n, err := sweepTree(r)
	if n > 0 || err != nil {
		a.log.Info("removed stale temporary files", zap.String("dest", a.dest), zap.Int("removed", n),
			zap.Duration("took", time.Since(began)), zap.Error(err))
	}
	if err != nil {
		return fmt.Errorf("sweep dest %q: %w", a.dest, err)
	}
	return nil
}

// OrderKeys implements Orderer: with flatten, the local names an event
// writes or removes, so that events of a/x.csv and b/x.csv (both dest/x.csv)
// are delivered in order.
func (a *Download) OrderKeys(ev *event.Event) []string {
	if !a.flatten {
		return nil
	}
	keys := []string{a.orderKey(ev.RelPath)}
	if old := a.oldRelPath(ev); ev.Type == event.Rename && old != "" {
		keys = append(keys, a.orderKey(old))
	}
	return keys
}

func (a *Download) orderKey(rel string) string {
	return "download\x00" + a.dest + "\x00" + path.Base(rel)
}

// localName maps a rel_path to the name relative to dest, refusing (permanently)
// any that could leave it.
func (a *Download) localName(rel string) (string, error) {
	if err := checkRelPath(rel); err != nil {
		return "", Permanent(fmt.Errorf("download into %q: %w", a.dest, err))
	}
	if a.flatten {
		rel = path.Base(rel)
	}
	return filepath.FromSlash(rel), nil
}

// localRoot is dest opened as an os.Root, with the error value os.Root uses
// for a name that leaves it.
type localRoot struct {
	*os.Root
	escapes error
}

func (a *Download) openRoot() (*localRoot, error) {
	if err := os.MkdirAll(a.dest, 0o755); err != nil {
		return nil, fmt.Errorf("create dest %q: %w", a.dest, err)
	}
	r, err := os.OpenRoot(a.dest)
	if err != nil {
		return nil, fmt.Errorf("open dest %q: %w", a.dest, err)
	}
	// os.Root does not export the error it returns for a path that escapes
	// it. An absolute name is refused before any system call, so probing one
	// yields that exact error value to classify with errors.Is below.
	_, probe := r.Lstat("/")
	var pe *fs.PathError
	lr := &localRoot{Root: r}
	if errors.As(probe, &pe) {
		lr.escapes = pe.Err
	}
	return lr, nil
}

// classify wraps a local filesystem error of op on name: a name that leaves
// dest (os.Root refused it) or a symlink loop is permanent, anything else
// (disk full, I/O error) is retried.
func (a *Download) classify(r *localRoot, op, rel, name string, err error) error {
	if (r.escapes != nil && errors.Is(err, r.escapes)) || errors.Is(err, syscall.ELOOP) {
		return Permanent(fmt.Errorf("download %q: %s %q: resolves outside dest %q (a symlink in dest points out?): %w",
			rel, op, name, a.dest, err))
	}
	return fmt.Errorf("download %q: %s %q in %q: %w", rel, op, name, a.dest, err)
}

func (a *Download) fetch(ctx context.Context, ev *event.Event) error {
	name, err := a.localName(ev.RelPath)
	if err != nil {
		return err
	}
	if ev.EntryType == "dir" {
		return a.makeDir(ev, name)
	}
	before, followed, err := remoteAttrs(ctx, a.remote, ev.Path, ev, a.follow)
	if errors.Is(err, fs.ErrNotExist) {
		return superseded("download", ev.Path, "the remote file is gone")
	}
	if err != nil {
		return fmt.Errorf("download %q: %w", ev.Path, err)
	}
	if ev.EntryType != "file" {
		if before.Mode().IsRegular() {
			return superseded("download", ev.Path, "the event reports "+ev.EntryType+"; it is a regular file now")
		}
		return Permanent(fmt.Errorf("download %q: not a regular file (%s); only regular files are downloaded",
			ev.Path, before.Mode().Type()))
	}
	if why := changedSince(ev, before); why != "" {
		return superseded("download", ev.Path, why)
	}

	r, err := a.openRoot()
	if err != nil {
		return err
	}
	defer r.Close()
	dir := filepath.Dir(name)
	if dir != "." {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return a.classify(r, "create directory", ev.RelPath, dir, err)
		}
	}
	a.sweepOnce(r, dir)
	tmp, f, err := createTemp(r, dir)
	if err != nil {
		return a.classify(r, "create temporary file", ev.RelPath, dir, err)
	}
	done := false
	defer func() {
		if !done {
			_ = f.Close()
			_ = r.Remove(tmp)
		}
	}()
	if err := setOrigin(f, ev.RelPath); err != nil {
		a.log.Debug("cannot record the origin of the local file", zap.String("local_path", tmp), zap.Error(err))
	}

	n, after, err := a.copyRemote(ctx, ev.Path, before.Size(), countingWriter{w: &writeBehind{f: f}, c: a.bytes}, followed)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return a.classify(r, "sync", ev.RelPath, tmp, err)
	}
	if err := f.Close(); err != nil {
		return a.classify(r, "close", ev.RelPath, tmp, err)
	}
	if n != before.Size() || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) ||
		!after.Mode().IsRegular() {
		return fmt.Errorf("download %q: %w (size %d, mtime %s before; %d copied; size %d, mtime %s after)",
			ev.Path, ErrChangedDuringTransfer, before.Size(), before.ModTime().UTC().Format(timeFormat),
			n, after.Size(), after.ModTime().UTC().Format(timeFormat))
	}
	if a.preserveMtime {
		if err := r.Chtimes(tmp, before.ModTime(), before.ModTime()); err != nil {
			return a.classify(r, "set mtime of", ev.RelPath, tmp, err)
		}
	}
	if err := r.Rename(tmp, name); err != nil {
		return a.classify(r, "rename into place", ev.RelPath, name, err)
	}
	done = true
	if err := syncDir(r, dir); err != nil {
		return a.classify(r, "sync directory", ev.RelPath, dir, err)
	}
	ev.LocalPath = filepath.Join(a.dest, name)
	a.log.Debug("downloaded", zap.String("id", ev.ID), zap.String("path", ev.Path),
		zap.String("local_path", ev.LocalPath), zap.Int64("bytes", n))
	return nil
}

// sweepOnce removes the stale temporary files in dir (inside r) before the
// first download into it; a failure is logged, the download goes on.
func (a *Download) sweepOnce(r *localRoot, dir string) {
	a.sweptMu.Lock()
	defer a.sweptMu.Unlock()
	if a.swept[dir] {
		return
	}
	n, err := sweepDir(r.Root, dir)
	if n > 0 || err != nil {
		a.log.Info("removed stale temporary files", zap.String("dir", filepath.Join(a.dest, dir)),
			zap.Int("removed", n), zap.Error(err))
	}
	if err == nil {
		a.swept[dir] = true
	}
}

// fetcher is offered by a Remote that can copy a file and describe it
// (Lstat) right after the copy in fewer round trips than GetTo followed by
// Lstat (sftpconn.Pool does: 3 sequential round trips for a small file
// instead of 5 or more). size is the expected length, a hint only: n must
// be the bytes up to the end of the file whatever size says, and after
// must come from an Lstat sent once every read was answered.
type fetcher interface {
	FetchTo(ctx context.Context, p string, size int64, w io.Writer, progress func(written int64)) (n int64, after os.FileInfo, err error)
}

// copyRemote copies remote file p into w and returns the bytes copied and
// p's attributes (Lstat) after the copy, for fetch to compare with those
// before.
//
// followed (p is a symbolic link the watch follows) copies through GetTo
// and describes p by Stat, its target's attributes: the fetcher's Lstat
// would describe the link.
func (a *Download) copyRemote(ctx context.Context, p string, size int64, w io.Writer, followed bool) (int64, os.FileInfo, error) {
	if fr, ok := a.remote.(fetcher); ok && !followed {
		n, after, err := fr.FetchTo(ctx, p, size, w, nil)
		if err != nil {
			return 0, nil, fmt.Errorf("download %q: %w", p, err)
		}
		return n, after, nil
	}
	n, err := a.remote.GetTo(ctx, p, w, func(int64) {})
	if err != nil {
		return 0, nil, fmt.Errorf("download %q: %w", p, err)
	}
	stat := a.remote.Lstat
	if followed {
		stat = a.remote.Stat
	}
	after, err := stat(ctx, p)
	if err != nil {
		return 0, nil, fmt.Errorf("download %q: after transfer: %w", p, err)
	}
	return n, after, nil
}

// makeDir creates the local directory for a directory entry (not with
// flatten, which keeps no directories).
func (a *Download) makeDir(ev *event.Event, name string) error {
	if a.flatten {
		return nil
	}
	r, err := a.openRoot()
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.MkdirAll(name, 0o755); err != nil {
		return a.classify(r, "create directory", ev.RelPath, name, err)
	}
	ev.LocalPath = filepath.Join(a.dest, name)
	return nil
}

// removeOld removes the local copy of a renamed entry's old path.
func (a *Download) removeOld(ev *event.Event) error {
	oldRel := a.oldRelPath(ev)
	if oldRel == "" {
		a.log.Warn("rename: cannot tell the old rel_path; old local copy kept",
			zap.String("id", ev.ID), zap.String("old_path", ev.OldPath))
		return nil
	}
	oldName, err := a.localName(oldRel)
	if err != nil {
		return err
	}
	newName, err := a.localName(ev.RelPath)
	if err != nil {
		return err
	}
	if oldName == newName {
		return nil
	}
	return a.removeLocal(oldName, oldRel, ev.EntryType == "dir")
}

// oldRelPath is the rel_path of a rename's old location, "" when it cannot
// be told.
func (a *Download) oldRelPath(ev *event.Event) string {
	oldRel := ev.OldRelPath
	if oldRel == "" && ev.OldPath != "" && a.root != "" {
		oldRel = strings.TrimPrefix(ev.OldPath, strings.TrimSuffix(a.root, "/")+"/")
	}
	if oldRel == ev.OldPath {
		return ""
	}
	return oldRel
}

// removeLocal removes dest/name; a missing file is fine. For a directory
// entry it is best effort: a directory that still has entries is kept.
// With flatten, where dest/name may have been written for another rel_path,
// it removes only a file that records rel as its origin.
func (a *Download) removeLocal(name, rel string, isDir bool) error {
	r, err := a.openRoot()
	if err != nil {
		return err
	}
	defer r.Close()
	if a.flatten {
		if isDir {
			return nil // flatten keeps no directories
		}
		if !a.writtenFor(r, name, rel) {
			return nil
		}
	}
	err = r.Remove(name)
	switch {
	case err == nil, errors.Is(err, fs.ErrNotExist):
		return nil
	case isDir && (errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)):
		a.log.Debug("local directory not empty; kept", zap.String("rel_path", rel))
		return nil
	default:
		return a.classify(r, "remove", rel, name, err)
	}
}

// writtenFor reports whether dest/name (inside r) records rel as the
// rel_path it was written for. It logs why it keeps a file that does not.
func (a *Download) writtenFor(r *localRoot, name, rel string) bool {
	f, err := r.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false // nothing to remove
	}
	if err != nil {
		a.log.Warn("on_delete: cannot open the local file to check its origin; kept",
			zap.String("rel_path", rel), zap.String("local_path", filepath.Join(a.dest, name)), zap.Error(err))
		return false
	}
	defer f.Close()
	src, err := origin(f)
	switch {
	case err != nil:
		a.log.Warn("on_delete: the local file's origin cannot be established; kept",
			zap.String("rel_path", rel), zap.String("local_path", filepath.Join(a.dest, name)), zap.Error(err))
		return false
	case src != rel:
		a.log.Info("on_delete: the local file was written for another path; kept",
			zap.String("rel_path", rel), zap.String("written_for", src),
			zap.String("local_path", filepath.Join(a.dest, name)))
		return false
	}
	return true
}

// syncDir fsyncs directory dir inside r so a rename in it is durable.
func syncDir(r *localRoot, dir string) error {
	d, err := r.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// countingWriter adds every byte written to a counter.
type countingWriter struct {
	w io.Writer
	c prometheus.Counter
}

func (cw countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	if cw.c != nil && n > 0 {
		cw.c.Add(float64(n))
	}
	return n, err
}
