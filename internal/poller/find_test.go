package poller_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
	"github.com/sftpwatchd/sftpwatchd/internal/poller"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// sshdPool is a pool to a real OpenSSH sshd (which allows exec sessions).
func sshdPool(t testing.TB, s *sshdtest.Server) *sftpconn.Pool {
	t.Helper()
	p := sftpconn.NewPool(sftpconn.HostConfig{
		Name: "sshd", Address: s.Addr, User: s.User, Password: s.Password,
		PrivateKeyFile: s.ClientKeyFile, KnownHostsFile: s.KnownHostsFile, ConnectTimeout: 10 * time.Second,
	}, zap.NewNop(), nil)
	t.Cleanup(func() { p.Close() })
	return p
}

// hostileNames are names find must pass through intact.
var hostileNames = []string{weird, "sp ace", "it's", `dq"x`, "$(touch PWNED)", "`touch PWNED`", "back\\slash", "tab\tx", "ünï", "-n", "a\nb\n"}

// buildFindTree creates, under root: files with hostile names at two levels,
// an empty directory, a directory holding only an empty directory, symlinks
// (to a file, to a directory, dangling, with a hostile target), modes with
// setuid and sticky bits, a fifo, and a deep chain.
func buildFindTree(t *testing.T, root string) {
	t.Helper()
	mt := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(rel, content string, mode fs.FileMode) {
		p := filepath.Join(root, rel)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, []byte(content), 0o644))
		must(os.Chmod(p, mode))
		must(os.Chtimes(p, mt, mt))
	}
	for i, n := range hostileNames {
		write(n, n, 0o644)
		write("sub/"+n, n+n, 0o600)
		must(os.MkdirAll(filepath.Join(root, "hostile dirs", n, "in"), 0o755))
		write("hostile dirs/"+n+"/in/f", string(rune('a'+i)), 0o644)
	}
	write("sub/deep/deeper/deepest/e.csv", "eeee", 0o644)
	write("setuid", "x", 0o4755)
	must(os.MkdirAll(filepath.Join(root, "empty"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "only/empty"), 0o700))
	must(os.MkdirAll(filepath.Join(root, "sticky"), 0o755))
	must(os.Chmod(filepath.Join(root, "sticky"), 0o1777))
	must(os.Symlink("setuid", filepath.Join(root, "link-file")))
	must(os.Symlink("sub", filepath.Join(root, "link-dir")))
	must(os.Symlink("nowhere", filepath.Join(root, "dangling")))
	must(os.Symlink("../$(touch PWNED)\nx", filepath.Join(root, "sub/link hostile")))
	if err := sysMkfifo(filepath.Join(root, "sub/fifo")); err != nil {
		t.Logf("no fifo: %v", err)
	}
}

func findWatch(root string) config.Watch {
	w := baseWatch()
	w.Path = root
	w.Types = []string{"file", "dir", "symlink"}
	return w
}

// TestFindListerMatchesSFTP: the same tree, scanned through SFTP and
// through find, gives identical scans for every option the lister honours.
func TestFindListerMatchesSFTP(t *testing.T) {
	s := sshdtest.Start(t)
	pool := sshdPool(t, s)
	root := filepath.Join(s.Root, "tree")
	buildFindTree(t, root)
	sftpL, _ := poller.NewLister(config.ListerSFTP, pool, 8)
	findL, _ := poller.NewLister(config.ListerFind, pool, 8)
	if _, ok := findL.(poller.FindLister); !ok {
		t.Fatalf("NewLister(find) = %T", findL)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		edit func(*config.Watch)
	}{
		{"everything", func(*config.Watch) {}},
		{"max_depth 1", func(w *config.Watch) { w.MaxDepth = 1 }},
		{"max_depth 2", func(w *config.Watch) { w.MaxDepth = 2 }},
		{"max_depth 3", func(w *config.Watch) { w.MaxDepth = 3 }},
		{"recursive false", func(w *config.Watch) { w.Recursive = false }},
		{"recursive false, max_depth 3", func(w *config.Watch) { w.Recursive = false; w.MaxDepth = 3 }},
		{"exclude prunes", func(w *config.Watch) { w.Exclude = []string{"sub/deep", "hostile dirs/*"} }},
		{"exclude hostile", func(w *config.Watch) { w.Exclude = []string{"**/$(touch PWNED)"} }},
		{"include csv", func(w *config.Watch) { w.Include = []string{"**/*.csv"}; w.Types = []string{"file"} }},
		{"types dir", func(w *config.Watch) { w.Types = []string{"dir"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := findWatch(root)
			tc.edit(&w)
			want, err := poller.Scan(ctx, sftpL, w, nil)
			if err != nil {
				t.Fatalf("sftp scan: %v", err)
			}
			got, err := poller.Scan(ctx, findL, w, nil)
			if err != nil {
				t.Fatalf("find scan: %v", err)
			}
			if len(want.Scan.Entries) == 0 {
				t.Fatal("the sftp scan saw nothing: the comparison would prove nothing")
			}
			if !reflect.DeepEqual(got.Scan, want.Scan) {
				for rel, e := range want.Scan.Entries {
					if g, ok := got.Scan.Entries[rel]; !ok || g != e {
						t.Errorf("%q: find %+v (present %v), sftp %+v", rel, g, ok, e)
					}
				}
				for rel := range got.Scan.Entries {
					if _, ok := want.Scan.Entries[rel]; !ok {
						t.Errorf("%q: only find saw it", rel)
					}
				}
				t.Fatalf("scans differ (find %d entries, sftp %d)", len(got.Scan.Entries), len(want.Scan.Entries))
			}
			if got.Result != poller.ResultOK || got.Dirs != want.Dirs {
				t.Errorf("find: result %s, %d dirs; sftp: %s, %d dirs", got.Result, got.Dirs, want.Result, want.Dirs)
			}
		})
	}
	assertNoPWNEDUnder(t, s.Root)
}

// TestFindListerPermissionDenied: logged in as an unprivileged user, a
// directory made unreadable makes the find scan partial with exactly that
// directory failed, and its stored entries are kept (no false delete).
func TestFindListerPermissionDenied(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.WithPassword())
	pool := sshdPool(t, s)
	root := filepath.Join(s.Root, "tree")
	for _, rel := range []string{"top", "ok/a", "ok/b", "locked/c", "locked/inner/d", "it's\nlocked/e"} {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w := findWatch(root)
	w.Types = []string{"file"}
	w.Lister = config.ListerFind
	store := openStore(t)
	lister, err := poller.NewLister(w.Lister, pool, 8)
	if err != nil {
		t.Fatal(err)
	}
	p := poller.New(poller.Options{Watch: w, Lister: lister, Store: poller.StateStore{Store: store},
		Metrics: metrics.New(prometheus.NewRegistry(), "test"), Notify: func() {}})
	ctx := context.Background()
	scan := func(result string, wantEvents ...string) poller.Outcome {
		t.Helper()
		out, err := p.ScanOnce(ctx, false)
		if err != nil {
			t.Fatalf("ScanOnce: %v", err)
		}
		if out.Result != result {
			t.Fatalf("Result = %q (%v), want %q", out.Result, out.Err, result)
		}
		if got := eventKeys(out.Events); !slices.Equal(got, wantEvents) && (len(got)+len(wantEvents) > 0) {
			t.Fatalf("events %q, want %q", got, wantEvents)
		}
		return out
	}
	scan(poller.ResultOK)

	os.Remove(filepath.Join(root, "ok/a"))
	os.Remove(filepath.Join(root, "locked/c"))
	for _, d := range []string{"locked", "it's\nlocked"} {
		if err := os.Chmod(filepath.Join(root, d), 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(filepath.Join(root, d), 0o755) })
	}
	out := scan(poller.ResultPartial, "delete ok/a")
	var dirs []string
	for _, d := range out.DirErrors {
		dirs = append(dirs, d.Dir)
		if !errors.Is(d.Err, fs.ErrPermission) {
			t.Errorf("%q: %v, want permission denied", d.Dir, d.Err)
		}
	}
	slices.Sort(dirs)
	if want := []string{"it's\nlocked", "locked"}; !slices.Equal(dirs, want) {
		t.Errorf("failed dirs %q, want %q", dirs, want)
	}
	st, err := store.Load(w.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sortedKeys(st.Snapshot), []string{"it's\nlocked/e", "locked/c", "locked/inner/d", "ok/b", "top"}; !slices.Equal(got, want) {
		t.Errorf("snapshot after the partial scan %q, want %q", got, want)
	}

	// The root itself unreadable: an error scan, nothing committed.
	if err := os.Chmod(root, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(root, 0o755) })
	out = scan(poller.ResultError)
	if !errors.Is(out.Err, fs.ErrPermission) {
		t.Errorf("root error %v, want permission denied", out.Err)
	}
}

func sysMkfifo(p string) error { return syscall.Mkfifo(p, 0o644) }

// assertNoPWNEDUnder fails if a hostile name was executed anywhere under dir.
func assertNoPWNEDUnder(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Name() == "PWNED" {
			t.Errorf("a hostile name was executed: %s exists", p)
		}
		return nil
	})
}
