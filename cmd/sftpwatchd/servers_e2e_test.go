package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// needTool returns the path of a client program a test runs, skipping the
// test loudly without it (failing under CI, where .ci/run installs it).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("\n*** %s is not installed: SKIPPING a test that needs it. Install %s (apt-get install %s). ***", name, pkg, pkg)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "\nCI is set, so a missing " + name + " is a failure.")
	}
	t.Skip(msg)
	return ""
}

// TestDemoRealClients: the command lines demo prints log OpenSSH's sftp
// (batch mode, df included: statvfs), scp and lftp in to the embedded
// server with the key and known_hosts it wrote (0600, beside the drop
// directory); each exits 0, the files arrive and become events, and the
// login files are gone after Ctrl-C.
func TestDemoRealClients(t *testing.T) {
	needTool(t, "sftp", "openssh-client")
	needTool(t, "scp", "openssh-client")
	base := t.TempDir()
	dir := filepath.Join(base, "drop")
	d := startDaemon(t, nil, "demo", "--dir", dir)
	eventually(t, 20*time.Second, "the demo banner", func() bool {
		return strings.Contains(d.logs(), "sftpwatchd running")
	})
	cmds := map[string]string{}
	for line := range strings.Lines(d.logs()) {
		line = strings.TrimSpace(line)
		for _, prog := range []string{"sftp", "scp", "lftp"} {
			if strings.HasPrefix(line, prog+" ") {
				cmds[prog] = line
			}
		}
	}
	if len(cmds) != 3 {
		t.Fatalf("demo printed commands %v, want sftp, scp and lftp\n%s", cmds, d.logs())
	}
	for _, f := range []string{dir + ".id_ed25519", dir + ".known_hosts"} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("login file %s: %v %v, want mode 0600", f, fi, err)
		}
	}
	src := filepath.Join(base, "local.txt")
	if err := os.WriteFile(src, []byte("from a real client\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name, cmdline, stdin string) {
		t.Helper()
		c := exec.Command("/bin/sh", "-c", cmdline)
		c.Stdin = strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n$ %s\n%s", name, err, cmdline, out)
		}
	}
	batch := filepath.Join(base, "batch")
	os.WriteFile(batch, []byte("put "+src+" by-sftp.txt\ndf\nls -l\n"), 0o644)
	run("sftp -b", strings.Replace(cmds["sftp"], "sftp ", "sftp -b "+batch+" ", 1), "")
	run("scp", strings.Replace(strings.Replace(cmds["scp"], "LOCALFILE", src, 1), ":/", ":/by-scp.txt", 1), "")
	want := []string{"by-sftp.txt", "by-scp.txt"}
	if _, err := exec.LookPath("lftp"); err == nil {
		run("lftp", cmds["lftp"], "put "+src+" -o by-lftp.txt\nbye\n")
		want = append(want, "by-lftp.txt")
	} else {
		needTool(t, "lftp", "lftp") // after the OpenSSH clients were checked
	}
	for _, name := range want {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != "from a real client\n" {
			t.Errorf("%s in the drop directory: %q %v", name, b, err)
		}
		eventually(t, 20*time.Second, "the create event of "+name, func() bool {
			return strings.Contains(d.logs(), `"rel_path": "`+name+`"`)
		})
	}
	if code := d.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("Ctrl-C: exit %d\n%s", code, d.logs())
	}
	for _, f := range []string{dir + ".id_ed25519", dir + ".known_hosts"} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("login file %s left after the demo stopped: %v", f, err)
		}
	}
}
