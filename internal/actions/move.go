package actions

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
)

// Move renames the event's remote file into another remote directory,
// keeping its rel_path.
//
//   - type: move
//     to: /upload/.done     # root/rel_path -> to/rel_path
//
// Missing parent directories under to are created (0755; on a server that
// refuses to set the mode, with the server's, logged as a warning). The path is
// recorded as removed by the daemon itself before the rename, so the watch
// emits no delete event for it, even if the daemon dies right after the
// rename. A source that is gone while the destination exists counts as
// moved (an earlier attempt succeeded); a source that is gone while the
// destination is not, or that no longer has the event's type, size and
// mtime (a later upload replaced it), makes the event superseded
// (ErrSuperseded) and is not touched. An existing destination is replaced
// where the connection renames with posix-rename (sftpconn does when the
// server offers it, as OpenSSH does); a server that refuses to rename onto an
// existing file fails the event permanently and leaves the file in place. A
// refused rename fails permanently too. Directory
// entries, delete events and files already under to are skipped. Keep to
// out of the watch (or exclude it, e.g. "**/.*") when it lies inside the
// watched tree.
//
// Default events: create, modify.
type Move struct {
	to     string
	rm     remoteRemoval
	events eventSet
}

var _ Action = (*Move)(nil)

// NewMove builds a move action; d.Remote, d.Self and d.Root are required.
func NewMove(cfg config.Action, d Deps) (*Move, error) {
	if cfg.To == "" {
		return nil, errors.New("to: required")
	}
	rm, err := newRemoteRemoval(d)
	if err != nil {
		return nil, err
	}
	to := path.Clean(cfg.To)
	if to == rm.root {
		return nil, fmt.Errorf("to: %q is the watch path itself", cfg.To)
	}
	evs, err := newEventSet(cfg.Events, event.Create, event.Modify)
	if err != nil {
		return nil, err
	}
	return &Move{to: to, rm: rm, events: evs}, nil
}

// Type implements Action.
func (*Move) Type() string { return "move" }

// Handles implements Action.
func (a *Move) Handles(t event.Type) bool { return a.events.has(t) }

// Run implements Action.
func (a *Move) Run(ctx context.Context, ev *event.Event) error {
	src, ok, err := a.rm.source(ev, "move")
	if err != nil || !ok {
		return err
	}
	if strings.HasPrefix(src, strings.TrimSuffix(a.to, "/")+"/") {
		a.rm.log.Warn("move: file already under the move destination; skipped",
			zap.String("id", ev.ID), zap.String("path", src), zap.String("to", a.to))
		return nil
	}
	if err := a.rm.current(ctx, ev, src, "move"); err != nil {
		return err
	}
	dst := path.Join(a.to, ev.RelPath)
	if err := a.rm.remote.MakeDirs(ctx, path.Dir(dst), 0o755); errors.Is(err, sftpconn.ErrAttrsNotSet) {
		// Created, with the server's mode: the move can go on.
		a.rm.log.Warn("move: destination directory created, but its mode was not set",
			zap.String("id", ev.ID), zap.String("path", path.Dir(dst)), zap.Error(err))
	} else if err != nil {
		err = fmt.Errorf("move %q: create %q: %w", src, path.Dir(dst), err)
		if errors.Is(err, fs.ErrPermission) {
			return Permanent(err)
		}
		return err
	}
	return a.rm.do(ctx, ev.RelPath, src, dst, "move", func() error {
		return a.rm.remote.Rename(ctx, src, dst)
	})
}

// Delete removes the event's remote file.
//
//   - type: delete
//
// The path is recorded as removed by the daemon itself before the removal,
// so the watch emits no delete event for it. A file that is already gone
// counts as deleted. A refused removal fails permanently. Directory entries
// and delete events are skipped.
//
// Default events: create, modify.
type Delete struct {
	rm     remoteRemoval
	events eventSet
}

var _ Action = (*Delete)(nil)

// NewDelete builds a delete action; d.Remote, d.Self and d.Root are required.
func NewDelete(cfg config.Action, d Deps) (*Delete, error) {
	rm, err := newRemoteRemoval(d)
	if err != nil {
		return nil, err
	}
	evs, err := newEventSet(cfg.Events, event.Create, event.Modify)
	if err != nil {
		return nil, err
	}
	return &Delete{rm: rm, events: evs}, nil
}

// Type implements Action.
func (*Delete) Type() string { return "delete" }

// Handles implements Action.
func (a *Delete) Handles(t event.Type) bool { return a.events.has(t) }

// Run implements Action.
func (a *Delete) Run(ctx context.Context, ev *event.Event) error {
	src, ok, err := a.rm.source(ev, "delete")
	if err != nil || !ok {
		return err
	}
	if err := a.rm.current(ctx, ev, src, "delete"); err != nil {
		return err
	}
	return a.rm.do(ctx, ev.RelPath, src, "", "delete", func() error {
		return a.rm.remote.Remove(ctx, src)
	})
}
