package sftpconn

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMakeDirsRefusedSetstat: on a server that refuses every SETSTAT,
// MakeDirs creates the whole path and reports the refused chmod as an
// ErrAttrsNotSet warning that does not read as a refused creation; a mode
// the server gave anyway is no warning at all.
func TestMakeDirsRefusedSetstat(t *testing.T) {
	r := inProcessFS(t)
	ctx := context.Background()
	r.Srv.RefuseSetstat(fs.ErrPermission)

	err := r.C.MakeDirs(ctx, "/a/b/c", 0o700)
	if !errors.Is(err, ErrAttrsNotSet) || errors.Is(err, fs.ErrPermission) {
		t.Fatalf("MakeDirs: %v; want an ErrAttrsNotSet warning, not a permission error", err)
	}
	for _, want := range []string{`"/a/b/c"`, "chmod", "0700", "permission denied"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("warning does not say %q: %v", want, err)
		}
	}
	if fi, serr := os.Stat(r.local("a/b/c")); serr != nil || !fi.IsDir() {
		t.Fatalf("a/b/c not created: %v", serr)
	}
	// The server creates directories 0755: asking for that is no warning.
	if err := r.C.MakeDirs(ctx, "/x/y", 0o755); err != nil {
		t.Errorf("MakeDirs with the server's own mode: %v", err)
	}
	if err := r.C.Mkdir(ctx, "/m", 0o700); !errors.Is(err, ErrAttrsNotSet) {
		t.Errorf("Mkdir: %v, want ErrAttrsNotSet", err)
	}
	if _, err := os.Stat(r.local("m")); err != nil {
		t.Errorf("Mkdir did not create: %v", err)
	}

	// Put with PreserveMtime: the file is uploaded, the refused times are
	// a warning, and the attributes are returned with it.
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := r.C.Put(ctx, src, "/a/f", PutOptions{PreserveMtime: true})
	if !errors.Is(err, ErrAttrsNotSet) || fi == nil || fi.Size() != 4 {
		t.Errorf("Put: %v %v, want the attributes and ErrAttrsNotSet", fi, err)
	}
	// PutTree goes on past refused attributes and reports the first.
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, "d1", "d2"), 0o700)
	os.WriteFile(filepath.Join(tree, "d1", "d2", "g"), []byte("g"), 0o644)
	if err := r.C.PutTree(ctx, tree, "/tree", PutOptions{PreserveMtime: true}); !errors.Is(err, ErrAttrsNotSet) {
		t.Errorf("PutTree: %v, want ErrAttrsNotSet", err)
	}
	if b, err := os.ReadFile(r.local("tree/d1/d2/g")); err != nil || string(b) != "g" {
		t.Errorf("PutTree did not upload everything: %q %v", b, err)
	}

	// Served again: the mode is set, no warning.
	r.Srv.RefuseSetstat(nil)
	if err := r.C.MakeDirs(ctx, "/s/t", 0o700); err != nil {
		t.Fatalf("MakeDirs with SETSTAT served: %v", err)
	}
	if fi, err := os.Stat(r.local("s/t")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("s/t: %v %v, want mode 0700", fi, err)
	}
}

// TestMakeDirsConcurrent: concurrent MakeDirs of the same path (the moves
// of several events into one new directory), with SETSTAT refused or not,
// all succeed — whichever created a directory first; none fails because
// another one got there between its stat and its mkdir.
func TestMakeDirsConcurrent(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		s, root := startInProcess(t)
		if refuse {
			s.RefuseSetstat(fs.ErrPermission)
		}
		s.SetLatency(2 * time.Millisecond) // widen the window between stat and mkdir
		const n = 8
		clients := make([]*Client, n)
		for i := range clients {
			clients[i] = dialInProcess(t, s)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.MakeDirs(context.Background(), "/done/2026/12/02", 0o700)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil && (!refuse || !errors.Is(err, ErrAttrsNotSet)) {
				t.Errorf("refuse=%v: MakeDirs %d: %v", refuse, i, err)
			}
		}
		if fi, err := os.Stat(filepath.Join(root, "done/2026/12/02")); err != nil || !fi.IsDir() {
			t.Errorf("refuse=%v: not created: %v", refuse, err)
		}
	}
}
