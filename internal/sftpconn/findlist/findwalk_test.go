package findlist

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// collect runs Walk and returns the listings fn was given.
func collectFind(t *testing.T, d sftpconn.Doer, root string, opt sftpconn.WalkOptions) ([]sftpconn.DirListing, error) {
	t.Helper()
	var got []sftpconn.DirListing
	err := Walk(context.Background(), d, root, opt, func(l sftpconn.DirListing) error {
		got = append(got, l)
		return nil
	})
	return got, err
}

func TestFindWalkNeedsExec(t *testing.T) {
	r := inProcessFS(t)
	os.Mkdir(r.local("d"), 0o755)
	got, err := collectFind(t, r.C, "/d", sftpconn.WalkOptions{Recursive: true})
	if err == nil || len(got) != 0 {
		t.Fatalf("Walk on a server without exec: listings %v, err %v", got, err)
	}
	if !strings.Contains(err.Error(), "lister: find needs a server that runs commands") {
		t.Errorf("error on the embedded server does not say what is needed: %v", err)
	}

	if _, err := collectFind(t, r.C, "/d", sftpconn.WalkOptions{Recursive: true, FollowSymlinks: true}); !errors.Is(err, ErrFollow) {
		t.Errorf("FollowSymlinks: %v, want ErrFollow", err)
	}
	if _, err := collectFind(t, r.C, "rel", sftpconn.WalkOptions{Recursive: true}); err == nil {
		t.Error("relative root accepted")
	}
}

func TestFindWalkOpenSSHRoots(t *testing.T) {
	r := sshdFS(t)
	os.WriteFile(r.local("file"), []byte("x"), 0o644)
	os.Mkdir(r.local("dir"), 0o755)
	os.Symlink("dir", r.local("link"))

	// A missing root: fn hears of it, Walk fails with fs.ErrNotExist.
	got, err := collectFind(t, r.C, r.remote("missing"), sftpconn.WalkOptions{Recursive: true})
	if !errors.Is(err, fs.ErrNotExist) || len(got) != 1 || got[0].Dir != "" || !errors.Is(got[0].Err, fs.ErrNotExist) {
		t.Errorf("missing root: %v %v", got, err)
	}
	// A file is not a directory to list.
	if got, err := collectFind(t, r.C, r.remote("file"), sftpconn.WalkOptions{Recursive: true}); err == nil || len(got) != 0 {
		t.Errorf("file root: %v %v", got, err)
	}
	// A root that is a link to a directory is listed through it, as SFTP does.
	os.WriteFile(r.local("dir/in"), []byte("x"), 0o644)
	got, err = collectFind(t, r.C, r.remote("link"), sftpconn.WalkOptions{Recursive: true})
	if err != nil || len(got) != 1 || len(got[0].Entries) != 1 || got[0].Entries[0].Name != "in" {
		t.Errorf("link root: %+v %v", got, err)
	}
	// Hostile roots that exist are listed, and nothing runs.
	for _, name := range []string{"it's", "$(touch PWNED)", "a\nb", "back\\slash", "`touch PWNED`"} {
		os.Mkdir(r.local(name), 0o755)
		os.WriteFile(filepath.Join(r.local(name), "f"), []byte("x"), 0o644)
		got, err := collectFind(t, r.C, r.remote(name), sftpconn.WalkOptions{Recursive: true})
		if err != nil || len(got) != 1 || len(got[0].Entries) != 1 {
			t.Errorf("root %q: %+v %v", name, got, err)
		}
	}
	assertNoPWNED(t, r.Local)
}

// TestFindWalkBrokenConnection: a walk whose connection is cut fails and
// hands nothing to fn. The proxy stays frozen until the walk returns, so the
// outcome is the same whichever comes first: the cut kills the running
// command, or (if the walk had not started yet) its redial times out. With
// the proxy thawed, a walk starting after the cut would rightly succeed on a
// new connection, which made an earlier version of this test flaky.
func TestFindWalkBrokenConnection(t *testing.T) {
	s := sshdtest.Start(t)
	px := sshdtest.NewProxy(t, s.Addr)
	os.MkdirAll(filepath.Join(s.Root, "tree", "a"), 0o755)
	pool := sftpconn.NewPool(sftpconn.HostConfig{
		Name: "h", Address: px.Addr, User: s.User, PrivateKeyFile: s.ClientKeyFile,
		HostKeyFingerprint: s.HostKeyFingerprint, ConnectTimeout: 2 * time.Second,
	}, zap.NewNop(), nil)
	defer pool.Close()
	ctx := context.Background()
	if err := pool.Do(ctx, func(c *sftpconn.Client) error { return nil }); err != nil {
		t.Fatalf("connect: %v\n%s", err, s.Log())
	}
	px.Freeze()
	done := make(chan error, 1)
	var calls int
	go func() {
		done <- Walk(ctx, pool, filepath.Join(s.Root, "tree"), sftpconn.WalkOptions{Recursive: true}, func(sftpconn.DirListing) error {
			calls++
			return nil
		})
	}()
	px.CloseConns()
	defer px.Thaw()
	select {
	case err := <-done:
		if err == nil || calls != 0 {
			t.Fatalf("Walk over a cut connection: err %v, %d listings", err, calls)
		}
		if !sftpconn.IsConnectionError(err) {
			t.Logf("error (not classified as a connection error): %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Walk did not return after the connection was cut")
	}
}

// TestFindWalkCutMidStream: listings are handed over while find runs, so a
// connection lost after some of them must still fail the walk: a caller
// acting only on a nil return (the poller) never takes the part for the
// whole.
func TestFindWalkCutMidStream(t *testing.T) {
	s := sshdtest.Start(t)
	px := sshdtest.NewProxy(t, s.Addr)
	root := filepath.Join(s.Root, "tree")
	for d := range 400 {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range 20 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("a-long-file-name-to-fill-the-stream-%04d", f)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	pool := sftpconn.NewPool(sftpconn.HostConfig{
		Name: "h", Address: px.Addr, User: s.User, PrivateKeyFile: s.ClientKeyFile,
		HostKeyFingerprint: s.HostKeyFingerprint, ConnectTimeout: 2 * time.Second,
	}, zap.NewNop(), nil)
	defer pool.Close()
	var listings int
	err := Walk(context.Background(), pool, root, sftpconn.WalkOptions{Recursive: true}, func(l sftpconn.DirListing) error {
		listings++
		if listings == 1 {
			px.Freeze() // nothing more reaches us...
			px.CloseConns()
		}
		return nil
	})
	px.Thaw()
	if listings == 0 {
		t.Fatal("no listing was handed over before the end of the run: the test proves nothing")
	}
	if err == nil {
		t.Fatalf("Walk returned nil after the connection was cut (%d listings handed over)", listings)
	}
	if strings.Contains(err.Error(), "needs a server that runs commands") {
		t.Errorf("a cut connection is blamed on the server's abilities: %v", err)
	}
	if listings >= 401 {
		t.Errorf("all %d listings handed over although the connection was cut", listings)
	}
	t.Logf("%d listings, then: %v", listings, err)
}
