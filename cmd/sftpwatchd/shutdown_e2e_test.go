package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// slowWatch is a watch whose exec action marks that it started, takes
// `sleep` seconds, then appends the event to recv.
func slowWatch(e *env, recv, started, sleep string) string {
	return fmt.Sprintf("  - name: in\n    host: local\n    path: %q\n    interval: 200ms\n    settle: 0s\n    types: [file]\n    actions:\n      - {type: exec, command: [sh, -c, 'touch \"$1\"; sleep %s; cat >> \"$0\"', %q, %q], timeout: 1m}\n",
		e.remote, sleep, recv, started)
}

func TestSIGTERMLetsInFlightActionFinish(t *testing.T) {
	e := newEnv(t)
	recv := filepath.Join(e.dir, "events.json")
	started := filepath.Join(e.dir, "started")
	e.writeConfig(slowWatch(e, recv, started, "1"))
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	e.put("a.csv", "a", time.Now().Add(-time.Hour))
	eventually(t, 20*time.Second, "the action to start", func() bool { _, err := os.Stat(started); return err == nil })
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
	if n := countType(received(t, recv), event.Create, "a.csv"); n != 1 {
		t.Fatalf("the in-flight action did not finish before exit: %d deliveries\n%s", n, d.logs())
	}
	// It is done: a restart does not deliver it again.
	os.Remove(started)
	d = startDaemon(t, nil, "run", "-c", e.config)
	d.waitScans(t, 3)
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	if _, err := os.Stat(started); err == nil {
		t.Fatal("a finished event was delivered again after a restart")
	}
}

func TestShutdownTimeoutCancelsAndRedelivers(t *testing.T) {
	e := newEnv(t)
	recv := filepath.Join(e.dir, "events.json")
	started := filepath.Join(e.dir, "started")
	e.writeConfig(slowWatch(e, recv, started, "30"))
	cfg, _ := os.ReadFile(e.config)
	os.WriteFile(e.config, []byte(strings.Replace(string(cfg), "shutdown_timeout: 5s", "shutdown_timeout: 300ms", 1)), 0o600)
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	e.put("a.csv", "a", time.Now().Add(-time.Hour))
	eventually(t, 20*time.Second, "the action to start", func() bool { _, err := os.Stat(started); return err == nil })
	t0 := time.Now()
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
	if took := time.Since(t0); took > 20*time.Second {
		t.Fatalf("shutdown took %v with shutdown_timeout 300ms", took)
	}
	if len(received(t, recv)) != 0 {
		t.Fatal("the cancelled action delivered")
	}
	// The event stayed in the outbox: the next start runs it again.
	os.Remove(started)
	e.writeConfig(slowWatch(e, recv, started, "0"))
	d = startDaemon(t, nil, "run", "-c", e.config)
	eventually(t, 20*time.Second, "the redelivery", func() bool { return countType(received(t, recv), event.Create, "a.csv") == 1 })
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
}
