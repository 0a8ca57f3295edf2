package actions

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// remoteRemoval is what move and delete share: the watch, the remote, the
// self-removal record and the mark → act → settle sequence.
type remoteRemoval struct {
	watch  string
	root   string // clean remote watch root
	remote Remote
	self   SelfRemovals
	follow bool // the watch follows symlinks
	log    *zap.Logger
}

func newRemoteRemoval(d Deps) (remoteRemoval, error) {
	switch {
	case d.Remote == nil:
		return remoteRemoval{}, errNoRemote
	case d.Self == nil:
		return remoteRemoval{}, errors.New("no self-removal record given (Deps.Self is nil)")
	case d.Root == "":
		return remoteRemoval{}, errors.New("no remote watch root given (Deps.Root is empty)")
	}
	return remoteRemoval{watch: d.Watch, root: path.Clean(d.Root), remote: d.Remote, self: d.Self,
		follow: d.FollowSymlinks, log: loggerOrNop(d.Logger)}, nil
}

// source returns the remote path of ev's entry, or ok=false when there is
// nothing to do for ev (a delete event, a directory).
func (r remoteRemoval) source(ev *event.Event, op string) (src string, ok bool, err error) {
	if ev.Type == event.Delete || ev.EntryType == "dir" {
		r.log.Debug(op+": nothing to do for this event", zap.String("id", ev.ID),
			zap.String("type", string(ev.Type)), zap.String("entry_type", ev.EntryType))
		return "", false, nil
	}
	if err := checkRelPath(ev.RelPath); err != nil {
		return "", false, Permanent(fmt.Errorf("%s under %q: %w", op, r.root, err))
	}
	return path.Join(r.root, ev.RelPath), true, nil
}

// current fails with ErrSuperseded when src no longer has ev's type, size
// and mtime: a later upload replaced the file the event is about, and
// moving or deleting it would lose that upload, which the later event
// carries. A src that is gone is left to do (an earlier attempt may have
// moved it).
func (r remoteRemoval) current(ctx context.Context, ev *event.Event, src, op string) error {
	fi, _, err := remoteAttrs(ctx, r.remote, src, ev, r.follow)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%s %q: %w", op, src, err)
	}
	if why := changedSince(ev, fi); why != "" {
		return superseded(op, src, why)
	}
	return nil
}

// do marks rel as removed by the daemon, runs act and settles the outcome.
// dst is the destination of a move ("" for delete).
//
// The mark stays whenever src may be gone because of us (success, or an
// outcome we cannot tell); it is removed when src is known to still be there
// or to have vanished on its own, so a later real delete is not hidden (a
// src that vanished on its own makes the event superseded).
func (r remoteRemoval) do(ctx context.Context, rel, src, dst, op string, act func() error) error {
	if err := r.self.MarkSelfRemoved(r.watch, rel); err != nil {
		return fmt.Errorf("%s %q: record self-removal: %w", op, src, err)
	}
	actErr := act()
	if actErr == nil {
		r.log.Info(op+" done", zap.String("path", src), zap.String("to", dst))
		return nil
	}
	actErr = fmt.Errorf("%s %q%s: %w", op, src, arrow(dst), actErr)

	srcThere, err := r.exists(ctx, src)
	if err != nil {
		return errors.Join(actErr, err) // cannot tell: keep the mark, retry
	}
	dstThere := false
	if dst != "" {
		if dstThere, err = r.exists(ctx, dst); err != nil {
			return errors.Join(actErr, err)
		}
	}
	switch {
	case !srcThere && (dst == "" || dstThere):
		r.log.Info(op+" already done (an earlier attempt succeeded)", zap.String("path", src), zap.String("to", dst))
		return nil
	case !srcThere:
		// Gone, and not by us: a later delete event carries it.
		actErr = superseded(op, src, fmt.Sprintf("the remote file is gone and %q does not exist (%v)", dst, actErr))
	case dstThere:
		actErr = Permanent(fmt.Errorf("%s %q: destination %q already exists: %w", op, src, dst, actErr))
	case errors.Is(actErr, fs.ErrPermission):
		actErr = Permanent(actErr)
	}
	if err := r.self.UnmarkSelfRemoved(r.watch, rel); err != nil {
		return errors.Join(actErr, fmt.Errorf("%s %q: clear self-removal record: %w", op, src, err))
	}
	return actErr
}

// exists reports whether remote path p exists (without following a symlink).
func (r remoteRemoval) exists(ctx context.Context, p string) (bool, error) {
	_, err := r.remote.Lstat(ctx, p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("lstat %q: %w", p, err)
	}
}

func arrow(dst string) string {
	if dst == "" {
		return ""
	}
	return fmt.Sprintf(" to %q", dst)
}
