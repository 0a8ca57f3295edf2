package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// runOnPty runs the binary with its stderr on a pseudo-terminal (stdout a
// pipe) and returns the exit code, stdout and what reached the terminal,
// with the terminal's "\r\n" turned back into "\n".
func runOnPty(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot open a pseudo-terminal (CI is set, so this fails): %v", err)
		}
		t.Skipf("*** cannot open a pseudo-terminal: SKIPPING the terminal progress test: %v ***", err)
	}
	defer ptmx.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	var term bytes.Buffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, err := io.Copy(&term, ptmx)
		if err != nil && !errors.Is(err, syscall.EIO) { // EIO: the terminal's last writer is gone
			t.Errorf("read pty: %v", err)
		}
	}()
	err = cmd.Wait()
	<-copied
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), strings.ReplaceAll(term.String(), "\r\n", "\n")
}

// checkProgressOutput asserts that terminal output holds progress (a
// status line containing want), that no log or result line was written
// behind a status line (every line starts right after a clear or a
// newline), and that the status line was cleared at the end.
func checkProgressOutput(t *testing.T, out, want string) {
	t.Helper()
	if !strings.Contains(out, clearLine) || !strings.Contains(out, want) {
		t.Fatalf("no progress %q on the terminal: %q", want, out)
	}
	segs := strings.Split(out, clearLine)
	for i, seg := range segs {
		// A segment is a status line, optionally followed by nothing; a
		// segment holding a newline is only whole lines: no status text
		// before the first of them.
		if nl := strings.IndexByte(seg, '\n'); nl >= 0 {
			first := seg[:nl]
			if !strings.HasPrefix(first, "{") && !strings.HasPrefix(first, "sftpwatchd: ") {
				t.Errorf("segment %d: a line was written behind a status line: %q", i, seg)
			}
		}
	}
	if last := segs[len(segs)-1]; last != "" && !strings.HasSuffix(last, "\n") {
		t.Errorf("the status line was left on the terminal at the end: %q", last)
	}
}

func TestProgressOnTerminal(t *testing.T) {
	e := newEnv(t)
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{"a/1.csv", "a/2.csv", "b/3.csv", "b/c/4.csv"} {
		e.put(p, "x", old)
	}
	e.writeConfig(`  - {name: in, host: local, path: "` + e.remote + `", settle: 0s, initial: emit, actions: [{type: log}]}` + "\n")

	code, stdout, out := runOnPty(t, "ls", "--watch", "in", "-c", e.config)
	if code != 0 || strings.Count(stdout, "\n") != 7 {
		t.Fatalf("ls on a terminal: exit %d stdout %q terminal %q", code, stdout, out)
	}
	checkProgressOutput(t, out, "in: 4 directories listed, 7 entries seen")

	// once logs at debug level (config) while it shows progress: the log
	// lines must come out whole, between status lines.
	code, stdout, out = runOnPty(t, "once", "-c", e.config)
	if code != 0 || strings.Count(stdout, "\n") != 7 {
		t.Fatalf("once on a terminal: exit %d stdout %q terminal %q", code, stdout, out)
	}
	checkProgressOutput(t, out, "directories listed")
	if !strings.Contains(out, `"msg":"event"`) && !strings.Contains(out, `"level":"info"`) {
		t.Errorf("no log line reached the terminal: %q", out)
	}
	if !strings.Contains(out, "sftpwatchd: watch \"in\": 7 entries seen, 7 new events; 7 events delivered (0 failed)\n") {
		t.Errorf("no summary on the terminal: %q", out)
	}

	code, _, out = runOnPty(t, "check", "--connect", "-c", e.config)
	if code != 0 {
		t.Fatalf("check --connect on a terminal: exit %d terminal %q", code, out)
	}
	checkProgressOutput(t, out, "dialling host")

	// Not a terminal (a pipe): not one progress byte.
	for _, args := range [][]string{{"ls", "--watch", "in"}, {"once"}, {"check", "--connect"}} {
		r := sftpwatchd(t, nil, append(args, "-c", e.config)...)
		if r.code != 0 || strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "\033[") || strings.Contains(r.stderr, "directories listed") {
			t.Errorf("%v without a terminal: exit %d stderr %q", args, r.code, r.stderr)
		}
	}
}
