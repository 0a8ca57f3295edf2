package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

func testExe(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func newExec(t *testing.T, cfg config.Action, log *zap.Logger) *Exec {
	t.Helper()
	cfg.Type = "exec"
	a, err := New(cfg, Deps{Watch: "w", Host: "h", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return a.(*Exec)
}

func TestExecHostileNamesAreOneArgumentEach(t *testing.T) {
	exe := testExe(t)
	hostile := []string{
		"plain.csv", "with space.csv", "new\nline.csv", "tab\there.csv", "$(touch PWNED)", "`touch PWNED`",
		"; touch PWNED", "| touch PWNED", "> PWNED", `"double"`, "'single'", "ünïcødé-日本語.csv", "-rf", "*",
		`back\slash`, "--", "$HOME", "%s%n", "a=b",
	}
	for _, name := range hostile {
		t.Run(strconv.Quote(name), func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(t.TempDir(), "record.json")
			a := newExec(t, config.Action{
				Command: []string{exe, "{{.Name}}", "{{.RelPath}}", "{{.Path}}", "{{.OldPath}}", "x{{.LocalPath}}y",
					"{{.Size}}", "{{.MTime}}", "{{.ID}} {{.Type}} {{.Watch}} {{.Host}}", "$(touch PWNED)"},
				Env: childEnv(map[string]string{childModeEnv: "record", childOutEnv: out, "MODE": "batch"}),
				Dir: dir,
			}, nil)
			ev := &event.Event{ID: "w-000000000042", Watch: "w", Host: "h", Type: event.Rename,
				Path: "/upload/sub dir/" + name, RelPath: "sub dir/" + name, Name: name, EntryType: "file",
				Size: 1234, MTime: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Mode: "0644",
				OldPath: "/upload/old " + name, LocalPath: "/data/" + name}
			if err := a.Run(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			var rec childRecord
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatal(err)
			}
			want := []string{name, "sub dir/" + name, "/upload/sub dir/" + name, "/upload/old " + name,
				"x/data/" + name + "y", "1234", "2026-11-24T10:00:00Z", "w-000000000042 rename w h", "$(touch PWNED)"}
			if !slices.Equal(rec.Args, want) {
				t.Fatalf("argv:\n got %q\nwant %q", rec.Args, want)
			}
			evJSON, _ := json.Marshal(ev)
			if rec.Stdin != string(evJSON) {
				t.Fatalf("stdin = %q, want %q", rec.Stdin, evJSON)
			}
			if rec.Cwd != dir {
				t.Fatalf("cwd = %q, want %q", rec.Cwd, dir)
			}
			env := map[string]string{}
			for _, kv := range rec.Env {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			for k, v := range map[string]string{
				"MODE": "batch", "SFTPWATCHD_EVENT_ID": ev.ID, "SFTPWATCHD_EVENT_TYPE": "rename",
				"SFTPWATCHD_WATCH": "w", "SFTPWATCHD_HOST": "h", "SFTPWATCHD_PATH": ev.Path,
				"SFTPWATCHD_REL_PATH": ev.RelPath, "SFTPWATCHD_SIZE": "1234",
				"SFTPWATCHD_MTIME": "2026-11-24T10:00:00Z", "SFTPWATCHD_LOCAL_PATH": ev.LocalPath,
				"SFTPWATCHD_OLD_PATH": ev.OldPath,
			} {
				if env[k] != v {
					t.Errorf("env %s = %q, want %q", k, env[k], v)
				}
			}
			if _, ok := env["PATH"]; !ok {
				t.Error("daemon environment (PATH) not passed on")
			}
			for _, d := range []string{dir, "."} {
				if _, err := os.Stat(filepath.Join(d, "PWNED")); err == nil {
					t.Fatalf("PWNED created in %s", d)
				}
			}
		})
	}
}

func TestExecOptionalEnvUnset(t *testing.T) {
	out := filepath.Join(t.TempDir(), "record.json")
	a := newExec(t, config.Action{Command: []string{testExe(t)},
		Env: childEnv(map[string]string{childModeEnv: "record", childOutEnv: out})}, nil)
	if err := a.Run(context.Background(), &event.Event{ID: "i", Type: event.Create, Path: "/p"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	var rec childRecord
	_ = json.Unmarshal(b, &rec)
	for _, kv := range rec.Env {
		if strings.HasPrefix(kv, "SFTPWATCHD_LOCAL_PATH=") || strings.HasPrefix(kv, "SFTPWATCHD_OLD_PATH=") {
			t.Errorf("unset field exported: %q", kv)
		}
	}
	if len(rec.Args) != 0 {
		t.Errorf("args = %q", rec.Args)
	}
}

func TestExecTemplateErrorsAtConstruction(t *testing.T) {
	for _, cmd := range [][]string{{"/bin/true", "{{.Nope}}"}, {"/bin/true", "{{.Name"}, {}, {""},
		{"/bin/true", "{{.Prev.Size}}"}} {
		if _, err := New(config.Action{Type: "exec", Command: cmd}, Deps{}); err == nil {
			t.Errorf("command %q accepted", cmd)
		}
	}
}

func TestExecNonZeroExitIsRetryable(t *testing.T) {
	exe := testExe(t)
	a := newExec(t, config.Action{Command: []string{exe}, Env: childEnv(map[string]string{childModeEnv: "fail"})}, nil)
	err := a.Run(context.Background(), &event.Event{ID: "i", Type: event.Create})
	if err == nil || IsPermanent(err) {
		t.Fatalf("err = %v, want retryable", err)
	}
	for _, s := range []string{exe, "exit status 3", "boom: the ingest failed"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
	if len(err.Error()) > 1024+len(exe) {
		t.Errorf("error message unbounded: %d bytes", len(err.Error()))
	}
}

func TestExecNotRunnableIsPermanent(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, argv0 := range []string{"/nonexistent/sftpwatchd-ingest", "sftpwatchd-no-such-command-xyz", notExec, dir} {
		a := newExec(t, config.Action{Command: []string{argv0}}, nil)
		err := a.Run(context.Background(), &event.Event{ID: "i", Type: event.Create})
		if !IsPermanent(err) || !strings.Contains(err.Error(), argv0) {
			t.Errorf("%q: err = %v, want permanent naming the command", argv0, err)
		}
	}
	a := newExec(t, config.Action{Command: []string{testExe(t)}, Dir: filepath.Join(dir, "missing")}, nil)
	if err := a.Run(context.Background(), &event.Event{}); !IsPermanent(err) {
		t.Errorf("missing dir: err = %v, want permanent", err)
	}
}

func TestExecOutputBoundedAndLogged(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	a := newExec(t, config.Action{Command: []string{testExe(t)}, Env: childEnv(map[string]string{childModeEnv: "spew"})},
		zap.New(core))
	if err := a.Run(context.Background(), &event.Event{ID: "i", Type: event.Create}); err != nil {
		t.Fatal(err)
	}
	ents := logs.FilterMessage("exec ok").All()
	if len(ents) != 1 {
		t.Fatalf("log entries: %v", logs.All())
	}
	f := ents[0].ContextMap()
	stdout, _ := f["stdout"].(string)
	if len(stdout) > execOutputLimit+100 || len(stdout) < execOutputLimit {
		t.Fatalf("logged stdout is %d bytes, want about %d", len(stdout), execOutputLimit)
	}
	if f["stdout_truncated"] != true || f["stderr"] != "small" || f["stderr_truncated"] != false {
		t.Fatalf("fields: truncated=%v stderr=%v", f["stdout_truncated"], f["stderr"])
	}
	if f["watch"] != "w" || f["action"] != "exec" {
		t.Fatalf("logger not scoped: %v", f)
	}
}

// readPid polls for the pid file the "group"/"orphan" child writes.
func readPid(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(file); err == nil && len(b) > 0 {
			pid, err := strconv.Atoi(string(b))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("child never wrote its grandchild's pid")
	return 0
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// state is the field after the ")" that ends the command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("grandchild %d still alive", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	a := newExec(t, config.Action{Command: []string{testExe(t)}, Timeout: 1500 * time.Millisecond,
		Env: childEnv(map[string]string{childModeEnv: "group", childOutEnv: pidFile})}, nil)
	start := time.Now()
	err := a.Run(context.Background(), &event.Event{ID: "i", Type: event.Create})
	took := time.Since(start)
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want retryable timeout", err)
	}
	if took > 1500*time.Millisecond+execWaitDelay {
		t.Fatalf("Run took %s", took)
	}
	waitGone(t, readPid(t, pidFile))
}

func TestExecCancelKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	a := newExec(t, config.Action{Command: []string{testExe(t)}, Timeout: time.Hour,
		Env: childEnv(map[string]string{childModeEnv: "group", childOutEnv: pidFile})}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx, &event.Event{ID: "i", Type: event.Create}) }()
	pid := readPid(t, pidFile)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	waitGone(t, pid)
}

func TestExecLeftoverProcessHoldingOutputDoesNotHang(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	a := newExec(t, config.Action{Command: []string{testExe(t)},
		Env: childEnv(map[string]string{childModeEnv: "orphan", childOutEnv: pidFile})}, nil)
	a.waitDelay = 200 * time.Millisecond
	errc := make(chan error, 1)
	go func() { errc <- a.Run(context.Background(), &event.Event{ID: "i", Type: event.Create}) }()
	pid := readPid(t, pidFile)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("exit 0 with a leftover holding stdout: err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run hung on a grandchild holding stdout")
	}
}

// childEnv adds GORACE so that a race-enabled child does not sleep a second
// at exit (the race runtime's atexit_sleep_ms).
func childEnv(m map[string]string) map[string]string {
	m["GORACE"] = "atexit_sleep_ms=0"
	return m
}
