package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/admin"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// receiver is a webhook endpoint answering with a settable status code and
// recording the event IDs it received with the code it answered.
type receiver struct {
	code atomic.Int32
	mu   sync.Mutex
	got  []string // "id code"
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev struct {
		ID string `json:"id"`
	}
	_ = json.NewDecoder(r.Body).Decode(&ev)
	code := int(rc.code.Load())
	rc.mu.Lock()
	rc.got = append(rc.got, fmt.Sprintf("%s %d", ev.ID, code))
	rc.mu.Unlock()
	w.WriteHeader(code)
}

func (rc *receiver) received() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.got...)
}

// adminEnv is a daemon setup for the admin commands: one watch "in" with a
// 1h interval (scans are driven by `scan`), a webhook, http on a free port
// and an admin token.
type adminEnv struct {
	*env
	rc    *receiver
	token string
}

func newAdminEnv(t *testing.T) *adminEnv {
	e := &adminEnv{env: newEnv(t), rc: &receiver{}, token: "0123456789abcdef-admin-token"}
	e.rc.code.Store(http.StatusOK)
	hook := httptest.NewServer(e.rc)
	t.Cleanup(hook.Close)
	tokFile := filepath.Join(e.dir, "token")
	if err := os.WriteFile(tokFile, []byte(e.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`state_dir: %q
shutdown_timeout: 5s
log: {level: debug, format: json}
http: {listen: "127.0.0.1:0", admin_token_file: %q}
%swatches:
  - name: in
    host: local
    path: %q
    interval: 1h
    settle: 0s
    min_age: 0s
    retry: {max_attempts: 2, initial_backoff: 50ms, max_backoff: 100ms}
    actions:
      - {type: webhook, url: %q}
`, e.stateDir, tokFile, e.hostYAML(), e.remote, hook.URL)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs an admin command with the env's config and wants exit code.
func (e *adminEnv) run(t *testing.T, code int, args ...string) string {
	t.Helper()
	r := sftpwatchd(t, nil, append(args, "-c", e.config)...)
	if r.code != code {
		t.Fatalf("sftpwatchd %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, r.code, code, r.stdout, r.stderr)
	}
	return r.stdout
}

func (e *adminEnv) deadLetters(t *testing.T) []admin.DeadLetter {
	t.Helper()
	var out []admin.DeadLetter
	for _, l := range strings.Split(strings.TrimSpace(e.run(t, 0, "deadletters", "list", "--json")), "\n") {
		if l == "" {
			continue
		}
		var d admin.DeadLetter
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("deadletters list --json line %q: %v", l, err)
		}
		out = append(out, d)
	}
	return out
}

func (e *adminEnv) status(t *testing.T) admin.WatchStatus {
	t.Helper()
	out := e.run(t, 0, "status", "--json", "--watch", "in")
	var ws admin.WatchStatus
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &ws); err != nil {
		t.Fatalf("status --json %q: %v", out, err)
	}
	return ws
}

var httpAddrRe = regexp.MustCompile(`"http":"([^"]+)"`)

func metricValue(t *testing.T, addr, series string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}

func TestAdminDeadLetterRetryDiscardScanRunning(t *testing.T) {
	e := newAdminEnv(t)
	e.put("a.txt", "a", time.Now().Add(-time.Hour))
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t) // the baseline
	m := httpAddrRe.FindStringSubmatch(d.logs())
	if m == nil {
		t.Fatalf("no http address in the logs:\n%s", d.logs())
	}
	addr := m[1]
	if fi, err := os.Stat(filepath.Join(e.stateDir, admin.SocketName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v, mode %v; want 0600", err, fi)
	}

	// A 1h-interval watch scans now on `scan`; the receiver answers 400:
	// the event is dead-lettered.
	e.rc.code.Store(http.StatusBadRequest)
	e.put("b.txt", "b", time.Now().Add(-time.Hour))
	e.run(t, 0, "scan", "--watch", "in")
	var dead []admin.DeadLetter
	eventually(t, 20*time.Second, "a dead letter", func() bool { dead = e.deadLetters(t); return len(dead) == 1 })
	id := dead[0].ID
	if dead[0].RelPath != "b.txt" || dead[0].Step != "webhook" || dead[0].Reason == "" {
		t.Errorf("dead letter %+v; want b.txt at step webhook with a reason", dead[0])
	}
	eventually(t, 10*time.Second, "dead_letters gauge 1", func() bool {
		return metricValue(t, addr, `sftpwatchd_dead_letters{watch="in"}`) == "1"
	})
	if out := e.run(t, 0, "deadletters", "show", id); !strings.Contains(out, "b.txt") || !strings.Contains(out, "webhook") {
		t.Errorf("deadletters show %s:\n%s", id, out)
	}

	// The receiver is fixed; retry delivers it once, with the same id.
	e.rc.code.Store(http.StatusOK)
	before := len(e.rc.received())
	e.run(t, 0, "deadletters", "retry", id)
	eventually(t, 10*time.Second, "the retried event delivered", func() bool { return len(e.rc.received()) > before })
	eventually(t, 10*time.Second, "dead_letters gauge 0", func() bool {
		return metricValue(t, addr, `sftpwatchd_dead_letters{watch="in"}`) == "0"
	})
	if got := e.rc.received()[before:]; len(got) != 1 || got[0] != id+" 200" {
		t.Errorf("after retry the receiver got %v; want exactly [%s 200]", got, id)
	}
	if p := e.run(t, 0, "pending", "--json"); strings.TrimSpace(p) != "" {
		t.Errorf("pending after the retry: %q", p)
	}

	// Token auth on HTTP: read-only is open, scan needs the token.
	post := func(auth string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/watches/in/scan", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post(""); c != http.StatusUnauthorized {
		t.Errorf("scan without a token: %d, want 401", c)
	}
	if c := post("Bearer wrong-token-wrong-token"); c != http.StatusForbidden {
		t.Errorf("scan with a wrong token: %d, want 403", c)
	}
	if resp, err := http.Get("http://" + addr + "/api/v1/status"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET /api/v1/status: %v %v", resp, err)
	}

	// Another dead letter, through the HTTP scan with the token; discard
	// empties the store and the gauge follows.
	e.rc.code.Store(http.StatusBadRequest)
	e.put("c.txt", "c", time.Now().Add(-time.Hour))
	if c := post("Bearer " + e.token); c != http.StatusAccepted {
		t.Fatalf("scan with the token: %d, want 202", c)
	}
	eventually(t, 20*time.Second, "a second dead letter", func() bool { return len(e.deadLetters(t)) == 1 })
	eventually(t, 10*time.Second, "dead_letters gauge 1", func() bool {
		return metricValue(t, addr, `sftpwatchd_dead_letters{watch="in"}`) == "1"
	})
	e.run(t, 0, "deadletters", "discard", "--all")
	if dl := e.deadLetters(t); len(dl) != 0 {
		t.Errorf("dead letters after discard --all: %+v", dl)
	}
	eventually(t, 10*time.Second, "dead_letters gauge 0 after discard", func() bool {
		return metricValue(t, addr, `sftpwatchd_dead_letters{watch="in"}`) == "0"
	})
	if !strings.Contains(d.logs(), `"msg":"dead letter discarded"`) {
		t.Error("the discard is not logged")
	}
	ws := e.status(t)
	if ws.LastScan == nil || ws.LastScan.Result != "ok" || ws.NextScan == nil || ws.LastScan.Entries != 3 {
		t.Errorf("status of the running daemon: %+v (last scan %+v)", ws, ws.LastScan)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, admin.SocketName)); !os.IsNotExist(err) {
		t.Errorf("admin socket left after exit: %v", err)
	}

	// Stopped: the same commands work on the state dir.
	ws = e.status(t)
	if ws.LastScan == nil || ws.LastScan.Result != "ok" || ws.NextScan != nil || ws.Pending != 0 {
		t.Errorf("status of the stopped daemon: %+v (last scan %+v)", ws, ws.LastScan)
	}
	if r := sftpwatchd(t, nil, "scan", "--watch", "in", "-c", e.config); r.code != 1 || !strings.Contains(r.stderr, "running daemon") {
		t.Errorf("scan without a daemon: exit %d, %s", r.code, r.stderr)
	}
}

func TestAdminStoppedRetryResetPruneBackup(t *testing.T) {
	e := newAdminEnv(t)
	e.put("a.txt", "a", time.Now().Add(-time.Hour))
	e.put("sub/b.txt", "b", time.Now().Add(-time.Hour))
	e.run(t, 0, "once") // baseline
	e.rc.code.Store(http.StatusBadRequest)
	e.put("c.txt", "c", time.Now().Add(-time.Hour))
	e.run(t, 1, "once") // dead-letters c.txt
	dead := e.deadLetters(t)
	if len(dead) != 1 {
		t.Fatalf("dead letters after once: %+v", dead)
	}
	e.rc.code.Store(http.StatusOK)
	if out := e.run(t, 0, "deadletters", "retry", dead[0].ID); !strings.Contains(out, dead[0].ID) {
		t.Errorf("retry output %q", out)
	}
	before := len(e.rc.received())
	e.run(t, 0, "once") // delivers the retried event
	if got := e.rc.received()[before:]; len(got) != 1 || got[0] != dead[0].ID+" 200" {
		t.Errorf("once after retry delivered %v; want [%s 200]", got, dead[0].ID)
	}
	if r := sftpwatchd(t, nil, "deadletters", "retry", "in-000000009999", "-c", e.config); r.code != 2 {
		t.Errorf("retry of an unknown id: exit %d (%s), want 2", r.code, r.stderr)
	}

	// state reset --emit: the next scan emits exactly the tree, once.
	e.run(t, 0, "state", "reset", "--watch", "in", "--emit")
	before = len(e.rc.received())
	e.run(t, 0, "once")
	got := e.rc.received()[before:]
	if len(got) != 4 { // a.txt, sub, sub/b.txt, c.txt
		t.Errorf("after reset --emit the first scan delivered %d events %v; want 4 (the tree)", len(got), got)
	}
	before = len(e.rc.received())
	e.run(t, 0, "once")
	if n := len(e.rc.received()) - before; n != 0 {
		t.Errorf("the scan after the emitting one delivered %d events", n)
	}
	e.run(t, 0, "state", "reset", "--watch", "in")
	e.run(t, 0, "once")
	if n := len(e.rc.received()) - before; n != 0 {
		t.Errorf("reset without --emit delivered %d events; want a silent baseline", n)
	}

	// prune removes an unconfigured watch's state.
	st, err := state.Open(e.stateDir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit("removed", state.Batch{}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if out := e.run(t, 0, "state", "prune"); !strings.Contains(out, "removed") {
		t.Errorf("prune output %q", out)
	}
	st, err = state.Open(e.stateDir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	names, _ := st.Watches()
	st.Close()
	if len(names) != 1 || names[0] != "in" {
		t.Errorf("watches with state after prune: %v, want [in]", names)
	}

	// Locked by a process that serves no admin socket: exit 2 naming the
	// state dir.
	st, err = state.Open(e.stateDir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if r := sftpwatchd(t, nil, "status", "-c", e.config); r.code != 2 || !strings.Contains(r.stderr, e.stateDir) {
		t.Errorf("status on a locked state dir: exit %d, %s; want 2 naming %s", r.code, r.stderr, e.stateDir)
	}
}

func TestAdminStatusShowsErrorWhileServerDown(t *testing.T) {
	e := newAdminEnv(t)
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	e.srv.Stop()
	e.run(t, 0, "scan", "--watch", "in")
	var ws admin.WatchStatus
	eventually(t, 30*time.Second, "status showing the failed scan", func() bool {
		ws = e.status(t)
		return ws.LastScan != nil && ws.LastScan.Result == "error" && ws.LastScan.Error != ""
	})
	out := e.run(t, 0, "status", "--json")
	var host admin.HostStatus
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(l, `"watch"`) {
			_ = json.Unmarshal([]byte(l), &host)
		}
	}
	if host.Host != "local" || host.LastDialError == "" || host.Connections != 0 {
		t.Errorf("host line while the server is down: %+v", host)
	}
	if human := e.run(t, 0, "status"); !strings.Contains(human, "error") || !strings.Contains(human, "LAST DIAL ERROR") {
		t.Errorf("human status:\n%s", human)
	}
}

func TestAdminBackupWhileCommitting(t *testing.T) {
	e := newAdminEnv(t)
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	// Writer churn: files appear and scans commit them, while backups are
	// taken.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			e.put(fmt.Sprintf("churn/f%04d.txt", i), "x", time.Now().Add(-time.Hour))
			if r := sftpwatchd(t, nil, "scan", "--watch", "in", "-c", e.config); r.code != 0 {
				t.Errorf("scan during churn: %d %s", r.code, r.stderr)
				return
			}
		}
	}()
	eventually(t, 30*time.Second, "some committed entries", func() bool {
		ls := e.status(t).LastScan
		return ls != nil && ls.Entries >= 10
	})
	committed := e.status(t).LastScan.Entries
	restore := t.TempDir()
	e.run(t, 0, "state", "backup", filepath.Join(restore, state.FileName))
	close(stop)
	wg.Wait()
	st, err := state.Open(restore, state.Options{})
	if err != nil {
		t.Fatalf("the backup does not open as a state file: %v", err)
	}
	defer st.Close()
	w, err := st.Load("in")
	if err != nil {
		t.Fatal(err)
	}
	if !w.Initialized || len(w.Snapshot) < committed {
		t.Errorf("backup holds %d entries (initialized %v); at least %d were committed before it", len(w.Snapshot), w.Initialized, committed)
	}
	for rel := range w.Snapshot {
		if _, err := os.Stat(filepath.Join(e.remote, rel)); err != nil {
			t.Errorf("backup holds %s, which is not remote: %v", rel, err)
		}
	}
}

func TestAdminDryRunAndLsBesideDaemon(t *testing.T) {
	e := newAdminEnv(t)
	e.put("a.txt", "a", time.Now().Add(-time.Hour))
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	e.put("new.txt", "n", time.Now().Add(-time.Hour))
	out := e.run(t, 0, "once", "--dry-run", "--json")
	evs := parseEvents(t, out)
	if len(evs) != 1 || evs[0].RelPath != "new.txt" || evs[0].Type != "create" {
		t.Errorf("once --dry-run beside the daemon: %+v; want one create of new.txt (a.txt is in the daemon's snapshot)", evs)
	}
	if ls := e.run(t, 0, "ls", "--watch", "in"); !strings.Contains(ls, "a.txt") || !strings.Contains(ls, "new.txt") {
		t.Errorf("ls beside the daemon:\n%s", ls)
	}
	// The dry run changed nothing: the daemon's next scan still sees new.txt.
	before := len(e.rc.received())
	e.run(t, 0, "scan", "--watch", "in")
	eventually(t, 10*time.Second, "new.txt delivered by the daemon", func() bool { return len(e.rc.received()) > before })
}
