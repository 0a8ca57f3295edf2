package sftpconn

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/pkg/sftp"
)

var eof = io.EOF

// hostileNames must survive every operation unchanged and never be
// interpreted by anything.
var hostileNames = []string{
	"with space",
	"new\nline",
	"$(touch PWNED)",
	"`touch PWNED`; rm -rf x",
	"ünïcödé ✓ 日本",
	"-leading-dash",
	"tab\there",
	"back\\slash",
	"'quotes\"",
	"..dots..",
}

// caseDir makes a fresh directory for one subtest on server r and returns
// its remote path and local path.
func caseDir(t *testing.T, r remoteFS) (remote, local string) {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	local = r.local(name)
	if err := os.MkdirAll(local, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(local) })
	return r.remote(name), local
}

func writeLocal(t *testing.T, p string, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func assertNoPWNED(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.Name() == "PWNED" {
				t.Errorf("a hostile name was executed: %s exists", p)
			}
			return nil
		})
	}
}

// TestFileAPI runs the whole file API against the embedded server and a real
// OpenSSH sshd.
func TestFileAPI(t *testing.T) {
	for _, r := range servers(t) {
		t.Run(r.Name, func(t *testing.T) {
			t.Run("StatFamily", func(t *testing.T) { testStatFamily(t, r) })
			t.Run("ListDir", func(t *testing.T) { testListDir(t, r) })
			t.Run("MakeDirs", func(t *testing.T) { testMakeDirs(t, r) })
			t.Run("MkdirRmdirRemove", func(t *testing.T) { testMkdirRmdirRemove(t, r) })
			t.Run("RenameReplaces", func(t *testing.T) { testRename(t, r) })
			t.Run("Attributes", func(t *testing.T) { testAttributes(t, r) })
			t.Run("Links", func(t *testing.T) { testLinks(t, r) })
			t.Run("WorkingDir", func(t *testing.T) { testWorkingDir(t, r) })
			t.Run("Transfer", func(t *testing.T) { testTransfer(t, r) })
			t.Run("TransferTrees", func(t *testing.T) { testTransferTrees(t, r) })
			t.Run("HostileNames", func(t *testing.T) { testHostileNames(t, r) })
			t.Run("Cancel", func(t *testing.T) { testCancel(t, r) })
		})
	}
}

func testStatFamily(t *testing.T, r remoteFS) {
	ctx := context.Background()
	rd, ld := caseDir(t, r)
	writeLocal(t, filepath.Join(ld, "f"), "hello")
	os.Mkdir(filepath.Join(ld, "d"), 0o755)
	os.Symlink("missing-target", filepath.Join(ld, "dangling"))
	c := r.C

	fi, err := c.Stat(ctx, rd+"/f")
	if err != nil || fi.Size() != 5 || !fi.Mode().IsRegular() || fi.Name() != "f" {
		t.Fatalf("Stat f = %v, %v", fi, err)
	}
	if _, err := c.Stat(ctx, rd+"/nope"); !errors.Is(err, fs.ErrNotExist) || !IsNotExist(err) {
		t.Fatalf("Stat missing: %v, want fs.ErrNotExist", err)
	} else if !strings.Contains(err.Error(), "stat ") || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("error does not name op and path: %v", err)
	}
	if _, err := c.Lstat(ctx, rd+"/nope"); !IsNotExist(err) {
		t.Fatalf("Lstat missing: %v", err)
	}
	if li, err := c.Lstat(ctx, rd+"/dangling"); err != nil || li.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("Lstat dangling = %v, %v", li, err)
	}
	checks := []struct {
		name string
		f    func(context.Context, string) (bool, error)
		p    string
		want bool
	}{
		{"Exists file", c.Exists, "f", true},
		{"Exists missing", c.Exists, "nope", false},
		{"Exists dangling", c.Exists, "dangling", false},
		{"Lexists dangling", c.Lexists, "dangling", true},
		{"Lexists missing", c.Lexists, "nope", false},
		{"IsDir dir", c.IsDir, "d", true},
		{"IsDir file", c.IsDir, "f", false},
		{"IsDir missing", c.IsDir, "nope", false},
		{"IsFile file", c.IsFile, "f", true},
		{"IsFile dir", c.IsFile, "d", false},
		{"IsFile missing", c.IsFile, "nope", false},
	}
	for _, ck := range checks {
		got, err := ck.f(ctx, rd+"/"+ck.p)
		if err != nil || got != ck.want {
			t.Errorf("%s = %v, %v; want %v", ck.name, got, err, ck.want)
		}
	}
}

func testListDir(t *testing.T, r remoteFS) {
	ctx := context.Background()
	rd, ld := caseDir(t, r)
	for _, n := range []string{"c", "a", "b b", "B"} {
		writeLocal(t, filepath.Join(ld, n), n)
	}
	os.Mkdir(filepath.Join(ld, "sub"), 0o755)
	names, err := r.C.ListDir(ctx, rd)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"B", "a", "b b", "c", "sub"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("ListDir = %q, want %q", names, want)
	}
	infos, err := r.C.ReadDir(ctx, rd)
	if err != nil || len(infos) != 5 {
		t.Fatalf("ReadDir = %v, %v", infos, err)
	}
	if infos[0].Name() != "B" || infos[0].Size() != 1 || !infos[4].IsDir() {
		t.Fatalf("ReadDir attributes: %v %d %v", infos[0].Name(), infos[0].Size(), infos[4].Mode())
	}
	if _, err := r.C.ListDir(ctx, rd+"/missing"); !IsNotExist(err) {
		t.Fatalf("ListDir missing: %v", err)
	}
}

func testMakeDirs(t *testing.T, r remoteFS) {
	ctx := context.Background()
	rd, ld := caseDir(t, r)
	c := r.C
	if err := c.MakeDirs(ctx, rd+"/a/b/c", 0o750); err != nil {
		t.Fatalf("MakeDirs: %v", err)
	}
	for _, p := range []string{"a", "a/b", "a/b/c"} {
		st, err := os.Stat(filepath.Join(ld, p))
		if err != nil || !st.IsDir() || st.Mode().Perm() != 0o750 {
			t.Fatalf("%s: %v %v", p, st, err)
		}
	}
	if err := c.MakeDirs(ctx, rd+"/a/b/c", 0o750); err != nil {
		t.Fatalf("MakeDirs again (idempotent): %v", err)
	}
	if err := c.MakeDirs(ctx, rd+"/a", 0); err != nil {
		t.Fatalf("MakeDirs existing parent: %v", err)
	}
	writeLocal(t, filepath.Join(ld, "a", "file"), "x")
	err := c.MakeDirs(ctx, rd+"/a/file/deeper/still", 0o755)
	if !errors.Is(err, ErrNotDir) {
		t.Fatalf("MakeDirs through a file: %v, want ErrNotDir", err)
	}
	if !strings.Contains(err.Error(), rd+"/a/file\"") {
		t.Fatalf("error does not name the file in the way: %v", err)
	}
	if err := c.MakeDirs(ctx, rd+"/a/file", 0o755); !errors.Is(err, ErrNotDir) {
		t.Fatalf("MakeDirs onto a file: %v, want ErrNotDir", err)
	}
}

func testMkdirRmdirRemove(t *testing.T, r remoteFS) {
	ctx := context.Background()
	rd, ld := caseDir(t, r)
	c := r.C
	if err := c.Mkdir(ctx, rd+"/m", 0o700); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(ld, "m")); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("mkdir mode: %v %v", st, err)
	}
	if err := c.Mkdir(ctx, rd+"/m", 0o700); err == nil {
		t.Fatal("Mkdir of an existing dir succeeded")
	}
	if err := c.Remove(ctx, rd+"/m"); !errors.Is(err, ErrIsDir) {
		t.Fatalf("Remove dir: %v, want ErrIsDir", err)
	}
	if err := c.Rmdir(ctx, rd+"/m"); err != nil {
		t.Fatal(err)
	}
	writeLocal(t, filepath.Join(ld, "f"), "x")
	if err := c.Rmdir(ctx, rd+"/f"); err == nil {
		t.Fatal("Rmdir of a file succeeded")
	}
	if err := c.Remove(ctx, rd+"/f"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ld, "f")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file still there: %v", err)
	}
	if err := c.Remove(ctx, rd+"/f"); !IsNotExist(err) {
		t.Fatalf("Remove missing: %v", err)
	}
}

func testRename(t *testing.T, r remoteFS) {
	ctx := context.Background()
	rd, ld := caseDir(t, r)
	writeLocal(t, filepath.Join(ld, "src"), "new")
	writeLocal(t, filepath.Join(ld, "dst"), "old")
	if err := r.C.Rename(ctx, rd+"/src", rd+"/dst"); err != nil {
		t.Fatalf("Rename over an existing file (posix-rename): %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(ld, "dst")); string(b) != "new" {
		t.Fatalf("dst = %q", b)
	}
	if err := r.C.Rename(ctx, rd+"/src", rd+"/x"); !IsNotExist(err) {
		t.Fatalf("Rename missing: %v", err)
	}
}

func testAttributes(t *testing.T, r remoteFS) {
	ctx := context.Background()
	rd, ld := caseDir(t, r)
	writeLocal(t, filepath.Join(ld, "f"), "0123456789")
	c := r.C
	if err := c.Chmod(ctx, rd+"/f", 0o640); err != nil {
		t.Fatal(err)
	}
	if err := c.Truncate(ctx, rd+"/f", 4); err != nil {
		t.Fatal(err)
	}
	fi, err := c.Stat(ctx, rd+"/f")
	if err != nil || fi.Mode().Perm() != 0o640 || fi.Size() != 4 {
		t.Fatalf("after chmod/truncate: %v %v", fi, err)
	}
	if ModeToInt(fi.Mode()) != 640 {
		t.Fatalf("ModeToInt = %d", ModeToInt(fi.Mode()))
	}
	st, ok := fi.Sys().(*sftp.FileStat)
	if !ok {
		t.Fatalf("Sys() = %T", fi.Sys())
	}
	if err := c.Chown(ctx, rd+"/f", int(st.UID), int(st.GID)); err != nil {
		t.Fatalf("Chown to the current owner: %v", err)
	}
	if os.Geteuid() == 0 {
		if err := c.Chown(ctx, rd+"/f", 4242, 4343); err != nil {
			t.Fatalf("Chown as root: %v", err)
		}
		lst, _ := os.Stat(filepath.Join(ld, "f"))
		if sys := lst.Sys().(*syscall.Stat_t); sys.Uid != 4242 || sys.Gid != 4343 {
			t.Fatalf("owner = %d:%d", sys.Uid, sys.Gid)
		}
	}
	if err := c.Chmod(ctx, rd+"/missing", 0o600); !IsNotExist(err) {
		t.Fatalf("Chmod missing: %v", err)
	}
}

func testLinks(t *testing.T, r remoteFS) {
	ctx := context.Background()
	rd, ld := caseDir(t, r)
	os.Mkdir(filepath.Join(ld, "target"), 0o755)
	c := r.C
	if err := c.Symlink(ctx, "target", rd+"/link"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(filepath.Join(ld, "link")); err != nil || got != "target" {
		t.Fatalf("link on disk = %q, %v", got, err)
	}
	if got, err := c.Readlink(ctx, rd+"/link"); err != nil || got != "target" {
		t.Fatalf("Readlink = %q, %v", got, err)
	}
	if got, err := c.Normalize(ctx, rd+"/link/../link/."); err != nil || got != rd+"/target" {
		t.Fatalf("Normalize = %q, %v; want %q", got, err, rd+"/target")
	}
	if err := c.Symlink(ctx, "other", rd+"/link"); err == nil {
		t.Fatal("Symlink over an existing path succeeded")
	}
}

func testWorkingDir(t *testing.T, r remoteFS) {
	ctx := context.Background()
	rd, ld := caseDir(t, r)
	writeLocal(t, filepath.Join(ld, "sub", "f"), "abc")
	// A fresh client, so the working directory does not leak into other tests.
	c := r.C
	prev := c.Getwd()
	t.Cleanup(func() {
		c.cwdMu.Lock()
		c.cwd = prev
		c.cwdMu.Unlock()
	})
	if err := c.Chdir(ctx, rd); err != nil {
		t.Fatal(err)
	}
	if c.Getwd() != rd {
		t.Fatalf("Getwd = %q, want %q", c.Getwd(), rd)
	}
	if err := c.Chdir(ctx, "sub"); err != nil {
		t.Fatal(err)
	}
	if c.Getwd() != rd+"/sub" {
		t.Fatalf("Getwd after relative Chdir = %q", c.Getwd())
	}
	if fi, err := c.Stat(ctx, "f"); err != nil || fi.Size() != 3 {
		t.Fatalf("relative Stat: %v %v", fi, err)
	}
	if names, err := c.ListDir(ctx, ""); err != nil || !reflect.DeepEqual(names, []string{"f"}) {
		t.Fatalf("ListDir of the working dir = %q, %v", names, err)
	}
	if err := c.Rename(ctx, "f", "../g"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ld, "g")); err != nil {
		t.Fatalf("relative rename target: %v", err)
	}
	if err := c.Chdir(ctx, rd+"/g"); !errors.Is(err, ErrNotDir) {
		t.Fatalf("Chdir to a file: %v, want ErrNotDir", err)
	}
	if err := c.Chdir(ctx, rd+"/missing"); !IsNotExist(err) {
		t.Fatalf("Chdir to a missing dir: %v", err)
	}
	if c.Getwd() != rd+"/sub" {
		t.Fatalf("a failed Chdir changed the working dir to %q", c.Getwd())
	}
}
