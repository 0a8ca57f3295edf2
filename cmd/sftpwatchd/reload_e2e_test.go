package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

func TestRunReloadOnSIGHUP(t *testing.T) {
	e := newEnv(t)
	recv1 := filepath.Join(e.dir, "one.json")
	recv2 := filepath.Join(e.dir, "two.json")
	remote2 := filepath.Join(e.srv.Root, "second")
	os.MkdirAll(remote2, 0o755)
	past := time.Now().Add(-time.Hour)
	watchTwo := strings.Replace(teeWatch(remote2, recv2, ""), "name: in", "name: two", 1)

	e.writeConfig(teeWatch(e.remote, recv1, ""))
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)

	// Add a watch.
	e.writeConfig(teeWatch(e.remote, recv1, "") + watchTwo)
	d.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 20*time.Second, "the new watch to start", func() bool {
		return strings.Contains(d.logs(), `"msg":"watch started","watch":"two"`)
	})
	eventually(t, 20*time.Second, "the new watch's baseline", func() bool {
		return strings.Contains(d.logs(), `"msg":"scan finished","watch":"two"`)
	})
	e.put("../second/x.csv", "x", past)
	e.put("y.csv", "y", past)
	eventually(t, 20*time.Second, "events of both watches", func() bool {
		return countType(received(t, recv2), event.Create, "x.csv") == 1 && countType(received(t, recv1), event.Create, "y.csv") == 1
	})
	if strings.Count(d.logs(), `"msg":"watch started","watch":"in"`) != 1 {
		t.Errorf("the unchanged watch was restarted by the reload:\n%s", d.logs())
	}

	// An invalid config is logged and the old one kept.
	os.WriteFile(e.config, []byte("watches: [{name: broken, bogus_key: 1}]\n"), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 20*time.Second, "the failed reload to be logged", func() bool {
		return strings.Contains(d.logs(), "reload failed; keeping the running config") && strings.Contains(d.logs(), "bogus_key")
	})
	e.put("z.csv", "z", past)
	eventually(t, 20*time.Second, "delivery after the failed reload", func() bool {
		return countType(received(t, recv1), event.Create, "z.csv") == 1
	})

	// Remove a watch.
	e.writeConfig(watchTwo)
	d.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 20*time.Second, "the removed watch to stop", func() bool {
		return strings.Contains(d.logs(), `"msg":"watch stopped","watch":"in"`)
	})
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
}

func TestOnceDeadLetterExit1(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadRequest) // permanent: dead letter at once
	}))
	defer hs.Close()
	e.writeConfig(fmt.Sprintf("  - name: in\n    host: local\n    path: %q\n    settle: 0s\n    initial: emit\n    actions:\n      - {type: webhook, url: %q}\n", e.remote, hs.URL))
	e.put("a.csv", "a", time.Now().Add(-time.Hour))
	r := sftpwatchd(t, nil, "once", "-c", e.config)
	if r.code != 1 || !strings.Contains(r.stderr, "dead-letter") {
		t.Fatalf("once with a rejecting webhook: exit %d stderr %s", r.code, r.stderr)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("a permanent 400 was tried %d times, want 1", n)
	}
	// Nothing is redelivered: the event is in the dead-letter store.
	r = sftpwatchd(t, nil, "once", "-c", e.config)
	if r.code != 0 || calls.Load() != 1 {
		t.Fatalf("second once: exit %d, webhook calls %d; stderr %s", r.code, calls.Load(), r.stderr)
	}
}
