package actions

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

func writeFile(t *testing.T, p string, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Start removes the temporary files of other processes (a crash, an older
// version) everywhere under dest, and nothing else: not this process's own,
// not a symlink with a temporary name, not what lies behind a symlink to a
// directory outside dest, not ordinary files.
func TestDownloadStartSweepsStaleTempFiles(t *testing.T) {
	e := newDLEnv(t)
	outside := t.TempDir()
	stale := []string{
		".sftpwatchd-ABCDEFGHIJKL-XYZ.tmp",     // another process's
		"sub/deeper/.sftpwatchd-LEGACY123.tmp", // an older version's name
	}
	own := filepath.Join("sub", ownTempPrefix+"INFLIGHT.tmp")
	keep := []string{"data.csv", "sub/.sftpwatchd-config", "sub/x.tmp", own}
	for _, n := range append(append([]string{}, stale...), keep...) {
		writeFile(t, filepath.Join(e.dest, n), "x")
	}
	writeFile(t, filepath.Join(outside, ".sftpwatchd-OUTSIDE.tmp"), "not ours to touch")
	if err := os.Symlink(outside, filepath.Join(e.dest, "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, ".sftpwatchd-OUTSIDE.tmp"), filepath.Join(e.dest, ".sftpwatchd-LINK.tmp")); err != nil {
		t.Fatal(err)
	}
	a := e.download(t, config.Action{})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range stale {
		if exists(t, filepath.Join(e.dest, n)) {
			t.Errorf("stale %s survived Start", n)
		}
	}
	for _, n := range append(keep, ".sftpwatchd-LINK.tmp") {
		if !exists(t, filepath.Join(e.dest, n)) {
			t.Errorf("%s was removed", n)
		}
	}
	if !exists(t, filepath.Join(outside, ".sftpwatchd-OUTSIDE.tmp")) {
		t.Error("a file outside dest (behind a symlink) was removed")
	}

	// A dest that does not exist yet is nothing to sweep.
	b := e.download(t, config.Action{Dest: filepath.Join(e.base, "not-yet")})
	if err := b.Start(context.Background()); err != nil {
		t.Fatalf("Start on a missing dest: %v", err)
	}
}

// Before the first download into a directory its stale temporary files go,
// also when they appeared after Start.
func TestDownloadSweepsDirectoryBeforeWriting(t *testing.T) {
	e := newDLEnv(t)
	remoteFile(t, e.root, "in/f.csv", []byte("payload"))
	a := e.download(t, config.Action{})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	staleName := filepath.Join(e.dest, "in", ".sftpwatchd-CRASHED0000-1.tmp")
	writeFile(t, staleName, "half a file")
	if err := a.Run(context.Background(), fileEvent(e.root, "in/f.csv", event.Create)); err != nil {
		t.Fatal(err)
	}
	if left := tempFiles(t, e.dest); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if got, _ := os.ReadFile(filepath.Join(e.dest, "in", "f.csv")); string(got) != "payload" {
		t.Fatalf("content %q", got)
	}
}

// A sweep never takes a download of this process in flight for stale: a
// second Download on the same dest (a reload builds new actions while the
// old ones finish) sweeps while the first is writing its temporary file.
func TestDownloadSweepSparesInFlightTempFile(t *testing.T) {
	e := newDLEnv(t)
	data := randBytes(t, 1<<20)
	remoteFile(t, e.root, "big.bin", data)
	plain := e.remote
	g := &gatedRemote{Remote: e.remote, started: make(chan struct{}), release: make(chan struct{})}
	e.remote = g
	first := e.download(t, config.Action{})
	e.remote = plain
	runErr := make(chan error, 1)
	go func() { runErr <- first.Run(context.Background(), fileEvent(e.root, "big.bin", event.Create)) }()
	<-g.started
	inFlight := tempFiles(t, e.dest)
	if len(inFlight) != 1 {
		t.Fatalf("temporary files while downloading: %v", inFlight)
	}

	second := e.download(t, config.Action{})
	if err := second.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	remoteFile(t, e.root, "small.csv", []byte("small"))
	if err := second.Run(context.Background(), fileEvent(e.root, "small.csv", event.Create)); err != nil {
		t.Fatal(err)
	}
	if !exists(t, inFlight[0]) {
		t.Fatal("the in-flight temporary file was swept")
	}
	close(g.release)
	if err := <-runErr; err != nil {
		t.Fatalf("the in-flight download: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(e.dest, "big.bin")); !bytes.Equal(got, data) {
		t.Fatal("the in-flight download was not delivered intact")
	}
}

func TestDownloadSupersededByALaterChange(t *testing.T) {
	e := newDLEnv(t)
	a := e.download(t, config.Action{PreserveMtime: true})
	for _, tc := range []struct {
		name   string
		change func(p string)
	}{
		{"deleted before its turn", func(p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced before its turn", func(p string) {
			writeFile(t, p, "a newer, longer version")
		}},
		{"same size, newer mtime", func(p string) {
			later := remoteMtime.Add(time.Minute)
			if err := os.Chtimes(p, later, later); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := "in/" + tc.name + ".csv"
			remoteFile(t, e.root, rel, []byte("version 1"))
			ev := fileEvent(e.root, rel, event.Create)
			tc.change(filepath.Join(e.root, rel))
			err := a.Run(context.Background(), ev)
			if !errors.Is(err, ErrSuperseded) || IsPermanent(err) || errors.Is(err, ErrChangedDuringTransfer) {
				t.Fatalf("err = %v, want ErrSuperseded only", err)
			}
			if exists(t, filepath.Join(e.dest, filepath.FromSlash(rel))) || ev.LocalPath != "" {
				t.Fatalf("something was delivered for a superseded event (LocalPath %q)", ev.LocalPath)
			}
			if left := tempFiles(t, e.dest); len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
}

// A rename whose new path is gone again is superseded, and the old local
// copy goes all the same: the old path is gone on the server.
func TestDownloadRenameSupersededStillRemovesOldCopy(t *testing.T) {
	e := newDLEnv(t)
	a := e.download(t, config.Action{OnDelete: "remove"})
	writeFile(t, filepath.Join(e.dest, "old.csv"), "old copy")
	ev := fileEvent(e.root, "new.csv", event.Rename)
	ev.OldPath, ev.OldRelPath = e.root+"/old.csv", "old.csv"
	err := a.Run(context.Background(), ev)
	if !errors.Is(err, ErrSuperseded) {
		t.Fatalf("err = %v, want ErrSuperseded", err)
	}
	if exists(t, filepath.Join(e.dest, "old.csv")) {
		t.Fatal("the old local copy of a renamed file was kept")
	}
}

func TestDownloadOrderKeys(t *testing.T) {
	e := newDLEnv(t)
	plain := e.download(t, config.Action{})
	flat := e.download(t, config.Action{Flatten: true})
	a, b := fileEvent(e.root, "a/x.csv", event.Create), fileEvent(e.root, "b/x.csv", event.Delete)
	if k := plain.OrderKeys(a); k != nil {
		t.Fatalf("without flatten: keys %q, want none (rel_path orders)", k)
	}
	ka, kb := flat.OrderKeys(a), flat.OrderKeys(b)
	if len(ka) != 1 || !slices.Equal(ka, kb) {
		t.Fatalf("a/x.csv keys %q, b/x.csv keys %q: want one shared key", ka, kb)
	}
	if k := flat.OrderKeys(fileEvent(e.root, "a/y.csv", event.Create)); slices.Equal(k, ka) {
		t.Fatal("y.csv shares x.csv's key")
	}
	ren := fileEvent(e.root, "c/z.csv", event.Rename)
	ren.OldPath, ren.OldRelPath = e.root+"/a/x.csv", "a/x.csv"
	if k := flat.OrderKeys(ren); len(k) != 2 || !slices.Contains(k, ka[0]) {
		t.Fatalf("rename keys %q: want z.csv's and x.csv's", k)
	}
}

// With flatten, a/x.csv and b/x.csv share dest/x.csv: a delete of one
// removes the local file only when it was written for it.
func TestDownloadFlattenRemovesOnlyItsOwnCopy(t *testing.T) {
	e := newDLEnv(t)
	core, logs := observer.New(zapcore.InfoLevel)
	a, err := NewDownload(config.Action{Type: "download", Dest: e.dest, Flatten: true, OnDelete: "remove"},
		Deps{Watch: "w", Root: e.root, Remote: e.remote, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	remoteFile(t, e.root, "a/x.csv", []byte("from a"))
	remoteFile(t, e.root, "b/x.csv", []byte("from b"))
	ctx := context.Background()
	for _, rel := range []string{"a/x.csv", "b/x.csv"} {
		if err := a.Run(ctx, fileEvent(e.root, rel, event.Create)); err != nil {
			t.Fatal(err)
		}
	}
	local := filepath.Join(e.dest, "x.csv")
	if err := a.Run(ctx, fileEvent(e.root, "a/x.csv", event.Delete)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(local); string(got) != "from b" {
		t.Fatalf("after the delete of a/x.csv: %q, want b's copy kept", got)
	}
	if logs.FilterMessage("on_delete: the local file was written for another path; kept").Len() != 1 {
		t.Fatal("keeping another path's copy was not logged")
	}
	if err := a.Run(ctx, fileEvent(e.root, "b/x.csv", event.Delete)); err != nil {
		t.Fatal(err)
	}
	if exists(t, local) {
		t.Fatal("the delete of b/x.csv kept b's own copy")
	}

	// A file whose origin is unknown (put there by hand, or by an older
	// version) is kept and logged.
	writeFile(t, local, "by hand")
	if err := a.Run(ctx, fileEvent(e.root, "a/x.csv", event.Delete)); err != nil {
		t.Fatal(err)
	}
	if !exists(t, local) {
		t.Fatal("a file of unknown origin was removed")
	}
	if logs.FilterMessage("on_delete: the local file's origin cannot be established; kept").Len() != 1 {
		t.Fatal("keeping a file of unknown origin was not logged")
	}
}

// With the watch's follow_symlinks, an event for a followed link reports
// the target (a file, its size and mtime) and the target is downloaded.
func TestDownloadFollowedSymlinkAsItsTarget(t *testing.T) {
	e := newDLEnv(t)
	data := randBytes(t, 300<<10)
	remoteFile(t, e.root, "real/target.bin", data)
	if err := os.Symlink("real/target.bin", filepath.Join(e.root, "link.bin")); err != nil {
		t.Fatal(err)
	}
	ev := fileEvent(e.root, "link.bin", event.Create)
	ev.EntryType, ev.Size, ev.MTime = "file", int64(len(data)), remoteMtime // what the following walk reports

	a, err := NewDownload(config.Action{Type: "download", Dest: e.dest, PreserveMtime: true},
		Deps{Watch: "w", Root: e.root, Remote: e.remote, FollowSymlinks: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(e.dest, "link.bin")
	fi, err := os.Lstat(local)
	if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Equal(remoteMtime) {
		t.Fatalf("local copy: %v %v", fi, err)
	}
	if got, _ := os.ReadFile(local); !bytes.Equal(got, data) {
		t.Fatal("the followed link's target was not copied byte for byte")
	}

	// Without follow_symlinks the walk reports a symlink, never downloaded.
	plain := e.download(t, config.Action{Dest: filepath.Join(e.base, "plain")})
	if err := plain.Run(context.Background(), fileEvent(e.root, "link.bin", event.Create)); !IsPermanent(err) {
		t.Fatalf("a symlink without follow_symlinks: err = %v, want permanent", err)
	}
}

// delete and move keep a file that a later upload replaced: removing it
// would lose the upload the later event carries.
func TestRemovalSupersededByALaterUpload(t *testing.T) {
	e := newRmEnv(t)
	for _, cfg := range []config.Action{{Type: "delete"}, {Type: "move", To: filepath.Join(e.root, ".done")}} {
		t.Run(cfg.Type, func(t *testing.T) {
			rel := cfg.Type + ".csv"
			remoteFile(t, e.root, rel, []byte("version 1"))
			ev := fileEvent(e.root, rel, event.Create)
			writeFile(t, filepath.Join(e.root, rel), "version 2, uploaded again")
			err := e.action(t, cfg).Run(context.Background(), ev)
			if !errors.Is(err, ErrSuperseded) || IsPermanent(err) {
				t.Fatalf("err = %v, want ErrSuperseded", err)
			}
			if got, _ := os.ReadFile(filepath.Join(e.root, rel)); string(got) != "version 2, uploaded again" {
				t.Fatalf("the newer upload was touched: %q", got)
			}
			if e.self.marked("w", rel) {
				t.Fatal("self-removal mark left for a file that was not removed")
			}
		})
	}
}
