package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLsFindLister: the binary with lister: find prints exactly what it
// prints with the default lister, and refuses find with follow_symlinks.
func TestLsFindLister(t *testing.T) {
	e := newEnv(t)
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e.put("b.csv", "12345", old)
	e.put("a/c.csv", "1", old)
	e.put("a/skip.part", "1", old)
	e.put(".hidden/x.csv", "1", old)
	e.put("line\nbreak $(touch PWNED).csv", "1", old)
	watch := func(extra string) {
		e.writeConfig(fmt.Sprintf("  - name: in\n    host: local\n    path: %q\n    exclude: [\"**/*.part\", \"**/.*\"]\n%s", e.remote, extra))
	}
	watch("")
	sftp := sftpwatchd(t, nil, "ls", "--watch", "in", "-c", e.config)
	watch("    lister: find\n")
	find := sftpwatchd(t, nil, "ls", "--watch", "in", "-c", e.config)
	if sftp.code != 0 || find.code != 0 {
		t.Fatalf("ls: sftp exit %d (%s), find exit %d (%s)", sftp.code, sftp.stderr, find.code, find.stderr)
	}
	if find.stdout != sftp.stdout || !strings.Contains(find.stdout, `"line\nbreak $(touch PWNED).csv"`) {
		t.Fatalf("ls with lister: find:\n%q\nwith sftp:\n%q", find.stdout, sftp.stdout)
	}

	watch("    lister: find\n    follow_symlinks: true\n")
	r := sftpwatchd(t, nil, "ls", "--watch", "in", "-c", e.config)
	if r.code != 2 || !strings.Contains(r.stderr, "watches[0].lister") || !strings.Contains(r.stderr, "follow_symlinks") {
		t.Fatalf("find with follow_symlinks: exit %d stderr %q", r.code, r.stderr)
	}
}
