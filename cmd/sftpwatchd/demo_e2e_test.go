package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "drop")
	d := startDaemon(t, nil, "demo", "--dir", dir)
	eventually(t, 20*time.Second, "the demo banner", func() bool {
		return strings.Contains(d.logs(), "Drop files into "+dir) && strings.Contains(d.logs(), "sftpwatchd running")
	})
	if err := os.WriteFile(filepath.Join(dir, "hello world.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the create event", func() bool {
		return strings.Contains(d.logs(), `"type": "create"`) && strings.Contains(d.logs(), `"rel_path": "hello world.txt"`)
	})
	os.Remove(filepath.Join(dir, "hello world.txt"))
	eventually(t, 20*time.Second, "the delete event", func() bool {
		return strings.Contains(d.logs(), `"type": "delete"`)
	})
	if code := d.stop(t, syscall.SIGINT); code != 0 {
		t.Fatalf("Ctrl-C: exit %d\n%s", code, d.logs())
	}
}

func TestHealthAndReadinessFromOutside(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	dead := freeAddr(t) // nothing listens there: the host is down
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`state_dir: %q
http: {listen: %q}
hosts:
  down: {address: %q, user: u, password: p, host_key_fingerprint: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", connect_timeout: 1s}
watches:
  - {name: in, host: down, path: /upload, interval: 1s}
`, filepath.Join(dir, "state"), addr, dead)), 0o600)
	d := startDaemon(t, nil, "run", "-c", cfg)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, 20*time.Second, "/healthz", func() bool { c, _ := get("/healthz"); return c == 200 })
	eventually(t, 20*time.Second, "an error scan", func() bool {
		return metricInt(t, addr, `sftpwatchd_scans_total{result="error",watch="in"}`) > 0
	})
	code, body := get("/readyz")
	if code != 503 || !strings.Contains(body, `"in"`) {
		t.Fatalf("/readyz with the host down: %d %s", code, body)
	}
	if n := metricInt(t, addr, `sftpwatchd_sftp_dials_total{host="down",result="error"}`); n == 0 {
		t.Errorf("failed dials not counted")
	}
	if c := d.stop(t, syscall.SIGTERM); c != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", c, d.logs())
	}
}

func TestDownloadRefusesTraversal(t *testing.T) {
	e := newEnv(t)
	dest := filepath.Join(e.dir, "dl")
	outside := filepath.Join(e.dir, "outside")
	os.MkdirAll(dest, 0o755)
	os.MkdirAll(outside, 0o755)
	// A symlink inside dest pointing out, and a remote symlink to /etc/passwd.
	os.Symlink(outside, filepath.Join(dest, "sub"))
	e.put("sub/evil.csv", "would land outside", time.Now().Add(-time.Hour))
	os.Symlink("/etc/passwd", filepath.Join(e.remote, "passwd.csv"))
	e.writeConfig(fmt.Sprintf("  - name: in\n    host: local\n    path: %q\n    settle: 0s\n    initial: emit\n    types: [file, symlink]\n    actions:\n      - {type: download, dest: %q}\n", e.remote, dest))

	r := sftpwatchd(t, nil, "once", "-c", e.config)
	if r.code != 1 || !strings.Contains(r.stderr, "2 events went to the dead-letter store") {
		t.Fatalf("once: exit %d\nstderr %s", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("written outside dest: %v", entries)
	}
	if _, err := os.Lstat(filepath.Join(dest, "passwd.csv")); err == nil {
		t.Fatal("a remote symlink to /etc/passwd was downloaded")
	}
	for _, want := range []string{"sub/evil.csv", "passwd.csv"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refusal does not name %q:\n%s", want, r.stderr)
		}
	}
}
