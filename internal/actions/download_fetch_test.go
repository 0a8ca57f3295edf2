package actions

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
)

// The daemon's Remote is a *sftpconn.Pool; if it stopped satisfying
// fetcher, downloads would silently fall back to the slower path.
var _ fetcher = (*sftpconn.Pool)(nil)

// fetchRemote is the test Remote plus sftpconn's FetchTo over the same
// pkg/sftp client, so Download takes the FetchTo path. It counts the calls
// of each path.
type fetchRemote struct {
	sftpRemote
	c              *sftpconn.Client
	fetches, getTo *atomic.Int32
	// before, if set, runs at the start of FetchTo (a change "during" the
	// transfer: after the Lstat that Download sends first).
	before func() error
}

var _ fetcher = fetchRemote{}

func newFetchRemote(t *testing.T, root string) fetchRemote {
	t.Helper()
	r := newSFTPServer(t, root)
	return fetchRemote{sftpRemote: r, c: sftpconn.NewClient(nil, r.c), fetches: new(atomic.Int32), getTo: new(atomic.Int32)}
}

func (r fetchRemote) FetchTo(ctx context.Context, p string, size int64, w io.Writer, progress func(int64)) (int64, os.FileInfo, error) {
	r.fetches.Add(1)
	if r.before != nil {
		if err := r.before(); err != nil {
			return 0, nil, err
		}
	}
	return r.c.FetchTo(ctx, p, size, w, progress)
}

func (r fetchRemote) GetTo(ctx context.Context, p string, w io.Writer, progress func(int64)) (int64, error) {
	r.getTo.Add(1)
	return r.sftpRemote.GetTo(ctx, p, w, progress)
}

func TestDownloadFetchPathByteIdentical(t *testing.T) {
	e := newDLEnv(t)
	fr := newFetchRemote(t, e.root)
	e.remote = fr
	a := e.download(t, config.Action{PreserveMtime: true})
	for i, size := range []int{0, 5, 4096, 40000, 2<<20 + 3} {
		data := randBytes(t, size)
		rel := filepath.ToSlash(filepath.Join("d", string(rune('a'+i))+" f.bin"))
		remoteFile(t, e.root, rel, data)
		ev := fileEvent(e.root, rel, event.Create)
		if err := a.Run(context.Background(), ev); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		got, err := os.ReadFile(ev.LocalPath)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("size %d: content differs (%d bytes): %v", size, len(got), err)
		}
		if fi, _ := os.Stat(ev.LocalPath); !fi.ModTime().Equal(remoteMtime) {
			t.Fatalf("size %d: mtime %s", size, fi.ModTime())
		}
	}
	if fr.fetches.Load() != 5 || fr.getTo.Load() != 0 {
		t.Fatalf("FetchTo called %d times, GetTo %d: want 5 and 0", fr.fetches.Load(), fr.getTo.Load())
	}
	if left := tempFiles(t, e.dest); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

type changeCase struct {
	name      string
	change    func(p string) error
	permanent bool // on the retry
}

// Every way the file can change between the first Lstat and the end of the
// copy fails the attempt (retryable) and leaves nothing under the final
// name; a symlink swapped in is then refused permanently (its event
// reports a symlink).
func TestDownloadFetchPathChangedDuringTransfer(t *testing.T) {
	later := remoteMtime.Add(time.Hour)
	cases := []changeCase{
		{"grows", func(p string) error {
			if err := os.WriteFile(p, []byte("partial,and,the,rest"), 0o644); err != nil {
				return err
			}
			return os.Chtimes(p, later, later)
		}, false},
		{"shrinks keeping its mtime", func(p string) error {
			if err := os.WriteFile(p, []byte("par"), 0o644); err != nil {
				return err
			}
			return os.Chtimes(p, remoteMtime, remoteMtime)
		}, false},
		{"same size new mtime", func(p string) error {
			if err := os.WriteFile(p, []byte("PARTIAL"), 0o644); err != nil {
				return err
			}
			return os.Chtimes(p, later, later)
		}, false},
	}
	cases = append(cases, symlinkSwapCases()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newDLEnv(t)
			remoteFile(t, e.root, "in/f.csv", []byte("partial"))
			fr := newFetchRemote(t, e.root)
			var fired atomic.Bool
			p := filepath.Join(e.root, "in", "f.csv")
			fr.before = func() error {
				if fired.Swap(true) {
					return nil
				}
				return tc.change(p)
			}
			e.remote = fr
			a := e.download(t, config.Action{PreserveMtime: true})
			ev := fileEvent(e.root, "in/f.csv", event.Modify)
			err := a.Run(context.Background(), ev)
			if !errors.Is(err, ErrChangedDuringTransfer) || IsPermanent(err) {
				t.Fatalf("first attempt: err = %v, want retryable ErrChangedDuringTransfer", err)
			}
			if _, err := os.Lstat(filepath.Join(e.dest, "in", "f.csv")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a file appeared under the final name after a failed attempt: %v", err)
			}
			if left := tempFiles(t, e.dest); len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
			if ev.LocalPath != "" {
				t.Fatalf("LocalPath set on failure: %q", ev.LocalPath)
			}
			// The same event again: the file is no longer the one it reports,
			// so it is superseded and nothing is written.
			err = a.Run(context.Background(), ev)
			if !errors.Is(err, ErrSuperseded) || IsPermanent(err) {
				t.Fatalf("retry: err = %v, want ErrSuperseded", err)
			}
			if ents, _ := os.ReadDir(filepath.Join(e.dest, "in")); len(ents) != 0 {
				t.Fatalf("something was written: %v", ents)
			}
			// The later event the poller emits for the change carries it.
			later := fileEvent(e.root, "in/f.csv", event.Modify)
			err = a.Run(context.Background(), later)
			if tc.permanent {
				if !IsPermanent(err) {
					t.Fatalf("later event: err = %v, want permanent", err)
				}
				if ents, _ := os.ReadDir(filepath.Join(e.dest, "in")); len(ents) != 0 {
					t.Fatalf("something was written: %v", ents)
				}
				return
			}
			if err != nil {
				t.Fatalf("later event: %v", err)
			}
			want, _ := os.ReadFile(p)
			if got, _ := os.ReadFile(filepath.Join(e.dest, "in", "f.csv")); !bytes.Equal(got, want) {
				t.Fatalf("content %q, want %q", got, want)
			}
		})
	}
}

// The first Lstat still decides: a remote symlink, directory or missing
// file is refused before anything is opened.
func TestDownloadFetchPathRefusesBeforeOpening(t *testing.T) {
	e := newDLEnv(t)
	if err := os.Symlink("/etc/passwd", filepath.Join(e.root, "passwd.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(e.root, "dir.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	fr := newFetchRemote(t, e.root)
	e.remote = fr
	a := e.download(t, config.Action{})
	for _, rel := range []string{"passwd.csv", "dir.csv", "never-was.csv"} {
		err := a.Run(context.Background(), fileEvent(e.root, rel, event.Create))
		if rel == "passwd.csv" && !IsPermanent(err) {
			t.Fatalf("%s: err = %v, want permanent", rel, err)
		}
		if rel != "passwd.csv" && !errors.Is(err, ErrSuperseded) {
			t.Fatalf("%s: err = %v, want ErrSuperseded", rel, err)
		}
	}
	if n := fr.fetches.Load() + fr.getTo.Load(); n != 0 {
		t.Fatalf("the remote file was opened %d times", n)
	}
	if ents, _ := os.ReadDir(e.dest); len(ents) != 0 {
		t.Fatalf("something was written: %v", ents)
	}
}
