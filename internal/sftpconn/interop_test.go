package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/interop"
)

// interopBig is the size of the big directory of the interop tree.
const interopBig = 20_000

// interopServers starts ProFTPD and Dropbear, each with the interop tree
// (hostile names, a 20,000-entry directory) under Root/tree.
func interopServers(t *testing.T) []*interop.Server {
	t.Helper()
	var out []*interop.Server
	for _, start := range []func(testing.TB) *interop.Server{
		interop.StartProFTPD,
		interop.StartDropbear,
	} {
		s := start(t)
		if err := interop.MakeTree(filepath.Join(s.Root, "tree"), interopBig); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// dialInterop connects to s with x/crypto/ssh and pkg/sftp directly.
func dialInterop(t *testing.T, s *interop.Server) (*ssh.Client, *sftp.Client) {
	t.Helper()
	hk, err := knownhosts.New(s.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User: s.User, Auth: []ssh.AuthMethod{ssh.Password(s.Password)}, HostKeyCallback: hk, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("%s: dial: %v\n%s", s.Name, err, s.Log())
	}
	t.Cleanup(func() { sc.Close() })
	c, err := sftp.NewClient(sc)
	if err != nil {
		t.Fatalf("%s: sftp: %v", s.Name, err)
	}
	return sc, c
}

// localListing is what a listing of dir must show: "rel type size mtime".
func localListing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		size := fi.Size()
		if fi.IsDir() {
			size = 0
		}
		out = append(out, fmt.Sprintf("%q %v %d %d", filepath.ToSlash(rel), fi.IsDir(), size, fi.ModTime().Unix()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// walkListing is the interop listing check: Walk of root through c must
// equal the local tree.
func walkListing(c Doer, root string) ([]string, error) {
	var out []string
	err := Walk(context.Background(), c, root, WalkOptions{Recursive: true}, func(l DirListing) error {
		if l.Err != nil {
			return l.Err
		}
		for _, e := range l.Entries {
			size := e.Size
			if e.Mode.IsDir() {
				size = 0
			}
			out = append(out, fmt.Sprintf("%q %v %d %d", e.RelPath, e.Mode.IsDir(), size, e.MTime.Unix()))
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func sameListing(got, want []string) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("entry %d is %s, want %s", i, got[i], want[i])
		}
	}
	return nil
}

// errDisabledByTest turns the pipelined reader off, as a server that
// refuses the second session channel does: listings take the pkg/sftp
// fallback.
var errDisabledByTest = errors.New("pipelined reader disabled by the test")

// TestInteropListingBothPaths runs the listing check against ProFTPD and
// Dropbear twice: through the pipelined reader on its own channel, and
// with it off (the pkg/sftp fallback); each run asserts which path
// listed. Then it breaks each path once — the reader's channel, then the
// fallback's session, opened on the embedded server, which lacks the tree — and
// the same check must fail through the broken path only.
func TestInteropListingBothPaths(t *testing.T) {
	servers := interopServers(t)
	for _, s := range servers {
		t.Run(s.Name, func(t *testing.T) {
			root := filepath.Join(s.Root, "tree")
			want := localListing(t, root)
			if len(want) < interopBig {
				t.Fatalf("local tree has %d entries", len(want))
			}
			for _, pipelined := range []bool{true, false} {
				sc, sf := dialInterop(t, s)
				c := NewClient(sc, sf)
				if !pipelined {
					c.lister.off = errDisabledByTest
				}
				start := time.Now()
				got, err := walkListing(c, root)
				if err != nil {
					t.Fatalf("pipelined=%v: walk: %v\n%s", pipelined, err, s.Log())
				}
				if err := sameListing(got, want); err != nil {
					t.Errorf("pipelined=%v: %v", pipelined, err)
				}
				if used := c.lister.cur.Load() != nil; used != pipelined {
					t.Errorf("pipelined=%v: the pipelined reader was used: %v", pipelined, used)
				}
				t.Logf("%s pipelined=%v: %d entries in %v", s.Name, pipelined, len(got), time.Since(start).Round(time.Millisecond))
			}

			// The embedded server (jailed in an empty directory) does not
			// have the tree: a path that lists from it is broken.
			emb, _ := startInProcess(t)
			wrong := dialInProcess(t, emb)
			osc, osf := wrong.ssh, wrong.sftp
			sc, sf := dialInterop(t, s)
			brokenReader := NewClient(osc, sf) // reader on the wrong connection, fallback right
			if got, err := walkListing(brokenReader, root); err == nil && sameListing(got, want) == nil {
				t.Error("listing through a broken pipelined channel passed the check")
			}
			brokenReader.lister.off = errDisabledByTest
			brokenReader.lister.cur.Store(nil)
			if got, err := walkListing(brokenReader, root); err != nil || sameListing(got, want) != nil {
				t.Errorf("the fallback, sound, failed the check: %v", err)
			}
			brokenFallback := NewClient(sc, osf) // reader right, fallback on the wrong connection
			brokenFallback.lister.off = errDisabledByTest
			if got, err := walkListing(brokenFallback, root); err == nil && sameListing(got, want) == nil {
				t.Error("listing through a broken fallback passed the check")
			}
		})
	}
}
