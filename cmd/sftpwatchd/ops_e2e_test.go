package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
	if r.code != 0 || !strings.Contains(r.stdout, "in use by another process (a running daemon)") || !strings.Contains(r.stdout, "was skipped") {
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

// hostConfig writes a config whose host local has the given settings
// (YAML flow-mapping entries) and one watch "in" on the env's remote dir.
func (e *env) writeHostConfig(host string) {
	e.t.Helper()
	writeFile(e.t, e.config, fmt.Sprintf(`state_dir: %q
log: {level: info, format: json}
http: {listen: ""}
hosts:
  local: {user: %q, connect_timeout: 5s, %s}
watches:
  - {name: in, host: local, path: %q}
`, e.stateDir, e.srv.User, host, e.remote))
}

func TestRuntimeErrorsNameTheKey(t *testing.T) {
	e := newEnv(t)
	refused := closedPort(t)
	otherKey, err := sshdtest.GenerateKey(sshdtest.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, err := sshdtest.PublicKey(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(e.dir, "changed_known_hosts")
	writeFile(t, changed, sshdtest.KnownHostsLine(e.srv.Addr, otherPub))
	missingKey := filepath.Join(e.dir, "no_such_key")
	_, port, _ := net.SplitHostPort(e.srv.Addr)

	for _, tc := range []struct {
		name, host string
		want       []string
	}{
		{"missing private key", fmt.Sprintf("address: %q, private_key_file: %q, known_hosts_file: %q", e.srv.Addr, missingKey, e.srv.KnownHostsFile),
			[]string{"hosts.local.private_key_file: open " + missingKey + ": no such file or directory; fix the path"}},
		{"connection refused", fmt.Sprintf("address: %q, private_key_file: %q, known_hosts_file: %q", refused, e.srv.ClientKeyFile, e.srv.KnownHostsFile),
			[]string{"hosts.local (" + refused + "): dial tcp " + refused + ": connect: connection refused; check hosts.local.address"}},
		{"name does not resolve", fmt.Sprintf("address: \"sftp.example.invalid:22\", private_key_file: %q, known_hosts_file: %q", e.srv.ClientKeyFile, e.srv.KnownHostsFile),
			[]string{"hosts.local (sftp.example.invalid:22): dial tcp: lookup sftp.example.invalid", "check hosts.local.address: the name does not resolve"}},
		{"changed host key", fmt.Sprintf("address: %q, private_key_file: %q, known_hosts_file: %q", e.srv.Addr, e.srv.ClientKeyFile, changed),
			[]string{"hosts.local (" + e.srv.Addr + "): host key for " + e.srv.Addr + " changed",
				"ssh-keygen -R '[127.0.0.1]:" + port + "' -f " + changed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.writeHostConfig(tc.host)
			for _, args := range [][]string{{"once"}, {"ls", "--watch", "in"}, {"check", "--connect"}} {
				r := sftpwatchd(t, nil, append(args, "-c", e.config)...)
				want := 1
				if args[0] == "check" && tc.name == "missing private key" {
					want = 2 // check finds it in the config, before dialling
				}
				if r.code != want {
					t.Errorf("%v: exit %d, want %d; stderr %s", args, r.code, want, r.stderr)
				}
				for _, want := range tc.want {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("%v: stderr lacks %q:\n%s", args, want, r.stderr)
					}
				}
			}
		})
	}
}

// summaryLine returns the closing line of once for watch w.
func summaryLine(t *testing.T, stderr, w string) string {
	t.Helper()
	prefix := "sftpwatchd: watch \"" + w + "\": "
	for _, l := range strings.Split(stderr, "\n") {
		if s, ok := strings.CutPrefix(l, prefix); ok {
			return s
		}
	}
	t.Fatalf("no summary line for watch %q in stderr:\n%s", w, stderr)
	return ""
}

func TestOnceSummary(t *testing.T) {
	e := newEnv(t)
	old := time.Now().Add(-time.Hour)
	e.put("a.csv", "1", old)
	e.put("sub/b.csv", "22", old)
	e.writeConfig(fmt.Sprintf(`  - {name: in, host: local, path: %q, settle: 0s, actions: [{type: log}]}
  - name: slow
    host: local
    path: %q
    settle: 1h
  - name: failing
    host: local
    path: %q
    initial: emit
    settle: 0s
    include: ["a.csv"]
    retry: {max_attempts: 1}
    actions: [{type: exec, command: ["false"]}]
`, e.remote, e.remote, e.remote))
	r := sftpwatchd(t, nil, "once", "-c", e.config)
	if r.code != 1 {
		t.Fatalf("once: exit %d, want 1 (a dead letter); stderr %s", r.code, r.stderr)
	}
	for w, want := range map[string]string{
		"in":      "baseline of 3 entries recorded",
		"slow":    "baseline of 3 entries recorded",
		"failing": "1 entry seen, 1 new event; 0 events delivered (1 failed)",
	} {
		if got := summaryLine(t, r.stderr, w); got != want {
			t.Errorf("summary of %s: %q, want %q", w, got, want)
		}
	}

	e.put("c.csv", "333", old)
	r = sftpwatchd(t, nil, "once", "--watch", "in", "--watch", "slow", "-c", e.config)
	if r.code != 0 {
		t.Fatalf("second once: exit %d stderr %s", r.code, r.stderr)
	}
	if got, want := summaryLine(t, r.stderr, "in"), "4 entries seen, 1 new event; 1 event delivered (0 failed)"; got != want {
		t.Errorf("summary of in: %q, want %q", got, want)
	}
	got := summaryLine(t, r.stderr, "slow")
	if !strings.HasPrefix(got, "4 entries seen, 0 new events; 0 events delivered (0 failed); 1 entry still settling, due after 59m") &&
		!strings.HasPrefix(got, "4 entries seen, 0 new events; 0 events delivered (0 failed); 1 entry still settling, due after 1h0m0s") {
		t.Errorf("summary of slow: %q", got)
	}

	r = sftpwatchd(t, nil, "once", "--dry-run", "--watch", "slow", "-c", e.config)
	if got := summaryLine(t, r.stderr, "slow"); r.code != 0 || !strings.HasPrefix(got, "4 entries seen, 0 events would be emitted (dry run: nothing delivered); 1 entry still settling") {
		t.Errorf("dry run: exit %d summary %q", r.code, got)
	}
	// Not a terminal: no progress.
	if strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "\033[") {
		t.Errorf("progress written to a non-terminal stderr: %q", r.stderr)
	}
}

func TestReloadsTotalAndIntervalMetrics(t *testing.T) {
	e := newEnv(t)
	addr := freeAddr(t)
	watch := func(interval string) string {
		return fmt.Sprintf("  - {name: in, host: local, path: %q, interval: %s}\n", e.remote, interval)
	}
	withHTTP := func() {
		cfg, err := os.ReadFile(e.config)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, e.config, strings.Replace(string(cfg), `http: {listen: ""}`, fmt.Sprintf("http: {listen: %q}", addr), 1))
	}
	e.writeConfig(watch("1h"))
	withHTTP()
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	okS, errS := `sftpwatchd_reloads_total{result="ok"}`, `sftpwatchd_reloads_total{result="error"}`
	ivS := `sftpwatchd_watch_interval_seconds{watch="in"}`
	if ok, bad, iv := metric(t, addr, okS), metric(t, addr, errS), metric(t, addr, ivS); ok != "0" || bad != "0" || iv != "3600" {
		t.Fatalf("before any reload: ok %q error %q interval %q", ok, bad, iv)
	}

	e.writeConfig(watch("30m"))
	withHTTP()
	d.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 20*time.Second, "reloads_total{ok} to reach 1", func() bool { return metric(t, addr, okS) == "1" })
	eventually(t, 20*time.Second, "the new interval", func() bool { return metric(t, addr, ivS) == "1800" })

	writeFile(t, e.config, "watches: [{name: broken, bogus_key: 1}]\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 20*time.Second, "reloads_total{error} to reach 1", func() bool { return metric(t, addr, errS) == "1" })
	if ok := metric(t, addr, okS); ok != "1" {
		t.Errorf("a failed reload moved reloads_total{ok} to %q", ok)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
}

func TestVersionFlagAndWatchCompletion(t *testing.T) {
	r := sftpwatchd(t, nil, "--version")
	v := sftpwatchd(t, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "sftpwatchd ") || r.stdout != v.stdout {
		t.Fatalf("--version: exit %d %q, version prints %q", r.code, r.stdout, v.stdout)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	// ${UNSET_SECRET} is not exported: completion still works.
	writeFile(t, cfg, `hosts: {h: {address: a, user: u, password: "${UNSET_SECRET_SFTPWATCHD}"}}
watches:
  - {name: incoming, host: h, path: /a}
  - {name: invoices, host: h, path: /b}
  - {name: reports, host: h, path: /c}
`)
	for _, cmd := range []string{"once", "ls"} {
		r := sftpwatchd(t, nil, "__complete", cmd, "-c", cfg, "--watch", "in")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || strings.Join(lines, ",") != "incoming,invoices,:4" {
			t.Errorf("complete %s --watch in: exit %d stdout %q stderr %q", cmd, r.code, r.stdout, r.stderr)
		}
	}
	// The config from $SFTPWATCHD_CONFIG, as the commands find it.
	r = sftpwatchd(t, []string{"SFTPWATCHD_CONFIG=" + cfg}, "__complete", "once", "--watch", "")
	if !strings.Contains(r.stdout, "reports\n") {
		t.Errorf("complete with $SFTPWATCHD_CONFIG: %q", r.stdout)
	}
}

func TestDemoRemovesItsTempDir(t *testing.T) {
	tmp := t.TempDir()
	d := startDaemon(t, []string{"TMPDIR=" + tmp}, "demo")
	var dir string
	eventually(t, 20*time.Second, "the demo banner", func() bool {
		for _, l := range strings.Split(d.logs(), "\n") {
			if s, ok := strings.CutPrefix(l, "Drop files into "); ok {
				dir, _, _ = strings.Cut(s, " — ")
			}
		}
		return dir != "" && strings.Contains(d.logs(), "sftpwatchd running")
	})
	if !strings.HasPrefix(dir, tmp) {
		t.Fatalf("the demo serves %q, not a new dir under $TMPDIR %s", dir, tmp)
	}
	writeFile(t, filepath.Join(dir, "dropped.txt"), "x")
	if code := d.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("Ctrl-C: exit %d\n%s", code, d.logs())
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the demo left %v in $TMPDIR", left)
	}

	// A --dir the user gave is kept, with its files.
	keep := filepath.Join(tmp, "mine")
	d = startDaemon(t, nil, "demo", "--dir", keep)
	eventually(t, 20*time.Second, "the demo banner", func() bool { return strings.Contains(d.logs(), "sftpwatchd running") })
	writeFile(t, filepath.Join(keep, "kept.txt"), "x")
	if code := d.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("Ctrl-C: exit %d\n%s", code, d.logs())
	}
	if _, err := os.Stat(filepath.Join(keep, "kept.txt")); err != nil {
		t.Errorf("the demo removed the --dir it was given: %v", err)
	}
}

// TestActionDialErrorNamesTheKey: a download whose connection cannot be
// dialled again names the host key, the address and the fix in its retry
// log and its dead letter's reason, as a scan does.
func TestActionDialErrorNamesTheKey(t *testing.T) {
	e := newEnv(t)
	e.put("a.csv", "a", time.Now().Add(-time.Hour))
	started, release := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "release")
	e.writeConfig(fmt.Sprintf(`  - name: in
    host: local
    path: %q
    interval: 1h
    settle: 0s
    initial: emit
    retry: {max_attempts: 1}
    actions:
      - {type: exec, command: ["/bin/sh", "-c", "touch %s; while [ ! -e %s ]; do sleep 0.05; done"]}
      - {type: download, dest: %q}
`, e.remote, started, release, filepath.Join(e.dir, "dl")))
	d := startDaemon(t, nil, "run", "-c", e.config)
	eventually(t, 20*time.Second, "the exec step to start", func() bool { _, err := os.Stat(started); return err == nil })
	e.srv.Stop() // the scan's connection goes with it; the download must dial again
	writeFile(t, release, "")
	want := "hosts.local (" + e.srv.Addr + "): dial tcp " + e.srv.Addr + ": connect: connection refused; check hosts.local.address"
	eventually(t, 30*time.Second, "the dead letter", func() bool { return strings.Contains(d.logs(), `"msg":"event dead-lettered"`) })
	for _, l := range strings.Split(d.logs(), "\n") {
		if strings.Contains(l, `"msg":"event dead-lettered"`) && !strings.Contains(l, want) {
			t.Errorf("the dead letter's reason does not name the key and the address (want %q):\n%s", want, l)
		}
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
}
