package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// A hung server never wedges the daemon (SPEC section 4). The server here
// is real OpenSSH; "hung" is its internal-sftp session processes stopped
// with SIGSTOP (sshdtest StopSFTP), so the SSH transport lives on and
// answers keepalives, as when sftp-server blocks on a dead NFS mount.

// writeHangConfig writes the env's config with the given request_timeout
// and shutdown_timeout, metrics on addr, and the watches. With second, a
// host "local2" reaches the same sshd over connections of its own.
func (e *env) writeHangConfig(addr, requestTimeout, shutdownTimeout string, second bool, watches string) {
	e.t.Helper()
	hosts := strings.Replace(e.hostYAML(), "    keepalive: 2s\n", "    keepalive: 2s\n    request_timeout: "+requestTimeout+"\n", 1)
	if second {
		hosts += strings.Replace(strings.TrimPrefix(hosts, "hosts:\n"), "  local:\n", "  local2:\n", 1)
	}
	cfg := fmt.Sprintf("state_dir: %q\nshutdown_timeout: %s\nlog: {level: debug, format: json}\nhttp: {listen: %q}\n%swatches:\n%s",
		e.stateDir, shutdownTimeout, addr, hosts, watches)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// gatedDownloadWatch is a watch "in" whose events run an exec step that
// touches started and waits for the file gate to exist, then a download
// into dest: a test can freeze the server between the two, so that the
// download meets it from its first request on.
func gatedDownloadWatch(remote, started, gate, dest string) string {
	return fmt.Sprintf(`  - name: in
    host: local
    path: %q
    interval: 200ms
    settle: 0s
    types: [file]
    retry: {max_attempts: 50, initial_backoff: 200ms, max_backoff: 1s}
    actions:
      - {type: exec, command: [sh, -c, 'touch "$0"; while [ ! -e "$1" ]; do sleep 0.05; done', %q, %q], timeout: 5m}
      - {type: download, dest: %q}
`, remote, started, gate, dest)
}

const (
	okScans    = `sftpwatchd_scans_total{result="ok",watch="in"}`
	errorScans = `sftpwatchd_scans_total{result="error",watch="in"}`
)

// startGated starts a daemon with gatedDownloadWatch, drops a random file
// of size bytes on the server once the watch has scanned, and freezes the
// server when the event's exec step runs, before its download starts. It
// returns the daemon, the file's content, where it lands, the gate to
// touch and the function resuming the server.
func startGated(t *testing.T, e *env, addr, requestTimeout, shutdownTimeout string, size int) (d *daemonProc, content []byte, local, gate string, resume func()) {
	t.Helper()
	started := filepath.Join(e.dir, "started")
	gate = filepath.Join(e.dir, "gate")
	dest := filepath.Join(e.dir, "dest")
	e.writeHangConfig(addr, requestTimeout, shutdownTimeout, false, gatedDownloadWatch(e.remote, started, gate, dest))
	d = startDaemon(t, nil, "run", "-c", e.config)
	eventually(t, 20*time.Second, "an ok scan", func() bool { return metricInt(t, addr, okScans) > 0 })
	content = make([]byte, size)
	rand.Read(content)
	e.put("big.bin", string(content), time.Now().Add(-time.Hour))
	eventually(t, 20*time.Second, "the exec step before the download", func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	n, resume := e.srv.StopSFTP()
	if n == 0 {
		t.Fatal("no internal-sftp process to stop")
	}
	return d, content, filepath.Join(dest, "big.bin"), gate, resume
}

// touch creates an empty file.
func touch(t *testing.T, p string) {
	t.Helper()
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// timeoutLog is how a request the frozen server left unanswered shows in
// the JSON log (host "local", request_timeout 2s).
const timeoutLog = `no reply from host \"local\" within request_timeout 2s; connection closed`

// TestHangScanDuringFreezeIsErrorAndRecovers: scans on a frozen server
// end as error scans after request_timeout, with no events (no false
// deletes); then scans recover and changes are reported again.
func TestHangScanDuringFreezeIsErrorAndRecovers(t *testing.T) {
	e := newEnv(t)
	recv := filepath.Join(e.dir, "events.json")
	past := time.Now().Add(-time.Hour)
	e.put("a.csv", "a", past)
	e.put("sub/b.csv", "b", past)
	addr := freeAddr(t)
	e.writeHangConfig(addr, "2s", "5s", false, teeWatch(e.remote, recv, ""))
	d := startDaemon(t, nil, "run", "-c", e.config)
	eventually(t, 20*time.Second, "an ok scan", func() bool { return metricInt(t, addr, okScans) > 0 })
	errBefore := metricInt(t, addr, errorScans)

	n, resume := e.srv.StopSFTP()
	if n == 0 {
		t.Fatal("no internal-sftp process to stop")
	}
	eventually(t, 30*time.Second, "an error scan during the freeze", func() bool {
		return metricInt(t, addr, errorScans) > errBefore
	})
	if !strings.Contains(d.logs(), timeoutLog) {
		t.Fatalf("no log line with %q:\n%s", timeoutLog, d.logs())
	}
	resume()
	okAfter := metricInt(t, addr, okScans)
	eventually(t, 30*time.Second, "ok scans after the freeze", func() bool { return metricInt(t, addr, okScans) > okAfter })
	e.put("c.csv", "c", past)
	eventually(t, 20*time.Second, "the create of a file added after the freeze", func() bool {
		return countType(received(t, recv), event.Create, "c.csv") == 1
	})
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
	for _, ev := range received(t, recv) {
		if ev.Type == event.Delete || ev.RelPath != "c.csv" {
			t.Errorf("the freeze produced an event: %s %s", ev.Type, ev.RelPath)
		}
	}
}

// TestHangDownloadDuringFreezeIsRetried: a download that meets the frozen
// server fails after request_timeout as a connection error, is retried,
// and completes byte-identical once the server answers again.
func TestHangDownloadDuringFreezeIsRetried(t *testing.T) {
	e := newEnv(t)
	addr := freeAddr(t)
	d, content, local, gate, resume := startGated(t, e, addr, "2s", "5s", 4<<20)
	touch(t, gate)
	eventually(t, 30*time.Second, "the download to fail on the request timeout", func() bool {
		for _, line := range strings.Split(d.logs(), "\n") {
			if strings.Contains(line, `"msg":"action failed; will retry"`) && strings.Contains(line, `"action":"download"`) &&
				strings.Contains(line, timeoutLog) {
				return true
			}
		}
		return false
	})
	resume()
	eventually(t, 30*time.Second, "the retried download", func() bool {
		got, err := os.ReadFile(local)
		return err == nil && bytes.Equal(got, content)
	})
	if n := metricInt(t, addr, `sftpwatchd_dead_letters{watch="in"}`); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
}

// TestHangSIGTERMWhileFrozen: SIGTERM while a download waits on the frozen
// server (request_timeout far away, so only the bounded stop can end it)
// exits 0 within shutdown_timeout + 5 s; the event stays in the outbox and
// is delivered after a restart.
func TestHangSIGTERMWhileFrozen(t *testing.T) {
	e := newEnv(t)
	addr := freeAddr(t)
	d, content, local, gate, resume := startGated(t, e, addr, "10m", "1s", 64<<10)
	touch(t, gate)
	// The download's first request (an LSTAT, which pkg/sftp cannot
	// cancel) is on its way once the exec step's process has exited.
	eventually(t, 20*time.Second, "the exec step to finish", func() bool {
		return metricInt(t, addr, `sftpwatchd_actions_total{action="exec",result="ok",watch="in"}`) == 1
	})
	t0 := time.Now()
	code := d.stop(t, syscall.SIGTERM)
	took := time.Since(t0)
	if code != 0 {
		t.Fatalf("SIGTERM while frozen: exit %d\n%s", code, d.logs())
	}
	if took > 6*time.Second {
		t.Fatalf("SIGTERM while frozen took %v; shutdown_timeout is 1s\n%s", took, d.logs())
	}
	resume()
	d = startDaemon(t, nil, "run", "-c", e.config)
	eventually(t, 30*time.Second, "the download after a restart", func() bool {
		got, err := os.ReadFile(local)
		return err == nil && bytes.Equal(got, content)
	})
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
}

// TestHangSIGHUPWhileFrozen: a reload while a download waits on the frozen
// server (shutdown_timeout and request_timeout far away) returns at once:
// its log line appears promptly and a watch it adds scans.
func TestHangSIGHUPWhileFrozen(t *testing.T) {
	e := newEnv(t)
	addr := freeAddr(t)
	d, _, _, gate, _ := startGated(t, e, addr, "10m", "1m", 64<<10)
	touch(t, gate)
	eventually(t, 20*time.Second, "the exec step to finish", func() bool {
		return metricInt(t, addr, `sftpwatchd_actions_total{action="exec",result="ok",watch="in"}`) == 1
	})
	// Change the frozen watch (its old instance must be stopped) and add
	// one on a host of its own.
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.Replace(cfg, []byte("interval: 200ms"), []byte("interval: 300ms"), 1)
	cfg = fmt.Appendf(cfg, "  - name: extra\n    host: local2\n    path: %q\n    interval: 200ms\n    actions: [{type: log}]\n", e.remote)
	e.writeHangConfig(addr, "10m", "1m", true, string(cfg[bytes.Index(cfg, []byte("watches:\n"))+len("watches:\n"):]))
	reloads := strings.Count(d.logs(), `"msg":"config reloaded"`)
	t0 := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the reload's log line", func() bool {
		return strings.Count(d.logs(), `"msg":"config reloaded"`) > reloads
	})
	if took := time.Since(t0); took > 2*time.Second {
		t.Fatalf("the reload took %v while a watch was stuck on the frozen server", took)
	}
	eventually(t, 20*time.Second, "a scan of the watch the reload added", func() bool {
		return strings.Contains(d.logs(), `"msg":"scan finished","watch":"extra","result":"ok"`)
	})
}
