package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	port, err := sshdtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// writeFile writes a test file or fails the test.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCheckReportsUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	writeFile(t, cfg, fmt.Sprintf(`state_dir: %q
hosts:
  partner: {address: "127.0.0.1:1", user: u, private_key_file: /nonexistent/id_ed25519, known_hosts_file: %q}
  other: {address: "127.0.0.1:1", user: u, password: p, known_hosts_file: %q}
watches:
  - {name: a, host: partner, path: /x}
  - {name: b, host: other, path: /x}
`, filepath.Join(dir, "state"), dir, filepath.Join(dir, "missing_known_hosts")))
	r := sftpwatchd(t, nil, "check", "-c", cfg)
	if r.code != 2 {
		t.Fatalf("check: exit %d, want 2; stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{
		"hosts.partner.private_key_file: open /nonexistent/id_ed25519: no such file or directory",
		"hosts.partner.known_hosts_file: " + dir + " is not a regular file",
		"hosts.other.known_hosts_file: open " + filepath.Join(dir, "missing_known_hosts") + ": no such file or directory",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Errorf("check created the state dir")
	}
}

func TestCheckLeftoverState(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(fmt.Sprintf("  - {name: old, host: local, path: %q}\n  - {name: in, host: local, path: %q}\n", e.remote, e.remote))
	if r := sftpwatchd(t, nil, "once", "-c", e.config); r.code != 0 {
		t.Fatalf("once: exit %d stderr %s", r.code, r.stderr)
	}
	if r := sftpwatchd(t, nil, "check", "-c", e.config); r.code != 0 || strings.Contains(r.stdout, "no longer configured") {
		t.Fatalf("check with every stored watch configured: exit %d stdout %q stderr %s", r.code, r.stdout, r.stderr)
	}
	e.writeConfig(fmt.Sprintf("  - {name: in, host: local, path: %q, interval: 1h}\n", e.remote))
	r := sftpwatchd(t, nil, "check", "-c", e.config)
	if r.code != 0 || !strings.Contains(r.stdout, "no longer configured: old ") || !strings.Contains(r.stdout, "state prune") {
		t.Fatalf("check with leftover state: exit %d stdout %q stderr %s", r.code, r.stdout, r.stderr)
	}

	// Beside a running daemon the state is not read: skipped, not an error.
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	r = sftpwatchd(t, nil, "check", "-c", e.config)
	if r.code != 0 || !strings.Contains(r.stdout, "in use by a running daemon") || !strings.Contains(r.stdout, "was skipped") {
		t.Fatalf("check beside a daemon: exit %d stdout %q stderr %s", r.code, r.stdout, r.stderr)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exit %d; logs:\n%s", code, d.logs())
	}
}

func TestCheckConnectLocalSide(t *testing.T) {
	e := newEnv(t)
	blocker := filepath.Join(e.dir, "afile")
	writeFile(t, blocker, "x")
	fresh := filepath.Join(e.dir, "new", "dest") // does not exist yet: can be created
	refused := closedPort(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan int, 1)
	go func() {
		n := 0
		for {
			c, err := l.Accept()
			if err != nil {
				accepted <- n
				return
			}
			n++
			c.Close()
		}
	}()
	e.writeConfig(fmt.Sprintf(`  - name: in
    host: local
    path: %q
    actions:
      - {type: exec, command: [no-such-program-sftpwatchd, x]}
      - {type: download, dest: %q}
      - {type: webhook, url: "http://%s/hook?token=s3cret"}
      - {type: download, dest: %q}
      - {type: webhook, url: "http://%s/ok"}
      - {type: exec, command: [true]}
`, e.remote, filepath.Join(blocker, "sub"), refused, fresh, l.Addr()))
	r := sftpwatchd(t, nil, "check", "--connect", "-c", e.config)
	if r.code != 1 {
		t.Fatalf("check --connect: exit %d, want 1; stdout %q stderr %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		`watches[in].actions[0].command[0]: exec: "no-such-program-sftpwatchd": executable file not found in $PATH`,
		"watches[in].actions[1].dest: " + blocker + " is not a directory",
		"watches[in].actions[2].url: dial tcp " + refused + ": connect: connection refused",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	for _, bad := range []string{"actions[3]", "actions[4]", "actions[5]", "s3cret", "/hook"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("stderr holds %q:\n%s", bad, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "new")); err == nil {
		t.Errorf("the probe of a dest that does not exist created it")
	}
	l.Close()
	if n := <-accepted; n != 1 {
		t.Errorf("the reachable webhook got %d connections, want 1", n)
	}
	// An unwritable existing dest (not testable as root: root writes anywhere).
	if os.Geteuid() != 0 {
		ro := filepath.Join(e.dir, "ro")
		os.Mkdir(ro, 0o500)
		e.writeConfig(fmt.Sprintf("  - {name: in, host: local, path: %q, actions: [{type: download, dest: %q}]}\n", e.remote, ro))
		r = sftpwatchd(t, nil, "check", "--connect", "-c", e.config)
		if r.code != 1 || !strings.Contains(r.stderr, "watches[in].actions[0].dest: "+ro+" is not writable") {
			t.Errorf("read-only dest: exit %d stderr %s", r.code, r.stderr)
		}
	}
}
