package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// Black-box tests of issue 18 part A through the built binary against real
// OpenSSH: require_marker/remove_marker, min_size/max_size,
// on_dead_letter.move_to and exec permanent_exit_codes.

// filtersConfig writes a config with the env's host, metrics on addr and the
// given watches (YAML list items).
func filtersConfig(e *env, addr, watches string) {
	e.t.Helper()
	cfg := fmt.Sprintf("state_dir: %q\nshutdown_timeout: 5s\nlog: {level: debug, format: json}\nhttp: {listen: %q}\n%swatches:\n%s",
		e.stateDir, addr, e.hostYAML(), watches)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// newHook starts a webhook receiver (secret "k") answering status (nil:
// 204 to everything) and returns it with its URL and a free metrics address.
func newHook(t *testing.T, status func(event.Event) int) (*hookReceiver, string, string) {
	t.Helper()
	hook := &hookReceiver{t: t, secret: "k", status: status}
	hs := httptest.NewServer(hook)
	t.Cleanup(hs.Close)
	return hook, hs.URL, freeAddr(t)
}

// eventsOf returns "watch type rel_path" of the received events.
func eventsOf(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Watch + " " + string(ev.Type) + " " + ev.RelPath
	}
	return out
}

// waitMoreScans waits until watch has finished n more ok scans than now.
func waitMoreScans(t *testing.T, addr, watch string, n int) {
	t.Helper()
	series := fmt.Sprintf(`sftpwatchd_scans_total{result="ok",watch=%q}`, watch)
	before := metricInt(t, addr, series)
	eventually(t, 30*time.Second, fmt.Sprintf("%d more scans of %s", n, watch), func() bool {
		return metricInt(t, addr, series) >= before+n
	})
}

// TestMarkersE2E: file before marker, marker before file, file rewritten
// after its marker (watch "in"); remove_marker removes the marker after the
// chain and no delete event follows (watch "rm"). Markers are never events.
func TestMarkersE2E(t *testing.T) {
	e := newEnv(t)
	hook, hookURL, addr := newHook(t, nil)
	m, r := filepath.Join(e.remote, "m"), filepath.Join(e.remote, "r")
	for _, d := range []string{m, r} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	watch := func(name, path, extra string) string {
		return fmt.Sprintf(`  - name: %s
    host: local
    path: %q
    interval: 200ms
    settle: 600ms
    include: ["**/*.csv"]
    require_marker: .ok
%s    actions:
      - {type: webhook, url: %q, secret: k}
`, name, path, extra, hookURL)
	}
	filtersConfig(e, addr, watch("in", m, "")+watch("rm", r, "    remove_marker: true\n"))
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	mtime := time.Now().Add(-time.Hour)

	// File before marker: nothing, however long it has settled.
	e.put("m/a.csv", "a", mtime)
	waitMoreScans(t, addr, "in", 6) // >= 1.2s: a.csv settled long ago
	if got := hook.got(); len(got) != 0 {
		t.Fatalf("events before the marker exists: %q", eventsOf(got))
	}
	e.put("m/a.csv.ok", "", mtime)
	eventually(t, 20*time.Second, "create a.csv once its marker exists", func() bool {
		return countType(hook.got(), event.Create, "a.csv") == 1
	})

	// Marker before file: the file still settles, then is a create.
	e.put("m/b.csv.ok", "", mtime)
	waitMoreScans(t, addr, "in", 2)
	e.put("m/b.csv", "b", mtime)
	eventually(t, 20*time.Second, "create b.csv", func() bool {
		return countType(hook.got(), event.Create, "b.csv") == 1
	})

	// Rewritten after its marker: a modify once settled.
	e.put("m/a.csv", "a, rewritten", mtime.Add(time.Minute))
	eventually(t, 20*time.Second, "modify a.csv", func() bool {
		return countType(hook.got(), event.Modify, "a.csv") == 1
	})

	// remove_marker: the marker goes after the chain; no delete follows.
	e.put("r/c.csv", "c", mtime)
	e.put("r/c.csv.ok", "", mtime)
	eventually(t, 20*time.Second, "create c.csv and its marker removed", func() bool {
		return countType(hook.got(), event.Create, "c.csv") == 1 && !exists(filepath.Join(r, "c.csv.ok"))
	})
	if !exists(filepath.Join(r, "c.csv")) {
		t.Error("remove_marker removed the file itself")
	}
	waitMoreScans(t, addr, "rm", 4)
	waitMoreScans(t, addr, "in", 1)

	want := map[string]bool{"in create a.csv": true, "in create b.csv": true, "in modify a.csv": true, "rm create c.csv": true}
	got := eventsOf(hook.got())
	if len(got) != len(want) {
		t.Errorf("events %q, want exactly %v", got, want)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected event %q (markers are never events; a removed marker is no delete)", g)
		}
	}
	if v := metric(t, addr, `sftpwatchd_actions_total{action="remove_marker",result="ok",watch="rm"}`); v != "1" {
		t.Errorf("remove_marker ok = %q, want 1", v)
	}
}

// TestSizeFiltersE2E: a file below min_size is ignored, growing into the
// range is a create, growing past max_size leaves silently (no delete).
func TestSizeFiltersE2E(t *testing.T) {
	e := newEnv(t)
	hook, hookURL, addr := newHook(t, nil)
	filtersConfig(e, addr, fmt.Sprintf(`  - name: in
    host: local
    path: %q
    interval: 200ms
    settle: 0s
    min_size: 10
    max_size: 20
    actions:
      - {type: webhook, url: %q, secret: k}
`, e.remote, hookURL))
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	mtime := time.Now().Add(-time.Hour)

	e.put("small.txt", "123", mtime)
	e.put("sub/ok.txt", "0123456789", mtime) // exactly min_size: inclusive; sub is a dir: not bounded
	eventually(t, 20*time.Second, "create sub/ok.txt", func() bool {
		return countType(hook.got(), event.Create, "sub/ok.txt") == 1
	})
	waitMoreScans(t, addr, "in", 2)
	if n := countType(hook.got(), event.Create, "small.txt"); n != 0 {
		t.Fatalf("small.txt below min_size was reported")
	}
	e.put("small.txt", "0123456789AB", mtime.Add(time.Minute))
	eventually(t, 20*time.Second, "create small.txt once it grew into range", func() bool {
		return countType(hook.got(), event.Create, "small.txt") == 1
	})
	e.put("sub/ok.txt", strings.Repeat("x", 21), mtime.Add(time.Minute))
	waitMoreScans(t, addr, "in", 3)
	for _, ev := range hook.got() {
		if ev.RelPath == "sub/ok.txt" && ev.Type != event.Create {
			t.Errorf("a file that grew past max_size gave %s: it leaves coverage silently", ev.Type)
		}
	}
	if v := metric(t, addr, `sftpwatchd_events_total{type="create",watch="in"}`); v != "3" { // sub, sub/ok.txt, small.txt
		t.Errorf("creates = %q, want 3; events %q", v, eventsOf(hook.got()))
	}
}

// TestDeadLetterMoveE2E: a webhook answering 500 with max_attempts 2: the
// event is dead-lettered, the remote file moved under move_to with its
// rel_path (parents created), the dead letter says so, and no delete event
// follows.
func TestDeadLetterMoveE2E(t *testing.T) {
	e := newEnv(t)
	hook, hookURL, addr := newHook(t, func(ev event.Event) int {
		if ev.Type == event.Create {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent // a delete would be recorded
	})
	failed := filepath.Join(e.srv.Root, "quarantine", "deep") // does not exist yet
	filtersConfig(e, addr, fmt.Sprintf(`  - name: in
    host: local
    path: %q
    interval: 200ms
    settle: 0s
    types: [file]
    retry: {max_attempts: 2, initial_backoff: 100ms, max_backoff: 200ms}
    on_dead_letter: {move_to: %q}
    actions:
      - {type: webhook, url: %q, secret: k}
`, e.remote, failed, hookURL))
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	e.put("a/b/x.csv", "payload", time.Now().Add(-time.Hour))

	moved := filepath.Join(failed, "a", "b", "x.csv")
	eventually(t, 30*time.Second, "x.csv moved under move_to", func() bool { return exists(moved) })
	if exists(filepath.Join(e.remote, "a", "b", "x.csv")) {
		t.Error("x.csv is still in the watched tree")
	}
	if b, _ := os.ReadFile(moved); string(b) != "payload" {
		t.Errorf("moved file holds %q", b)
	}
	eventually(t, 10*time.Second, "one dead letter", func() bool {
		return metric(t, addr, `sftpwatchd_dead_letters{watch="in"}`) == "1"
	})
	waitMoreScans(t, addr, "in", 4)
	if v := metric(t, addr, `sftpwatchd_events_total{type="delete",watch="in"}`); v != "0" && v != "" {
		t.Errorf("delete events = %q after the dead-letter move, want 0", v)
	}
	if n := len(hook.got()); n != 0 {
		t.Errorf("webhook got %q, want nothing", eventsOf(hook.got()))
	}
	logs := d.logs()
	if !strings.Contains(logs, `"msg":"event dead-lettered"`) || !strings.Contains(logs, "failed 2 times") ||
		!strings.Contains(logs, "the remote file was moved to") {
		t.Errorf("no dead-letter log line with the attempts and the move; logs:\n%s", logs)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
}

// TestPermanentExitCodesE2E: an exec exiting with a listed status runs once
// and is dead-lettered at once (once exits 1); an unlisted status is
// retried up to max_attempts.
func TestPermanentExitCodesE2E(t *testing.T) {
	e := newEnv(t)
	runs := filepath.Join(e.dir, "runs")
	e.put("p.csv", "p", time.Now().Add(-time.Hour))
	e.writeConfig(fmt.Sprintf(`  - name: in
    host: local
    path: %q
    initial: emit
    settle: 0s
    types: [file]
    retry: {max_attempts: 3, initial_backoff: 50ms, max_backoff: 100ms}
    actions:
      - type: exec
        command: ["/bin/sh", "-c", "echo {{.RelPath}} >> %s; exit $CODE"]
        env: {CODE: "3"}
        permanent_exit_codes: [3, 64]
`, e.remote, runs))
	res := sftpwatchd(t, nil, "once", "-c", e.config)
	if res.code != 1 {
		t.Fatalf("once exit %d, want 1 (a dead letter); stderr:\n%s", res.code, res.stderr)
	}
	if b, _ := os.ReadFile(runs); strings.Count(string(b), "p.csv") != 1 {
		t.Errorf("exec ran %d times for a permanent exit status, want once", strings.Count(string(b), "p.csv"))
	}
	if !strings.Contains(res.stderr, "permanent_exit_codes") {
		t.Errorf("stderr does not say the status is permanent:\n%s", res.stderr)
	}

	// The same with an unlisted status: retried until max_attempts.
	if err := os.Remove(runs); err != nil {
		t.Fatal(err)
	}
	e.stateDir = filepath.Join(e.dir, "state2")
	cfg, _ := os.ReadFile(e.config)
	cfg = []byte(strings.Replace(strings.Replace(string(cfg), `CODE: "3"`, `CODE: "4"`, 1), filepath.Join(e.dir, "state"), e.stateDir, 1))
	if err := os.WriteFile(e.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	res = sftpwatchd(t, nil, "once", "-c", e.config)
	if b, _ := os.ReadFile(runs); res.code != 1 || strings.Count(string(b), "p.csv") != 3 {
		t.Errorf("unlisted status: exit %d, %d runs; want 1 and 3 (max_attempts)\n%s", res.code, strings.Count(string(b), "p.csv"), res.stderr)
	}
}

// TestDeadLetterMoveFailsKeepsTheLetterE2E: when the move itself fails
// (move_to lies beneath a regular file), the file stays where it is, the
// event is dead-lettered all the same and the failure is in its reason.
func TestDeadLetterMoveFailsKeepsTheLetterE2E(t *testing.T) {
	e := newEnv(t)
	_, hookURL, addr := newHook(t, func(event.Event) int { return http.StatusBadRequest }) // permanent
	blocker := filepath.Join(e.srv.Root, "blocker")
	if err := os.WriteFile(blocker, []byte("a file, not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	filtersConfig(e, addr, fmt.Sprintf(`  - name: in
    host: local
    path: %q
    interval: 200ms
    settle: 0s
    types: [file]
    on_dead_letter: {move_to: %q}
    actions:
      - {type: webhook, url: %q, secret: k}
`, e.remote, filepath.Join(blocker, "failed"), hookURL))
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	e.put("keep.csv", "k", time.Now().Add(-time.Hour))
	eventually(t, 30*time.Second, "one dead letter", func() bool {
		return metric(t, addr, `sftpwatchd_dead_letters{watch="in"}`) == "1"
	})
	if !exists(filepath.Join(e.remote, "keep.csv")) {
		t.Error("keep.csv left the watched tree although the move failed")
	}
	logs := d.logs()
	if !strings.Contains(logs, `"msg":"on_dead_letter failed; the event is dead-lettered all the same"`) ||
		!strings.Contains(logs, "failed permanently") || !strings.Contains(logs, "; on_dead_letter failed: move to") {
		t.Errorf("no log of the failed move and the reason; logs:\n%s", logs)
	}
	waitMoreScans(t, addr, "in", 3)
	if v := metric(t, addr, `sftpwatchd_events_total{type="delete",watch="in"}`); v != "0" && v != "" {
		t.Errorf("delete events = %q, want 0", v)
	}
}
