package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestVersion(t *testing.T) {
	r := sftpwatchd(t, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "sftpwatchd ") || !strings.Contains(r.stdout, "go1.") {
		t.Fatalf("version: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"ls"}, {"check", "--nope"}, {"once", "extra-arg"}} {
		r := sftpwatchd(t, nil, args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, r.code, r.stderr)
		}
	}
}

func TestCheckConfigProblems(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(cfg, []byte(`
hosts:
  h: {address: "127.0.0.1:1", user: u, password: p, insecure_ignore_host_key: true}
watches:
  - name: w
    host: hh
    path: relative/path
    intervall: 5s
    actions:
      - {type: download, dset: /tmp}
`), 0o600)
	r := sftpwatchd(t, nil, "check", "-c", cfg)
	if r.code != 2 {
		t.Fatalf("check of a bad config: exit %d, want 2; stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"watches[0].intervall", `"interval"`, "watches[0].host", "watches[0].path", "watches[0].actions[0].dset", `"dest"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestCheckMissingConfig(t *testing.T) {
	r := sftpwatchd(t, []string{"SFTPWATCHD_CONFIG=/nonexistent/x.yaml"}, "check")
	if r.code != 2 || !strings.Contains(r.stderr, "/nonexistent/x.yaml") {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
}

func TestCheckConnect(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(fmt.Sprintf("  - {name: in, host: local, path: %q}\n", e.remote))
	r := sftpwatchd(t, nil, "check", "-c", e.config)
	if r.code != 0 {
		t.Fatalf("check: exit %d stderr %s", r.code, r.stderr)
	}
	r = sftpwatchd(t, nil, "check", "--connect", "-c", e.config)
	if r.code != 0 || !strings.Contains(r.stdout, `watch "in"`) {
		t.Fatalf("check --connect: exit %d stdout %q stderr %s", r.code, r.stdout, r.stderr)
	}
	// Progress goes to stderr only on a terminal: here it is a pipe.
	if strings.Contains(r.stderr, "\r") {
		t.Errorf("progress written to a non-terminal stderr: %q", r.stderr)
	}

	// A watch path that does not exist.
	e.writeConfig(fmt.Sprintf("  - {name: in, host: local, path: %q}\n", e.remote+"/missing"))
	r = sftpwatchd(t, nil, "check", "--connect", "-c", e.config)
	if r.code != 1 || !strings.Contains(r.stderr, "missing") || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("missing path: exit %d stderr %q", r.code, r.stderr)
	}

	// A file where the watch path should be a directory.
	e.put("afile", "x", time.Now())
	e.writeConfig(fmt.Sprintf("  - {name: in, host: local, path: %q}\n", e.remote+"/afile"))
	r = sftpwatchd(t, nil, "check", "--connect", "-c", e.config)
	if r.code != 1 || !strings.Contains(r.stderr, "not a directory") {
		t.Fatalf("file as path: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestCheckConnectUnknownHostKey(t *testing.T) {
	e := newEnv(t)
	empty := filepath.Join(e.dir, "empty_known_hosts")
	os.WriteFile(empty, nil, 0o600)
	cfg := fmt.Sprintf(`state_dir: %q
hosts:
  local: {address: %q, user: %q, private_key_file: %q, known_hosts_file: %q}
watches:
  - {name: in, host: local, path: %q}
`, e.stateDir, e.srv.Addr, e.srv.User, e.srv.ClientKeyFile, empty, e.remote)
	os.WriteFile(e.config, []byte(cfg), 0o600)
	r := sftpwatchd(t, nil, "check", "--connect", "-c", e.config)
	if r.code != 1 || !strings.Contains(r.stderr, "host key") || !strings.Contains(r.stderr, e.srv.Addr) {
		t.Fatalf("unknown host key: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestLs(t *testing.T) {
	e := newEnv(t)
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e.put("b.csv", "12345", old)
	e.put("a/c.csv", "1", old)
	e.put("a/skip.part", "1", old)
	e.put(".hidden/x.csv", "1", old)
	e.put("line\nbreak.csv", "1", old)
	e.writeConfig(fmt.Sprintf("  - name: in\n    host: local\n    path: %q\n    include: [\"**/*.csv\"]\n    exclude: [\"**/*.part\", \"**/.*\"]\n", e.remote))

	r := sftpwatchd(t, nil, "ls", "--watch", "in", "-c", e.config)
	if r.code != 0 {
		t.Fatalf("ls: exit %d stderr %s", r.code, r.stderr)
	}
	want := "file 1 2026-01-02T03:04:05Z a/c.csv\nfile 5 2026-01-02T03:04:05Z b.csv\nfile 1 2026-01-02T03:04:05Z \"line\\nbreak.csv\"\n"
	if r.stdout != want {
		t.Fatalf("ls output:\n%q\nwant:\n%q", r.stdout, want)
	}

	r = sftpwatchd(t, nil, "ls", "--watch", "in", "--json", "-c", e.config)
	if r.code != 0 {
		t.Fatalf("ls --json: exit %d stderr %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("ls --json: %d lines, want 3: %q", len(lines), r.stdout)
	}
	var got struct {
		Type    string `json:"type"`
		RelPath string `json:"rel_path"`
		Size    int64  `json:"size"`
	}
	if err := json.Unmarshal([]byte(lines[2]), &got); err != nil || got.RelPath != "line\nbreak.csv" {
		t.Fatalf("ls --json line %q: %+v %v", lines[2], got, err)
	}

	r = sftpwatchd(t, nil, "ls", "--watch", "nope", "-c", e.config)
	if r.code != 2 || !strings.Contains(r.stderr, `"nope"`) {
		t.Fatalf("ls unknown watch: exit %d stderr %q", r.code, r.stderr)
	}
}
