package actions

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

type rmEnv struct {
	root   string
	remote Remote
	self   *selfMarks
}

func newRmEnv(t *testing.T) *rmEnv {
	t.Helper()
	root := t.TempDir()
	return &rmEnv{root: root, remote: newSFTPServer(t, root), self: &selfMarks{}}
}

func (e *rmEnv) action(t *testing.T, cfg config.Action) Action {
	t.Helper()
	a, err := New(cfg, Deps{Watch: "w", Host: "h", Root: e.root, Remote: e.remote, Self: e.self})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func exists(t *testing.T, p string) bool {
	t.Helper()
	_, err := os.Lstat(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func TestMove(t *testing.T) {
	e := newRmEnv(t)
	rel := "a/b/$(touch PWNED) c.csv"
	remoteFile(t, e.root, rel, []byte("data"))
	to := filepath.Join(e.root, ".done")
	a := e.action(t, config.Action{Type: "move", To: to})
	if !a.Handles(event.Create) || !a.Handles(event.Modify) || a.Handles(event.Delete) {
		t.Fatal("move default events are not create, modify")
	}
	ev := fileEvent(e.root, rel, event.Create)
	if err := a.Run(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	src, dst := filepath.Join(e.root, rel), filepath.Join(to, rel)
	if exists(t, src) || !exists(t, dst) {
		t.Fatalf("after move: src exists=%v dst exists=%v", exists(t, src), exists(t, dst))
	}
	if got, _ := os.ReadFile(dst); string(got) != "data" {
		t.Fatalf("moved content %q", got)
	}
	if !e.self.marked("w", rel) {
		t.Fatalf("no self-removal mark: %v", e.self.calls)
	}
	// An earlier attempt already moved it (crash before the ack): success.
	if err := a.Run(context.Background(), ev); err != nil {
		t.Fatalf("already moved: %v", err)
	}
	if !e.self.marked("w", rel) {
		t.Fatal("mark cleared after an already-done move")
	}

	// Source gone and destination missing: superseded (not by us), mark
	// cleared so the poller reports the real delete.
	gone := fileEvent(e.root, "x/vanished.csv", event.Create)
	err := a.Run(context.Background(), gone)
	if !errors.Is(err, ErrSuperseded) || IsPermanent(err) || e.self.marked("w", "x/vanished.csv") {
		t.Fatalf("vanished source: err=%v marked=%v", err, e.self.marked("w", "x/vanished.csv"))
	}

	// Destination already there while the source exists, on a server that
	// refuses to rename over a file (plain SSH_FXP_RENAME without
	// posix-rename; pkg/sftp's server overwrites): permanent, nothing
	// overwritten, mark cleared.
	remoteFile(t, e.root, "dup.csv", []byte("new"))
	if err := os.WriteFile(filepath.Join(to, "dup.csv"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.remote = noOverwriteRemote{e.remote}
	a = e.action(t, config.Action{Type: "move", To: to})
	err = a.Run(context.Background(), fileEvent(e.root, "dup.csv", event.Create))
	if !IsPermanent(err) || e.self.marked("w", "dup.csv") {
		t.Fatalf("existing destination: err=%v marked=%v", err, e.self.marked("w", "dup.csv"))
	}
	if got, _ := os.ReadFile(filepath.Join(to, "dup.csv")); string(got) != "old" {
		t.Fatalf("destination overwritten: %q", got)
	}
	if !exists(t, filepath.Join(e.root, "dup.csv")) {
		t.Fatal("source lost")
	}
}

func TestMoveSkips(t *testing.T) {
	e := newRmEnv(t)
	to := filepath.Join(e.root, ".done")
	remoteFile(t, e.root, ".done/already.csv", []byte("x"))
	if err := os.MkdirAll(filepath.Join(e.root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := e.action(t, config.Action{Type: "move", To: to, Events: []string{"create", "delete"}})
	for _, ev := range []*event.Event{
		fileEvent(e.root, ".done/already.csv", event.Create),
		{Type: event.Create, Path: e.root + "/dir", RelPath: "dir", Name: "dir", EntryType: "dir"},
		fileEvent(e.root, "deleted.csv", event.Delete),
	} {
		if err := a.Run(context.Background(), ev); err != nil {
			t.Fatalf("%s %q: %v", ev.Type, ev.RelPath, err)
		}
	}
	if !exists(t, filepath.Join(to, "already.csv")) || exists(t, filepath.Join(to, ".done")) ||
		!exists(t, filepath.Join(e.root, "dir")) {
		t.Fatal("a skipped entry was moved")
	}
	if len(e.self.calls) != 0 {
		t.Fatalf("marks for skipped entries: %v", e.self.calls)
	}
}

func TestDelete(t *testing.T) {
	e := newRmEnv(t)
	rel := "in/ünï code;|.csv"
	remoteFile(t, e.root, rel, []byte("x"))
	a := e.action(t, config.Action{Type: "delete"})
	ev := fileEvent(e.root, rel, event.Create)
	if err := a.Run(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if exists(t, filepath.Join(e.root, rel)) {
		t.Fatal("not deleted")
	}
	if !e.self.marked("w", rel) {
		t.Fatal("no self-removal mark")
	}
	if err := a.Run(context.Background(), ev); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if want := []string{"mark w " + rel, "mark w " + rel}; !slices.Equal(e.self.calls, want) {
		t.Fatalf("calls %q, want %q", e.self.calls, want)
	}
	if !exists(t, filepath.Join(e.root, "in")) {
		t.Fatal("parent directory removed")
	}
}

func TestMoveDeleteRefuseEscapingRelPath(t *testing.T) {
	e := newRmEnv(t)
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(e.root, victim)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"move", "delete"} {
		a := e.action(t, config.Action{Type: typ, To: filepath.Join(e.root, ".done")})
		for _, r := range []string{rel, "../x", "/etc/passwd", "a/../b", ""} {
			err := a.Run(context.Background(), fileEvent(e.root, r, event.Create))
			if !IsPermanent(err) {
				t.Errorf("%s %q: err = %v, want permanent", typ, r, err)
			}
		}
	}
	if !exists(t, victim) || len(e.self.calls) != 0 {
		t.Fatalf("victim exists=%v, marks %v", exists(t, victim), e.self.calls)
	}
}

// failingRemote fails Rename and Remove with err.
type failingRemote struct {
	Remote
	err error
}

func (f failingRemote) Rename(context.Context, string, string) error { return f.err }
func (f failingRemote) Remove(context.Context, string) error         { return f.err }

func TestMoveDeleteFailureClassification(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"permission", os.ErrPermission, true},
		{"transient", errors.New("connection lost"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRmEnv(t)
			remoteFile(t, e.root, "f.csv", []byte("x"))
			e.remote = failingRemote{Remote: e.remote, err: tc.err}
			for _, typ := range []string{"move", "delete"} {
				a := e.action(t, config.Action{Type: typ, To: filepath.Join(e.root, ".done")})
				err := a.Run(context.Background(), fileEvent(e.root, "f.csv", event.Create))
				if err == nil || IsPermanent(err) != tc.permanent || !errors.Is(err, tc.err) {
					t.Fatalf("%s: err = %v, want permanent=%v wrapping %v", typ, err, tc.permanent, tc.err)
				}
				// The source is still there, so the mark must not hide a
				// later real delete.
				if e.self.marked("w", "f.csv") {
					t.Fatalf("%s: mark kept although the file was not removed", typ)
				}
			}
		})
	}
}

// noOverwriteRemote renames as a server without posix-rename does: a rename
// onto an existing path fails.
type noOverwriteRemote struct{ Remote }

func (r noOverwriteRemote) Rename(ctx context.Context, o, n string) error {
	if _, err := r.Lstat(ctx, n); err == nil {
		return errors.New("sftp: \"Failure\" (SSH_FX_FAILURE)")
	}
	return r.Remote.Rename(ctx, o, n)
}
