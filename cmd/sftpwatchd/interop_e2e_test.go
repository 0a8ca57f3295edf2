package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/interop"
)

// interopBig is the size of the big directory the listing check lists.
const interopBig = 20_000

// TestInteropBlackBox runs the same black-box checks through the binary
// against servers that share no code with ours: ProFTPD's mod_sftp and
// Dropbear with OpenSSH's sftp-server. (The pkg/sftp fallback is checked
// against both in sftpconn's TestInteropListingBothPaths, ProFTPD limited
// to one channel in names_e2e_test.go.) Checks: the events of a first scan
// list every file of a tree with hostile names (names that are not UTF-8
// included: eventFiles decodes the _b64 companions) and a 20,000-entry
// directory; download is byte-identical under the exact byte names; move
// lands every file under to; check --connect and a
// scan with lister: find fail with the hint where the server runs no
// commands, and list the same files where it does.
func TestInteropBlackBox(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *interop.Server
	}{
		{"proftpd", interop.StartProFTPD},
		{"dropbear", interop.StartDropbear},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.start(t)
			tree, small := filepath.Join(s.Root, "tree"), filepath.Join(s.Root, "small")
			if err := interop.MakeTree(tree, interopBig); err != nil {
				t.Fatal(err)
			}
			if err := interop.MakeTree(small, 3); err != nil {
				t.Fatal(err)
			}
			if err := interop.Chmod777(small); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			cfgFile := filepath.Join(dir, "c.yaml")
			write := func(watches string) {
				t.Helper()
				cfg := fmt.Sprintf("state_dir: %q\nlog: {level: debug, format: json}\nhttp: {listen: \"\"}\nhosts:\n  srv: {address: %q, user: %q, password: %q, known_hosts_file: %q, connect_timeout: 5s}\nwatches:\n%s",
					filepath.Join(dir, "state"), s.Addr, s.User, s.Password, s.KnownHostsFile, watches)
				if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want := localFiles(t, tree)

			// Listing: the first scan's events name every file.
			write(fmt.Sprintf("  - {name: in, host: srv, path: %q, initial: emit, settle: 0s}\n", tree))
			r := sftpwatchd(t, nil, "once", "--dry-run", "--json", "-c", cfgFile)
			if r.code != 0 {
				t.Fatalf("once --dry-run: exit %d\n%s\n%s", r.code, r.stderr, s.Log())
			}
			if got := eventFiles(t, r.stdout); !equalStrings(got, want) {
				t.Errorf("events name %d files, want %d: %s", len(got), len(want), firstDiff(got, want))
			}

			// The find lister: refused with the hint, or the same files.
			write(fmt.Sprintf("  - {name: in, host: srv, path: %q, initial: emit, settle: 0s, lister: find}\n", tree))
			r = sftpwatchd(t, nil, "once", "--dry-run", "--json", "-c", cfgFile)
			c := sftpwatchd(t, nil, "check", "--connect", "-c", cfgFile)
			if s.Exec {
				if r.code != 0 || !equalStrings(eventFiles(t, r.stdout), want) || c.code != 0 {
					t.Errorf("lister: find on %s: once exit %d, check exit %d\n%s%s", s.Name, r.code, c.code, r.stderr, c.stderr)
				}
			} else {
				for _, res := range []result{r, c} {
					if res.code != 1 || !strings.Contains(res.stderr, "lister: find needs a server that runs commands over SSH") {
						t.Errorf("lister: find on %s: exit %d, want 1 with the hint\n%s", s.Name, res.code, res.stderr)
					}
				}
			}

			// Download, then move, of the small tree.
			dest := filepath.Join(dir, "dl")
			done := filepath.Join(s.Root, ".done")
			write(fmt.Sprintf("  - {name: in, host: srv, path: %q, initial: emit, settle: 0s, exclude: [\"big/**\"], actions: [{type: download, dest: %q}, {type: move, to: %q}]}\n", small, dest, done))
			smallFiles := localFiles(t, small)
			contents := map[string][]byte{}
			for _, rel := range smallFiles {
				contents[rel], _ = os.ReadFile(filepath.Join(small, rel))
			}
			r = sftpwatchd(t, nil, "once", "-c", cfgFile)
			if r.code != 0 {
				t.Fatalf("once with download and move: exit %d\n%s", r.code, r.stderr)
			}
			n := 0
			for rel, b := range contents {
				if strings.HasPrefix(rel, "big/") {
					continue
				}
				n++
				if got, err := os.ReadFile(filepath.Join(dest, rel)); err != nil || !bytes.Equal(got, b) {
					t.Errorf("downloaded %q: %q %v, want %q", rel, got, err, b)
				}
				if _, err := os.Stat(filepath.Join(done, rel)); err != nil {
					t.Errorf("moved %q: %v", rel, err)
				}
				if _, err := os.Stat(filepath.Join(small, rel)); err == nil {
					t.Errorf("%q still in the watched tree after the move", rel)
				}
			}
			if n != 2*len(interop.HostileNames) {
				t.Errorf("%d files checked, want %d", n, 2*len(interop.HostileNames))
			}
		})
	}
}

// localFiles is the rel paths of the regular files under dir, sorted.
func localFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// eventFiles is the rel paths of the file events in JSON lines, sorted.
func eventFiles(t *testing.T, jsonLines string) []string {
	var out []string
	for _, ev := range parseEvents(t, jsonLines) {
		if ev.EntryType == "file" {
			out = append(out, ev.RelPath)
		}
	}
	sort.Strings(out)
	return out
}

// firstDiff names the first difference of two sorted lists.
func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("%q vs %q", a[i], b[i])
		}
	}
	return fmt.Sprintf("%d vs %d entries", len(a), len(b))
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
