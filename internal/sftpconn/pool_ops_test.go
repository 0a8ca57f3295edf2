package sftpconn

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpserver"
)

var _ Doer = (*Pool)(nil)

func inProcessPool(t *testing.T, s *sftpserver.Server) *Pool {
	t.Helper()
	p := NewPool(HostConfig{
		Name: "inprocess", Address: s.Addr(), User: fxUser, Password: fxPass,
		HostKeyFingerprint: s.Fingerprint(), MaxConnections: 2,
	}, zap.NewNop(), nil)
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPoolOps(t *testing.T) {
	s, root := startInProcess(t)
	p := inProcessPool(t, s)
	ctx := context.Background()
	writeLocal(t, filepath.Join(root, "in", "f"), "payload")

	if fi, err := p.Stat(ctx, "/in/f"); err != nil || fi.Size() != 7 {
		t.Fatalf("Stat: %v %v", fi, err)
	}
	if fi, err := p.Lstat(ctx, "/in"); err != nil || !fi.IsDir() {
		t.Fatalf("Lstat: %v %v", fi, err)
	}
	if infos, err := p.ReadDir(ctx, "/in"); err != nil || len(infos) != 1 || infos[0].Name() != "f" {
		t.Fatalf("ReadDir: %v %v", infos, err)
	}
	var buf bytes.Buffer
	if n, err := p.GetTo(ctx, "/in/f", &buf, nil); err != nil || n != 7 || buf.String() != "payload" {
		t.Fatalf("GetTo: %d %q %v", n, buf.String(), err)
	}
	if err := p.MakeDirs(ctx, "/done/2024", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := p.Rename(ctx, "/in/f", "/done/2024/f"); err != nil {
		t.Fatal(err)
	}
	if ok, err := p.Exists(ctx, "/done/2024/f"); err != nil || !ok {
		t.Fatalf("Exists after rename: %v %v", ok, err)
	}
	if err := p.Remove(ctx, "/done/2024/f"); err != nil {
		t.Fatal(err)
	}
	if ok, err := p.Exists(ctx, "/done/2024/f"); err != nil || ok {
		t.Fatalf("Exists after remove: %v %v", ok, err)
	}
	if _, err := p.Stat(ctx, "/done/2024/f"); !IsNotExist(err) || IsConnectionError(err) {
		t.Fatalf("Stat missing through the pool: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "done", "2024")); err != nil {
		t.Fatal(err)
	}
}

// TestWalkPoolDrop walks through a Pool while the connection is cut: the
// directories in flight at the cut fail, the pool dials again, and every
// directory is still complete and correct or reported with Err.
func TestWalkPoolDrop(t *testing.T) {
	s, root := startInProcess(t)
	buildTree(t, root, 4, 2, 3)
	p := inProcessPool(t, s)
	if _, err := p.Stat(context.Background(), "/"); err != nil { // connect first
		t.Fatal(err)
	}
	s.DropAfter(30)
	col, err := walkAll(t, p, "/", WalkOptions{Recursive: true, Concurrency: 4})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	failed := 0
	for _, l := range col.listings {
		if l.Err != nil {
			failed++
			if !IsConnectionError(l.Err) {
				t.Errorf("%q failed with a non-connection error: %v", l.Dir, l.Err)
			}
			continue
		}
		checkListing(t, root, l)
	}
	if failed == 0 || failed >= len(col.listings)-1 {
		t.Fatalf("%d of %d listings failed: want some, and recovery through a new connection after", failed, len(col.listings))
	}
}
