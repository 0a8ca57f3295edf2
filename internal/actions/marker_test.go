package actions

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

func TestRemoveMarker(t *testing.T) {
	e := newRmEnv(t)
	remoteFile(t, e.root, "d/a.csv", []byte("a"))
	remoteFile(t, e.root, "d/a.csv.ok", nil)
	a, err := NewRemoveMarker(".ok", Deps{Watch: "w", Root: e.root, Remote: e.remote})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Handles(event.Create) || !a.Handles(event.Modify) || a.Handles(event.Delete) || a.Handles(event.Rename) {
		t.Error("remove_marker must run for create and modify only")
	}
	ev := fileEvent(e.root, "d/a.csv", event.Create)
	if err := a.Run(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if exists(t, filepath.Join(e.root, "d/a.csv.ok")) || !exists(t, filepath.Join(e.root, "d/a.csv")) {
		t.Error("the marker must go and the file stay")
	}
	if err := a.Run(context.Background(), ev); err != nil {
		t.Errorf("marker already gone: %v, want success", err)
	}
	err = (&RemoveMarker{root: e.root, suffix: ".ok", remote: failingRemote{Remote: e.remote, err: fs.ErrPermission}, log: loggerOrNop(nil)}).Run(context.Background(), ev)
	if !IsPermanent(err) {
		t.Errorf("refused removal: %v, want permanent", err)
	}
	if _, err := NewRemoveMarker("a/b", Deps{Root: e.root, Remote: e.remote}); err == nil {
		t.Error("a suffix with '/' was accepted")
	}
}

func TestQuarantine(t *testing.T) {
	e := newRmEnv(t)
	root := filepath.Join(e.root, "in")
	remoteFile(t, root, "x/y.csv", []byte("y"))
	failed := filepath.Join(e.root, "failed", "deep")
	q, err := NewQuarantine(failed, Deps{Watch: "w", Root: root, Remote: e.remote, Self: e.self})
	if err != nil {
		t.Fatal(err)
	}
	ev := fileEvent(root, "x/y.csv", event.Create)
	note, err := q.Run(context.Background(), ev)
	if err != nil || !strings.Contains(note, filepath.Join(failed, "x/y.csv")) {
		t.Fatalf("note %q, err %v", note, err)
	}
	if !exists(t, filepath.Join(failed, "x/y.csv")) || exists(t, filepath.Join(root, "x/y.csv")) {
		t.Error("the file was not moved under move_to with its rel_path")
	}
	if !e.self.marked("w", "x/y.csv") {
		t.Errorf("no self-removal record: %v", e.self.calls)
	}

	// A later upload replaced the file: left alone, the error says why.
	remoteFile(t, root, "z.csv", []byte("old"))
	ev = fileEvent(root, "z.csv", event.Create)
	if err := os.WriteFile(filepath.Join(root, "z.csv"), []byte("newer and longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Run(context.Background(), ev); !errors.Is(err, ErrSuperseded) || !exists(t, filepath.Join(root, "z.csv")) {
		t.Errorf("changed file: err %v, want superseded and the file left in place", err)
	}
	// Nothing to move for a delete event.
	if note, err := q.Run(context.Background(), fileEvent(root, "gone.csv", event.Delete)); note != "" || err != nil {
		t.Errorf("delete event: %q, %v", note, err)
	}
}
