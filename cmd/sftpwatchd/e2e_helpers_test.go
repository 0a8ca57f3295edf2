package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// binary is the sftpwatchd binary built once by TestMain for the black-box
// tests.
var binary string

// argvHelperEnv makes the test binary act as a program for exec actions:
// it appends its argv (as one JSON line) to the file the variable names.
const argvHelperEnv = "SFTPWATCHD_TEST_ARGV_OUT"

func TestMain(m *testing.M) {
	if out := os.Getenv(argvHelperEnv); out != "" {
		line, _ := json.Marshal(os.Args[1:])
		f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			os.Exit(3)
		}
		f.Write(append(line, '\n'))
		f.Close()
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "sftpwatchd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sftpwatchd")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build sftpwatchd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is a finished command.
type result struct {
	code           int
	stdout, stderr string
}

// sftpwatchd runs the binary to completion with a deadline.
func sftpwatchd(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run sftpwatchd %v: %v", args, err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// env is a test setup: a real sshd, a state dir and a config file.
type env struct {
	t        *testing.T
	srv      *sshdtest.Server
	dir      string // local scratch dir
	stateDir string
	config   string
	remote   string // the watched remote dir (a local path, served by sshd)
}

func newEnv(t *testing.T, opts ...sshdtest.Option) *env {
	t.Helper()
	srv := sshdtest.Start(t, opts...)
	e := &env{t: t, srv: srv, dir: t.TempDir()}
	e.stateDir = filepath.Join(e.dir, "state")
	e.remote = filepath.Join(srv.Root, "upload")
	if err := os.MkdirAll(e.remote, 0o755); err != nil {
		t.Fatal(err)
	}
	e.config = filepath.Join(e.dir, "sftpwatchd.yaml")
	return e
}

// hostYAML is the hosts: section for the env's sshd.
func (e *env) hostYAML() string {
	return fmt.Sprintf(`hosts:
  local:
    address: %q
    user: %q
    private_key_file: %q
    known_hosts_file: %q
    connect_timeout: 5s
    keepalive: 2s
`, e.srv.Addr, e.srv.User, e.srv.ClientKeyFile, e.srv.KnownHostsFile)
}

// writeConfig writes a config with the env's host and the given watches:
// section (YAML, indented as list items under "watches:").
func (e *env) writeConfig(watches string) {
	e.t.Helper()
	cfg := fmt.Sprintf("state_dir: %q\nshutdown_timeout: 5s\nlog: {level: debug, format: json}\nhttp: {listen: \"\"}\n%swatches:\n%s",
		e.stateDir, e.hostYAML(), watches)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// put writes a remote file (through the filesystem sshd serves) with an
// mtime in the past, so it is not held back by min_age.
func (e *env) put(rel, content string, mtime time.Time) {
	e.t.Helper()
	p := filepath.Join(e.remote, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	// Written and dated outside the tree, then renamed in: a scan between
	// the write and the Chtimes would otherwise see the file with the
	// time of the write and report a modify when the mtime is set (with
	// settle 0). A rename across filesystems falls back to writing in place.
	tmp := filepath.Join(e.dir, fmt.Sprintf(".put-%d", time.Now().UnixNano()))
	for _, q := range []string{tmp, p} {
		if err := os.WriteFile(q, []byte(content), 0o644); err != nil {
			e.t.Fatal(err)
		}
		if err := os.Chtimes(q, mtime, mtime); err != nil {
			e.t.Fatal(err)
		}
		if q == p || os.Rename(tmp, p) == nil {
			return
		}
		os.Remove(tmp)
	}
}

// events parses JSON lines of events.
func parseEvents(t *testing.T, s string) []event.Event {
	t.Helper()
	var out []event.Event
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var ev event.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not an event JSON line: %q: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}

// daemon is a running `sftpwatchd run`.
type daemonProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

func (d *daemonProc) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.Write(p)
}

func (d *daemonProc) logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

func startDaemon(t *testing.T, env []string, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{done: make(chan struct{})}
	d.cmd = exec.Command(binary, args...)
	d.cmd.Env = append(os.Environ(), env...)
	d.cmd.Stdout = d
	d.cmd.Stderr = d
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	})
	return d
}

// waitScan waits until the daemon has finished a scan (ok or partial).
func (d *daemonProc) waitScan(t *testing.T) { t.Helper(); d.waitScans(t, 1) }

// waitScans waits until the daemon has finished n scans (ok or partial).
func (d *daemonProc) waitScans(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := d.logs()
		if strings.Count(l, `"msg":"scan finished","watch":"in","result":"ok"`)+
			strings.Count(l, `"msg":"scan finished","watch":"in","result":"partial"`) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d finished scans after 20s; daemon logs:\n%s", n, l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig and returns the exit code.
func (d *daemonProc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("daemon did not exit after %v; logs:\n%s", sig, d.logs())
	}
	return d.cmd.ProcessState.ExitCode()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
