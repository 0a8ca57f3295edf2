package actions

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
)

var remoteMtime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// remoteFile writes a file under the remote root with a fixed mtime.
func remoteFile(t *testing.T, root, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, remoteMtime, remoteMtime); err != nil {
		t.Fatal(err)
	}
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// fileEvent is an event for root/rel with the size and mtime the entry has
// now, as the poller would report it without follow_symlinks (a symbolic
// link as a symlink; zero size and mtime when there is no such entry).
func fileEvent(root, rel string, typ event.Type) *event.Event {
	ev := &event.Event{ID: "w-000000000001", Watch: "w", Host: "h", Type: typ,
		Path: root + "/" + rel, RelPath: rel, Name: filepath.Base(rel), EntryType: "file"}
	if fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel))); err == nil {
		ev.Size, ev.MTime = fi.Size(), fi.ModTime().Truncate(time.Second)
		if fi.Mode()&os.ModeSymlink != 0 {
			ev.EntryType = "symlink"
		}
	}
	return ev
}

type dlEnv struct {
	root, base, dest string
	remote           Remote
	m                *metrics.Metrics
}

// newDLEnv makes a remote root served over SFTP and a local base/dest.
func newDLEnv(t *testing.T) *dlEnv {
	t.Helper()
	e := &dlEnv{root: t.TempDir(), base: t.TempDir()}
	e.dest = filepath.Join(e.base, "dest")
	e.remote = newSFTPServer(t, e.root)
	e.m = metrics.New(prometheus.NewRegistry(), "test")
	return e
}

func (e *dlEnv) download(t *testing.T, cfg config.Action) *Download {
	t.Helper()
	cfg.Type = "download"
	if cfg.Dest == "" {
		cfg.Dest = e.dest
	}
	a, err := New(cfg, Deps{Watch: "w", Host: "h", Root: e.root, Remote: e.remote, Metrics: e.m})
	if err != nil {
		t.Fatal(err)
	}
	return a.(*Download)
}

// tempFiles lists leftover temporary files anywhere under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".sftpwatchd-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestDownloadByteIdenticalWithMtime(t *testing.T) {
	e := newDLEnv(t)
	data := randBytes(t, 1<<20+123)
	remoteFile(t, e.root, "a/b/c d.bin", data)
	a := e.download(t, config.Action{PreserveMtime: true})
	ev := fileEvent(e.root, "a/b/c d.bin", event.Create)
	if err := a.Run(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(e.dest, "a", "b", "c d.bin")
	if ev.LocalPath != want {
		t.Fatalf("LocalPath = %q, want %q", ev.LocalPath, want)
	}
	got, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("content differs: %d bytes, want %d", len(got), len(data))
	}
	fi, _ := os.Stat(want)
	if !fi.ModTime().Equal(remoteMtime) {
		t.Fatalf("mtime = %s, want %s", fi.ModTime(), remoteMtime)
	}
	if left := tempFiles(t, e.dest); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if n := testutil.ToFloat64(e.m.DownloadBytesTotal.WithLabelValues("w")); n != float64(len(data)) {
		t.Fatalf("download_bytes_total = %v, want %d", n, len(data))
	}

	// A modify overwrites; without preserve_mtime the mtime is the local time.
	data2 := []byte("second version")
	remoteFile(t, e.root, "a/b/c d.bin", data2)
	b := e.download(t, config.Action{})
	ev2 := fileEvent(e.root, "a/b/c d.bin", event.Modify)
	if err := b.Run(context.Background(), ev2); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(want)
	fi, _ = os.Stat(want)
	if !bytes.Equal(got, data2) || fi.ModTime().Equal(remoteMtime) {
		t.Fatalf("after modify: content %q mtime %s", got, fi.ModTime())
	}
}

// gatedRemote blocks GetTo after its first write until release is closed.
type gatedRemote struct {
	Remote
	started chan struct{}
	release chan struct{}
}

type gatedWriter struct {
	w    io.Writer
	once *sync.Once
	g    *gatedRemote
}

func (gw gatedWriter) Write(p []byte) (int, error) {
	n, err := gw.w.Write(p)
	gw.once.Do(func() { close(gw.g.started); <-gw.g.release })
	return n, err
}

func (g *gatedRemote) GetTo(ctx context.Context, p string, w io.Writer, progress func(int64)) (int64, error) {
	return g.Remote.GetTo(ctx, p, gatedWriter{w: w, once: &sync.Once{}, g: g}, progress)
}

func TestDownloadReaderNeverSeesPartialFile(t *testing.T) {
	e := newDLEnv(t)
	data := randBytes(t, 4<<20)
	remoteFile(t, e.root, "big.bin", data)
	// An older complete version is already in place: a reader must see
	// either it or the new one, never a mix.
	old := []byte("old complete version")
	if err := os.MkdirAll(e.dest, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dest, "big.bin"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	g := &gatedRemote{Remote: e.remote, started: make(chan struct{}), release: make(chan struct{})}
	e.remote = g
	a := e.download(t, config.Action{})

	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(context.Background(), fileEvent(e.root, "big.bin", event.Create)) }()
	<-g.started

	var sawTemp, sawNew atomic.Bool
	var bad []string
	deadline := time.Now().Add(30 * time.Second)
	released := false
	for !sawNew.Load() && time.Now().Before(deadline) {
		ents, err := os.ReadDir(e.dest)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range ents {
			switch {
			case strings.HasPrefix(de.Name(), ".sftpwatchd-") && strings.HasSuffix(de.Name(), ".tmp"):
				sawTemp.Store(true)
			case de.Name() == "big.bin":
				got, err := os.ReadFile(filepath.Join(e.dest, "big.bin"))
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case bytes.Equal(got, data):
					sawNew.Store(true)
				case bytes.Equal(got, old):
				default:
					bad = append(bad, de.Name())
				}
			default:
				bad = append(bad, de.Name())
			}
		}
		if sawTemp.Load() && !released {
			released = true
			close(g.release)
		}
	}
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	if !sawTemp.Load() || !sawNew.Load() {
		t.Fatalf("sawTemp=%v sawNew=%v", sawTemp.Load(), sawNew.Load())
	}
	if len(bad) != 0 {
		t.Fatalf("reader saw partial or unexpected files: %v", bad)
	}
}

// rewritingRemote rewrites the remote file once, between the first Lstat and
// the transfer, as an uploader still writing would.
type rewritingRemote struct {
	Remote
	path  string
	data  []byte
	fired atomic.Bool
}

func (r *rewritingRemote) GetTo(ctx context.Context, p string, w io.Writer, progress func(int64)) (int64, error) {
	if !r.fired.Swap(true) {
		if err := os.WriteFile(r.path, r.data, 0o644); err != nil {
			return 0, err
		}
		later := remoteMtime.Add(time.Hour)
		if err := os.Chtimes(r.path, later, later); err != nil {
			return 0, err
		}
	}
	return r.Remote.GetTo(ctx, p, w, progress)
}

func TestDownloadChangedDuringTransferIsRetried(t *testing.T) {
	e := newDLEnv(t)
	remoteFile(t, e.root, "in/f.csv", []byte("partial"))
	final := []byte("partial,and,the,rest\n")
	e.remote = &rewritingRemote{Remote: e.remote, path: filepath.Join(e.root, "in", "f.csv"), data: final}
	a := e.download(t, config.Action{PreserveMtime: true})
	ev := fileEvent(e.root, "in/f.csv", event.Modify)

	err := a.Run(context.Background(), ev)
	if !errors.Is(err, ErrChangedDuringTransfer) || IsPermanent(err) {
		t.Fatalf("first attempt: err = %v, want retryable ErrChangedDuringTransfer", err)
	}
	if _, err := os.Stat(filepath.Join(e.dest, "in", "f.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file appeared under the final name after a failed attempt: %v", err)
	}
	if left := tempFiles(t, e.dest); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if ev.LocalPath != "" {
		t.Fatalf("LocalPath set on failure: %q", ev.LocalPath)
	}
	// The retry finds the file changed since the event: superseded; the
	// modify event the poller emits for the change downloads it.
	if err := a.Run(context.Background(), ev); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("retry: err = %v, want ErrSuperseded", err)
	}
	if err := a.Run(context.Background(), fileEvent(e.root, "in/f.csv", event.Modify)); err != nil {
		t.Fatalf("later event: %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(e.dest, "in", "f.csv"))
	if !bytes.Equal(got, final) {
		t.Fatalf("content %q, want %q", got, final)
	}
	fi, _ := os.Stat(filepath.Join(e.dest, "in", "f.csv"))
	if !fi.ModTime().Equal(remoteMtime.Add(time.Hour)) {
		t.Fatalf("mtime %s", fi.ModTime())
	}
}

func TestDownloadFlatten(t *testing.T) {
	e := newDLEnv(t)
	remoteFile(t, e.root, "x/y/z.csv", []byte("z"))
	a := e.download(t, config.Action{Flatten: true})
	ev := fileEvent(e.root, "x/y/z.csv", event.Create)
	if err := a.Run(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(e.dest, "z.csv")); err != nil || string(got) != "z" {
		t.Fatalf("flattened file: %q %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(e.dest, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("flatten created a directory: %v", err)
	}
	// A directory entry creates nothing with flatten.
	dirEv := &event.Event{Type: event.Create, Path: e.root + "/x", RelPath: "x", Name: "x", EntryType: "dir"}
	if err := a.Run(context.Background(), dirEv); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.dest, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("flatten created a directory: %v", err)
	}
}

func TestDownloadDirectoryEntry(t *testing.T) {
	e := newDLEnv(t)
	if err := os.MkdirAll(filepath.Join(e.root, "d1", "d2"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := e.download(t, config.Action{})
	ev := &event.Event{Type: event.Create, Path: e.root + "/d1/d2", RelPath: "d1/d2", Name: "d2", EntryType: "dir"}
	if err := a.Run(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(e.dest, "d1", "d2")); err != nil || !fi.IsDir() {
		t.Fatalf("local directory: %v", err)
	}
	// A file entry that is a directory remotely now is not downloaded: the
	// event was overtaken by the change of type.
	lie := fileEvent(e.root, "d1", event.Create)
	if err := a.Run(context.Background(), lie); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("remote directory as file: err = %v, want ErrSuperseded", err)
	}
}

func TestDownloadOnDelete(t *testing.T) {
	e := newDLEnv(t)
	local := filepath.Join(e.dest, "a", "gone.csv")
	put := func() {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(local, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put()
	keep := e.download(t, config.Action{OnDelete: "keep"})
	if keep.Handles(event.Delete) {
		t.Fatal("on_delete keep handles delete by default")
	}
	if err := keep.Run(context.Background(), fileEvent(e.root, "a/gone.csv", event.Delete)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(local); err != nil {
		t.Fatalf("keep removed the local copy: %v", err)
	}

	rm := e.download(t, config.Action{OnDelete: "remove"})
	if !rm.Handles(event.Delete) {
		t.Fatal("on_delete remove does not handle delete")
	}
	ev := fileEvent(e.root, "a/gone.csv", event.Delete)
	if err := rm.Run(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(local); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("local copy not removed: %v", err)
	}
	if ev.LocalPath != local {
		t.Fatalf("LocalPath = %q", ev.LocalPath)
	}
	if err := rm.Run(context.Background(), ev); err != nil {
		t.Fatalf("removing a missing local copy: %v", err)
	}
}

func TestDownloadRename(t *testing.T) {
	e := newDLEnv(t)
	remoteFile(t, e.root, "new/name.csv", []byte("moved"))
	oldLocal := filepath.Join(e.dest, "old", "name.csv")
	if err := os.MkdirAll(filepath.Dir(oldLocal), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(oldLocal, []byte("moved"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := e.download(t, config.Action{OnDelete: "remove"})
	ev := fileEvent(e.root, "new/name.csv", event.Rename)
	ev.OldPath = e.root + "/old/name.csv" // OldRelPath derived from the watch root
	if err := a.Run(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(e.dest, "new", "name.csv")); string(got) != "moved" {
		t.Fatalf("new path content %q", got)
	}
	if _, err := os.Stat(oldLocal); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("old local copy kept: %v", err)
	}
}

func TestDownloadRefusesEscapingRelPath(t *testing.T) {
	e := newDLEnv(t)
	for _, rel := range []string{"../evil", "../../evil", "/etc/evil", "a/../../evil", "a/../b", "..", "",
		".", "a//b", "a/./b", "a/", "x\x00y"} {
		for _, typ := range []event.Type{event.Create, event.Delete} {
			for _, flatten := range []bool{false, true} {
				before := listDir(t, e.base)
				var calls atomic.Int32
				e.remote = countingRemote{Remote: e.remote, n: &calls}
				a := e.download(t, config.Action{Flatten: flatten, OnDelete: "remove"})
				ev := fileEvent(e.root, rel, typ)
				ev.Path = "/etc/passwd"
				err := a.Run(context.Background(), ev)
				if !IsPermanent(err) {
					t.Fatalf("rel_path %q %s: err = %v, want permanent", rel, typ, err)
				}
				if !strings.Contains(err.Error(), e.dest) {
					t.Errorf("error does not name dest: %v", err)
				}
				if calls.Load() != 0 {
					t.Errorf("rel_path %q: remote was used", rel)
				}
				if after := listDir(t, e.base); !slices.Equal(before, after) {
					t.Fatalf("rel_path %q: files changed: %v -> %v", rel, before, after)
				}
			}
		}
	}
}

// countingRemote counts Lstat and GetTo calls.
type countingRemote struct {
	Remote
	n *atomic.Int32
}

func (c countingRemote) Lstat(ctx context.Context, p string) (os.FileInfo, error) {
	c.n.Add(1)
	return c.Remote.Lstat(ctx, p)
}

func (c countingRemote) GetTo(ctx context.Context, p string, w io.Writer, f func(int64)) (int64, error) {
	c.n.Add(1)
	return c.Remote.GetTo(ctx, p, w, f)
}

func TestDownloadRefusesSymlinkOutOfDest(t *testing.T) {
	e := newDLEnv(t)
	outside := filepath.Join(e.base, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(outside, "victim.csv")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.dest, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(e.dest, "abs")); err != nil { // absolute
		t.Fatal(err)
	}
	if err := os.Symlink("../outside", filepath.Join(e.dest, "rel")); err != nil { // relative
		t.Fatal(err)
	}
	for _, dir := range []string{"abs", "rel"} {
		remoteFile(t, e.root, dir+"/new.csv", []byte("payload"))
		remoteFile(t, e.root, dir+"/victim.csv", []byte("payload"))
		remoteFile(t, e.root, dir+"/sub/new.csv", []byte("payload"))
	}
	a := e.download(t, config.Action{OnDelete: "remove"})
	for _, rel := range []string{"abs/new.csv", "rel/new.csv", "abs/victim.csv", "rel/victim.csv", "abs/sub/new.csv"} {
		for _, typ := range []event.Type{event.Create, event.Delete} {
			err := a.Run(context.Background(), fileEvent(e.root, rel, typ))
			if !IsPermanent(err) {
				t.Fatalf("%s %q through a symlink out of dest: err = %v, want permanent", typ, rel, err)
			}
			if !strings.Contains(err.Error(), rel) || !strings.Contains(err.Error(), e.dest) {
				t.Errorf("error does not name rel_path and dest: %v", err)
			}
		}
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Fatalf("files written outside dest: %v", ents)
	}
	if got, _ := os.ReadFile(victim); string(got) != "precious" {
		t.Fatalf("victim changed: %q", got)
	}

	// A symlink as the final name is replaced, not written through.
	if err := os.Symlink(victim, filepath.Join(e.dest, "link.csv")); err != nil {
		t.Fatal(err)
	}
	remoteFile(t, e.root, "link.csv", []byte("payload"))
	if err := a.Run(context.Background(), fileEvent(e.root, "link.csv", event.Create)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(victim); string(got) != "precious" {
		t.Fatalf("victim written through a symlink: %q", got)
	}
	if fi, _ := os.Lstat(filepath.Join(e.dest, "link.csv")); !fi.Mode().IsRegular() {
		t.Fatalf("final name is %s, want a regular file", fi.Mode())
	}
}

func TestDownloadRefusesRemoteSymlinkAndGoneFile(t *testing.T) {
	e := newDLEnv(t)
	if err := os.Symlink("/etc/passwd", filepath.Join(e.root, "passwd.csv")); err != nil {
		t.Fatal(err)
	}
	a := e.download(t, config.Action{})
	err := a.Run(context.Background(), fileEvent(e.root, "passwd.csv", event.Create))
	if !IsPermanent(err) {
		t.Fatalf("remote symlink: err = %v, want permanent", err)
	}
	if ents, _ := os.ReadDir(e.dest); len(ents) != 0 {
		t.Fatalf("something was written: %v", ents)
	}
	err = a.Run(context.Background(), fileEvent(e.root, "never-was.csv", event.Create))
	if !errors.Is(err, ErrSuperseded) || IsPermanent(err) {
		t.Fatalf("gone remote file: err = %v, want ErrSuperseded", err)
	}
}
