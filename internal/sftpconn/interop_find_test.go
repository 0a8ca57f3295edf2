package sftpconn_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/findlist"
)

// TestInteropFindLister: Dropbear runs commands: lister: find lists the
// interop tree as the SFTP walk does. ProFTPD's mod_sftp refuses exec:
// the find lister fails with findlist.ErrRefused and the hint.
func TestInteropFindLister(t *testing.T) {
	for _, s := range sftpconn.InteropServers(t) {
		t.Run(s.Name, func(t *testing.T) {
			root := filepath.Join(s.Root, "tree")
			sc, sf := sftpconn.DialInterop(t, s)
			c := sftpconn.NewClient(sc, sf)
			var got []string
			err := findlist.Walk(context.Background(), c, root, sftpconn.WalkOptions{Recursive: true}, func(l sftpconn.DirListing) error {
				if l.Err != nil {
					return l.Err
				}
				for _, e := range l.Entries {
					size := e.Size
					if e.Mode.IsDir() {
						size = 0
					}
					got = append(got, fmt.Sprintf("%q %v %d %d", e.RelPath, e.Mode.IsDir(), size, e.MTime.Unix()))
				}
				return nil
			})
			if !s.Exec {
				if !errors.Is(err, findlist.ErrRefused) || !strings.Contains(err.Error(), "needs a server that runs commands over SSH") {
					t.Fatalf("find on %s: %v, want findlist.ErrRefused with the hint", s.Name, err)
				}
				if err := findlist.Probe(context.Background(), c, root); !errors.Is(err, findlist.ErrRefused) {
					t.Errorf("Probe on %s: %v, want findlist.ErrRefused", s.Name, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("find on %s: %v", s.Name, err)
			}
			sort.Strings(got)
			if err := sftpconn.SameListing(got, sftpconn.LocalListing(t, root)); err != nil {
				t.Error(err)
			}
			if err := findlist.Probe(context.Background(), c, root); err != nil {
				t.Errorf("Probe: %v", err)
			}
		})
	}
}
