package actions

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpserver"
)

// TestMoveRefusedSetstat: on a server that refuses every SETSTAT, moves
// of several events into one new destination directory, concurrently,
// all succeed — whichever of them created the directory (and failed to
// set its mode) — instead of the creator failing permanently.
func TestMoveRefusedSetstat(t *testing.T) {
	root := t.TempDir()
	srv, err := sftpserver.Start(sftpserver.Options{Root: root, User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.RefuseSetstat(fs.ErrPermission)
	pool := sftpconn.NewPool(sftpconn.HostConfig{
		Name: "h", Address: srv.Addr(), User: "u", Password: "p",
		HostKeyFingerprint: srv.Fingerprint(), ConnectTimeout: 5 * time.Second,
	}, nil, nil)
	defer pool.Close()

	// The watch root is "/" of the server; it is root locally.
	a, err := New(config.Action{Type: "move", To: "/.done"}, Deps{Watch: "w", Host: "h", Root: "/", Remote: pool, Self: &selfMarks{}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		rel := filepath.Join("in", "f"+string(rune('a'+i))+".csv")
		remoteFile(t, root, rel, []byte("x"))
		ev := fileEvent(root, rel, event.Create) // the file's size and mtime, as the poller reports them
		ev.Path = "/" + rel                      // as the server names it
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.Run(context.Background(), ev)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("move %d: %v", i, err)
		}
	}
	ents, err := os.ReadDir(filepath.Join(root, ".done", "in"))
	if err != nil || len(ents) != n {
		t.Fatalf("moved: %d entries, %v; want %d", len(ents), err, n)
	}
}
