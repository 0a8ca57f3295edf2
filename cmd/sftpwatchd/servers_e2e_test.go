package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// sftpOnlyRefusal is what OpenSSH answers a command on an account with
// ForceCommand internal-sftp.
const sftpOnlyRefusal = "This service allows sftp connections only."

// TestFindListerSFTPOnlyAccount: on an SFTP-only account, check --connect
// fails a lister: find watch with the server's sentence and the hint (and
// passes the same watch with lister: sftp), and a scan fails with the same
// sentence instead of "malformed find output".
func TestFindListerSFTPOnlyAccount(t *testing.T) {
	e := newEnv(t, sshdtest.WithConfigLines("ForceCommand internal-sftp"))
	e.put("a.csv", "a", time.Now().Add(-time.Hour))
	e.writeConfig(fmt.Sprintf("  - {name: in, host: local, path: %q, lister: find}\n", e.remote))
	r := sftpwatchd(t, nil, "check", "--connect", "-c", e.config)
	if r.code != 1 {
		t.Fatalf("check --connect: exit %d, want 1\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{`watches "in": lister: find cannot list path`, sftpOnlyRefusal, "needs a server that runs commands over SSH"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("check --connect stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stdout, `watch "in"`) {
		t.Errorf("the watch is reported ok: %s", r.stdout)
	}

	r = sftpwatchd(t, nil, "once", "--dry-run", "-c", e.config)
	if r.code != 1 || !strings.Contains(r.stderr, sftpOnlyRefusal) || !strings.Contains(r.stderr, "lister: sftp does not") ||
		strings.Contains(r.stderr, "malformed find output") {
		t.Errorf("once: exit %d, want 1 with the server's sentence and the hint\nstderr %s", r.code, r.stderr)
	}

	e.writeConfig(fmt.Sprintf("  - {name: in, host: local, path: %q, lister: sftp}\n", e.remote))
	if r := sftpwatchd(t, nil, "check", "--connect", "-c", e.config); r.code != 0 {
		t.Errorf("lister: sftp on the same account: exit %d\nstderr %s", r.code, r.stderr)
	}
}

// TestCheckConnectFindProbe: where find runs, check --connect passes a
// lister: find watch.
func TestCheckConnectFindProbe(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(fmt.Sprintf("  - {name: in, host: local, path: %q, lister: find}\n", e.remote))
	r := sftpwatchd(t, nil, "check", "--connect", "-c", e.config)
	if r.code != 0 || !strings.Contains(r.stdout, `watch "in"`) {
		t.Fatalf("check --connect: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
}
