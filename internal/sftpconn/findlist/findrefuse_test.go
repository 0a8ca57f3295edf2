package findlist

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// TestFindWalkRefusedByOpenSSH: OpenSSH set up the way partners do, where
// no command runs — an SFTP-only account (ForceCommand internal-sftp), a
// nologin shell (emulated: the forced command serves the SFTP subsystem
// and hands every other command to nologin, which is what sshd does for
// an account whose login shell is nologin) — fails the walk with ErrRefused, the
// server's own sentence and the hint, and hands nothing over.
func TestFindWalkRefusedByOpenSSH(t *testing.T) {
	for _, tc := range []struct {
		name, line, said string
	}{
		{"sftp-only", "ForceCommand internal-sftp", "This service allows sftp connections only."},
		{"nologin", `ForceCommand if [ "$SSH_ORIGINAL_COMMAND" = internal-sftp ]; then exec ` + sftpServerBinary + `; else exec /usr/sbin/nologin -c "$SSH_ORIGINAL_COMMAND"; fi`, "This account is currently not available."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.line, "nologin") {
				for _, f := range []string{"/usr/sbin/nologin", sftpServerBinary} {
					if _, err := os.Stat(f); err != nil {
						t.Skipf("no %s on this machine: cannot emulate a nologin account", f)
					}
				}
			}
			s := sshdtest.Start(t, sshdtest.WithConfigLines(tc.line))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := sftpconn.Dial(ctx, sftpconn.HostConfig{
				Name: "h", Address: s.Addr, User: s.User, PrivateKeyFile: s.ClientKeyFile,
				KnownHostsFile: s.KnownHostsFile,
			}, zap.NewNop())
			if err != nil {
				t.Fatalf("sftpconn.Dial: %v\n%s", err, s.Log())
			}
			defer c.Close()
			if err := os.Mkdir(s.Root+"/tree", 0o755); err != nil {
				t.Fatal(err)
			}
			got, err := collectFind(t, c, s.Root+"/tree", sftpconn.WalkOptions{Recursive: true})
			if !errors.Is(err, ErrRefused) || len(got) != 0 {
				t.Fatalf("Walk: %d listings, err %v; want ErrRefused and none", len(got), err)
			}
			for _, want := range []string{tc.said, "lister: find needs a server that runs commands over SSH", "lister: sftp does not", "status 1"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q: %v", want, err)
				}
			}
			if strings.Contains(err.Error(), "malformed find output") {
				t.Errorf("the refusal is reported as find's output: %v", err)
			}
			t.Logf("%v", err)
			// SFTP still works on the same connection: the lister is the problem.
			if _, err := c.ReadDir(ctx, s.Root+"/tree"); err != nil {
				t.Errorf("ReadDir over SFTP: %v", err)
			}
		})
	}
}

// sftpServerBinary is OpenSSH's SFTP server program (Debian's path).
const sftpServerBinary = "/usr/lib/openssh/sftp-server"

// TestFindRefusal judges the end of runs that printed no root record.
func TestFindRefusal(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		stdout      string
		stderr      string
		refused     bool
		contains    string
		notContains string
	}{
		{"busybox find", 1, "", "find: unrecognized: -printf\nBusyBox v1.36.1 multi-call binary.\n", true, `find: unrecognized: -printf`, ""},
		{"no find", 127, "", "sh: 1: find: not found\n", true, "sh: 1: find: not found", ""},
		{"rc file chatter", 0, "Welcome to \x1b[1mpartner\x1b[0m\n", "", true, `Welcome to \x1b[1mpartner`, "\x1b"},
		{"silent failure", 1, "", "", true, "printed nothing", ""},
		{"missing root", 1, "", "find: '/up': No such file or directory\n", false, "", ""},
		{"unreadable root", 1, "", "find: '/up': Permission denied\n", false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFindParser(sftpconn.WalkOptions{Recursive: true}, func(sftpconn.DirListing) bool { return true })
			head := &boundedBuffer{max: maxFindStdoutHead}
			head.Write([]byte(tc.stdout))
			p.Write([]byte(tc.stdout))
			err := refusal(tc.status, p, tc.stderr, head)
			if got := errors.Is(err, ErrRefused); got != tc.refused {
				t.Fatalf("refusal = %v, want refused %v", err, tc.refused)
			}
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error does not contain %q: %v", tc.contains, err)
			}
			if tc.notContains != "" && strings.Contains(err.Error(), tc.notContains) {
				t.Errorf("error contains %q unescaped: %q", tc.notContains, err)
			}
		})
	}
	// A long answer is bounded.
	p := newFindParser(sftpconn.WalkOptions{Recursive: true}, func(sftpconn.DirListing) bool { return true })
	head := &boundedBuffer{max: maxFindStdoutHead}
	long := strings.Repeat("x", 10_000)
	head.Write([]byte(long))
	p.Write([]byte(long))
	if err := refusal(1, p, "", head); err == nil || len(err.Error()) > 600 {
		t.Errorf("long answer: %d bytes of error", len(err.Error()))
	}
}
