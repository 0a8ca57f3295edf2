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
)

// RemoveMarker removes the require_marker marker of an event's file
// (root/rel_path + suffix) once the rest of the chain succeeded: the watch's
// remove_marker: true appends it as the chain's last step, so a failure is
// retried like any step and nothing before it runs again. A marker that is
// already gone counts as removed; a refused removal fails permanently.
// Markers are never in the watch's state (they are not covered), so their
// removal can yield no delete event and needs no self-removal record.
//
// Events: create and modify of files.
type RemoveMarker struct {
	root   string
	suffix string
	remote Remote
	log    *zap.Logger
}

var _ Action = (*RemoveMarker)(nil)

// NewRemoveMarker builds the marker removal of a watch whose require_marker
// is suffix; d.Remote and d.Root are required.
func NewRemoveMarker(suffix string, d Deps) (*RemoveMarker, error) {
	switch {
	case suffix == "" || strings.Contains(suffix, "/"):
		return nil, fmt.Errorf("require_marker %q: a plain suffix is required", suffix)
	case d.Remote == nil:
		return nil, errNoRemote
	case d.Root == "":
		return nil, errors.New("no remote watch root given (Deps.Root is empty)")
	}
	return &RemoveMarker{root: path.Clean(d.Root), suffix: suffix, remote: d.Remote, log: loggerOrNop(d.Logger)}, nil
}

// Type implements Action.
func (*RemoveMarker) Type() string { return "remove_marker" }

// Handles implements Action.
func (*RemoveMarker) Handles(t event.Type) bool { return t == event.Create || t == event.Modify }

// Run implements Action.
func (a *RemoveMarker) Run(ctx context.Context, ev *event.Event) error {
	if ev.EntryType != "file" {
		return nil // only files wait for markers
	}
	if err := checkRelPath(ev.RelPath); err != nil {
		return Permanent(fmt.Errorf("remove marker under %q: %w", a.root, err))
	}
	p := path.Join(a.root, ev.RelPath) + a.suffix
	err := a.remote.Remove(ctx, p)
	switch {
	case err == nil:
		a.log.Info("marker removed", zap.String("id", ev.ID), zap.String("path", p))
		return nil
	case errors.Is(err, fs.ErrNotExist):
		a.log.Debug("marker already gone", zap.String("id", ev.ID), zap.String("path", p))
		return nil
	case errors.Is(err, fs.ErrPermission):
		return Permanent(fmt.Errorf("remove marker %q: %w", p, err))
	}
	return fmt.Errorf("remove marker %q: %w", p, err)
}

// Quarantine moves the remote file of an event that gave up into a
// directory, rel_path kept and parents created (on_dead_letter: {move_to:
// DIR}). It is a move action underneath: the path is recorded as removed by
// the daemon before the rename, so no delete event follows, and a file that
// changed since the event (a later upload) is left alone.
type Quarantine struct {
	dir  string
	root string
	mv   *Move
}

// NewQuarantine builds the on_dead_letter move into dir; d.Remote, d.Self
// and d.Root are required.
func NewQuarantine(dir string, d Deps) (*Quarantine, error) {
	mv, err := NewMove(config.Action{Type: "move", To: dir}, d)
	if err != nil {
		return nil, fmt.Errorf("on_dead_letter.move_to: %w", err)
	}
	return &Quarantine{dir: mv.to, root: mv.rm.root, mv: mv}, nil
}

// Run moves ev's file and says what it did ("" when there was nothing to
// move: a delete event, a directory). An error means the file was not
// moved.
func (q *Quarantine) Run(ctx context.Context, ev *event.Event) (string, error) {
	if ev.Type == event.Delete || ev.EntryType == "dir" {
		return "", nil
	}
	e := *ev
	if err := q.mv.Run(ctx, &e); err != nil {
		return "", fmt.Errorf("move to %q: %w", q.dir, err)
	}
	src := path.Join(q.root, ev.RelPath)
	if strings.HasPrefix(src, q.dir+"/") {
		return "the remote file is already under on_dead_letter.move_to", nil
	}
	return fmt.Sprintf("the remote file was moved to %q", path.Join(q.dir, ev.RelPath)), nil
}
