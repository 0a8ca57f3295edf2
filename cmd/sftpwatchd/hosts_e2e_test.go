package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// hostEntry is one host block (YAML, under hosts:) logging in to s with
// its client key; extra holds further keys ("    jump: x\n").
func hostEntry(name string, s *sshdtest.Server, knownHosts, extra string) string {
	return fmt.Sprintf("  %s:\n    address: %q\n    user: %q\n    private_key_file: %q\n    known_hosts_file: %q\n    connect_timeout: 5s\n%s",
		name, s.Addr, s.User, s.ClientKeyFile, knownHosts, extra)
}

// writeHostsConfig writes a config with the given hosts: entries and one
// watch "in" on host (initial: emit, so a once run reports what is there).
func writeHostsConfig(t *testing.T, file, stateDir, hosts, host, path string) {
	t.Helper()
	cfg := fmt.Sprintf("state_dir: %q\nlog: {level: info, format: json}\nhttp: {listen: \"\"}\nhosts:\n%swatches:\n  - {name: in, host: %s, path: %q, initial: emit, settle: 0s, interval: 1s, types: [file]}\n",
		stateDir, hosts, host, path)
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// putOld writes a file with an mtime an hour ago under dir.
func putOld(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
}

// onceSees runs `once --json` and asserts it reports a create of rel.
func onceSees(t *testing.T, config, rel string) {
	t.Helper()
	r := sftpwatchd(t, nil, "once", "--json", "-c", config)
	if r.code != 0 {
		t.Fatalf("once: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	evs := parseEvents(t, r.stdout)
	if len(evs) != 1 || evs[0].Type != event.Create || evs[0].RelPath != rel {
		t.Fatalf("once: events %+v, want one create of %s\nstderr %s", evs, rel, r.stderr)
	}
}

func mustWrite(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHostsUserCertificate: sshd trusts only certificates of a user CA;
// with certificate_file the watch works; an expired certificate passes
// check (the file parses) but fails check --connect and once naming the
// file and its validity; a file that is no certificate fails check.
func TestHostsUserCertificate(t *testing.T) {
	ca := sshdtest.NewCA(t, "user_ca")
	srv := sshdtest.Start(t, sshdtest.WithTrustedUserCA(ca, true))
	dir := t.TempDir()
	config, state := filepath.Join(dir, "sftpwatchd.yaml"), filepath.Join(dir, "state")
	remote := filepath.Join(srv.Root, "upload")
	putOld(t, remote, "a.csv", "a")

	write := func(cert string) {
		writeHostsConfig(t, config, state, hostEntry("local", srv, srv.KnownHostsFile, fmt.Sprintf("    certificate_file: %q\n", cert)), "local", remote)
	}
	write(ca.SignUserKey(srv.ClientPublicKey, "id", srv.User, "+1h"))
	if r := sftpwatchd(t, nil, "check", "--connect", "-c", config); r.code != 0 {
		t.Fatalf("check --connect: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	onceSees(t, config, "a.csv")
	if !strings.Contains(srv.Log(), "ED25519-CERT") {
		t.Errorf("sshd did not see a certificate login:\n%s", srv.Log())
	}

	expired := ca.SignUserKey(srv.ClientPublicKey, "id", srv.User, "-2h:-1h")
	write(expired)
	if r := sftpwatchd(t, nil, "check", "-c", config); r.code != 0 {
		t.Fatalf("check of a config with an expired (but well-formed) certificate: exit %d stderr %s", r.code, r.stderr)
	}
	r := sftpwatchd(t, nil, "check", "--connect", "-c", config)
	if r.code != 1 || !strings.Contains(r.stderr, "certificate_file "+expired+" has expired") || !strings.Contains(r.stderr, "valid from ") {
		t.Fatalf("check --connect with an expired certificate: exit %d stderr %q", r.code, r.stderr)
	}
	putOld(t, remote, "b.csv", "b")
	if r := sftpwatchd(t, nil, "once", "-c", config); r.code != 1 || !strings.Contains(r.stderr, "has expired") {
		t.Fatalf("once with an expired certificate: exit %d stderr %q", r.code, r.stderr)
	}

	write(mustWrite(t, filepath.Join(dir, "not-a-cert.pub"), string(ssh.MarshalAuthorizedKey(srv.ClientPublicKey))))
	r = sftpwatchd(t, nil, "check", "-c", config)
	if r.code != 2 || !strings.Contains(r.stderr, "hosts.local.certificate_file") || !strings.Contains(r.stderr, "not a certificate") {
		t.Fatalf("check with a plain public key as certificate_file: exit %d stderr %q", r.code, r.stderr)
	}
}

// TestHostsCertAuthority: known_hosts holds only a @cert-authority line
// for the server, whose host key the CA signed: the watch works; adding a
// @revoked line for the host key refuses it.
func TestHostsCertAuthority(t *testing.T) {
	hostCA := sshdtest.NewCA(t, "host_ca")
	srv := sshdtest.Start(t, sshdtest.WithHostCertificate(hostCA, "+1h", "127.0.0.1"))
	dir := t.TempDir()
	config, state := filepath.Join(dir, "sftpwatchd.yaml"), filepath.Join(dir, "state")
	remote := filepath.Join(srv.Root, "upload")
	putOld(t, remote, "a.csv", "a")
	caLine := hostCA.KnownHostsLine("[127.0.0.1]:" + strconv.Itoa(srv.Port) + ",127.0.0.1")
	known := mustWrite(t, filepath.Join(dir, "known_hosts"), caLine)

	writeHostsConfig(t, config, state, hostEntry("local", srv, known, ""), "local", remote)
	if r := sftpwatchd(t, nil, "check", "--connect", "-c", config); r.code != 0 {
		t.Fatalf("check --connect: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	onceSees(t, config, "a.csv")

	mustWrite(t, known, caLine+"@revoked * "+string(ssh.MarshalAuthorizedKey(srv.HostPublicKey)))
	logins := srv.CountLog("Accepted publickey")
	r := sftpwatchd(t, nil, "check", "--connect", "-c", config)
	if r.code != 1 || !strings.Contains(r.stderr, "@revoked") || !strings.Contains(r.stderr, ssh.FingerprintSHA256(srv.HostPublicKey)) {
		t.Fatalf("check --connect with the host key revoked: exit %d stderr %q", r.code, r.stderr)
	}
	if srv.CountLog("Accepted publickey") != logins {
		t.Errorf("the client logged in to a server whose host key is revoked")
	}
}

// TestHostsJump: the watched server listens where only the bastion can
// reach it (127.0.0.1 in a network namespace); hosts.inner.jump: bastion
// makes check --connect and once work, a chain of two jumps too, and a
// failing hop is named.
func TestHostsJump(t *testing.T) {
	top := sshdtest.StartJumpTopology(t, 2)
	bastion, mid, inner := top.Bastion, top.Inner[0], top.Inner[1]
	dir := t.TempDir()
	config, state := filepath.Join(dir, "sftpwatchd.yaml"), filepath.Join(dir, "state")
	remote := filepath.Join(inner.Root, "upload")
	putOld(t, remote, "a.csv", "a")

	if top.Isolated {
		// Without the jump the server cannot be reached.
		writeHostsConfig(t, config, state, hostEntry("inner", inner, inner.KnownHostsFile, ""), "inner", remote)
		if r := sftpwatchd(t, nil, "check", "--connect", "-c", config); r.code != 1 {
			t.Fatalf("check --connect without the jump: exit %d, want 1 (unreachable)\nstderr %s", r.code, r.stderr)
		}
	}

	hosts := hostEntry("bastion", bastion, bastion.KnownHostsFile, "") +
		hostEntry("inner", inner, inner.KnownHostsFile, "    jump: bastion\n")
	writeHostsConfig(t, config, state, hosts, "inner", remote)
	if r := sftpwatchd(t, nil, "check", "--connect", "-c", config); r.code != 0 {
		t.Fatalf("check --connect through the jump: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	onceSees(t, config, "a.csv")
	if bastion.CountLog("Accepted publickey") < 2 || inner.CountLog("Accepted publickey for "+inner.User+" from 127.0.0.1") < 2 {
		t.Errorf("the logins did not go through the bastion:\nbastion:\n%s\ninner:\n%s", bastion.Log(), inner.Log())
	}

	// A failing hop is named.
	empty := mustWrite(t, filepath.Join(dir, "empty_known_hosts"), "")
	writeHostsConfig(t, config, state, hostEntry("bastion", bastion, empty, "")+
		hostEntry("inner", inner, inner.KnownHostsFile, "    jump: bastion\n"), "inner", remote)
	r := sftpwatchd(t, nil, "check", "--connect", "-c", config)
	if want := "hosts.inner via hosts.bastion: jump host hosts.bastion (" + bastion.Addr + ") failed: host key"; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("check --connect with the bastion's host key unknown: exit %d stderr %q, want %q", r.code, r.stderr, want)
	}
	writeHostsConfig(t, config, state, hostEntry("bastion", bastion, bastion.KnownHostsFile, "")+
		hostEntry("inner", inner, empty, "    jump: bastion\n"), "inner", remote)
	r = sftpwatchd(t, nil, "check", "--connect", "-c", config)
	if want := "hosts.inner via hosts.bastion: hosts.inner (" + inner.Addr + ", as seen from hosts.bastion) failed: host key"; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("check --connect with the inner host key unknown: exit %d stderr %q, want %q", r.code, r.stderr, want)
	}

	// A chain of two: bastion → mid → inner.
	midLogins := mid.CountLog("Accepted publickey")
	putOld(t, remote, "b.csv", "b")
	writeHostsConfig(t, config, filepath.Join(dir, "state2"), hostEntry("bastion", bastion, bastion.KnownHostsFile, "")+
		hostEntry("mid", mid, mid.KnownHostsFile, "    jump: bastion\n")+
		hostEntry("inner", inner, inner.KnownHostsFile, "    jump: mid\n"), "inner", remote)
	r = sftpwatchd(t, nil, "once", "--json", "-c", config)
	if evs := parseEvents(t, r.stdout); r.code != 0 || len(evs) != 2 {
		t.Fatalf("once through two jumps: exit %d events %+v\nstderr %s", r.code, evs, r.stderr)
	}
	if mid.CountLog("Accepted publickey") <= midLogins {
		t.Errorf("the chain did not log in to the middle hop:\n%s", mid.Log())
	}

	// A loop is a config error naming the key.
	writeHostsConfig(t, config, state, hostEntry("bastion", bastion, bastion.KnownHostsFile, "    jump: inner\n")+
		hostEntry("inner", inner, inner.KnownHostsFile, "    jump: bastion\n"), "inner", remote)
	r = sftpwatchd(t, nil, "check", "-c", config)
	if r.code != 2 || !strings.Contains(r.stderr, "hosts.inner.jump") || !strings.Contains(r.stderr, "loop of jump hosts") {
		t.Fatalf("check with a loop of jump hosts: exit %d stderr %q", r.code, r.stderr)
	}
}

// TestHostsJumpDaemonReconnects: `run` watches a server behind the
// bastion; the bastion restarts (every connection through it dies), and a
// file created afterwards is still delivered: the pool redials through the
// jump.
func TestHostsJumpDaemonReconnects(t *testing.T) {
	top := sshdtest.StartJumpTopology(t, 1)
	bastion, inner := top.Bastion, top.Inner[0]
	dir := t.TempDir()
	config, recv := filepath.Join(dir, "sftpwatchd.yaml"), filepath.Join(dir, "events.json")
	remote := filepath.Join(inner.Root, "upload")
	putOld(t, remote, "early.csv", "e")
	cfg := fmt.Sprintf("state_dir: %q\nshutdown_timeout: 5s\nlog: {level: debug, format: json}\nhttp: {listen: \"\"}\nhosts:\n%s%swatches:\n%s",
		filepath.Join(dir, "state"),
		hostEntry("bastion", bastion, bastion.KnownHostsFile, "    keepalive: 1s\n"),
		hostEntry("local", inner, inner.KnownHostsFile, "    jump: bastion\n    keepalive: 1s\n"),
		teeWatch(remote, recv, ""))
	mustWrite(t, config, cfg)

	d := startDaemon(t, nil, "run", "-c", config)
	d.waitScan(t)
	bastion.Restart()
	putOld(t, remote, "late.csv", "l")
	eventually(t, 30*time.Second, "the create of late.csv after the bastion restarted", func() bool {
		for _, ev := range received(t, recv) {
			if ev.RelPath == "late.csv" && ev.Type == event.Create {
				return true
			}
		}
		return false
	})
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
	if n := inner.CountLog("Accepted publickey for " + inner.User + " from 127.0.0.1"); n < 2 {
		t.Errorf("the inner server saw %d logins through the bastion, want a new one after its restart:\n%s", n, inner.Log())
	}
}
