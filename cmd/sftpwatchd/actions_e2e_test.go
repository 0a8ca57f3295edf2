package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// hookReceiver is a real HTTP receiver that checks the signature of every
// delivery.
type hookReceiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	events []event.Event
	status func(event.Event) int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte(h.secret))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	var ev event.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		h.t.Errorf("webhook body is not an event: %q", body)
	}
	switch {
	case r.Method != http.MethodPost:
		h.t.Errorf("webhook method %s", r.Method)
	case r.Header.Get("X-Sftpwatchd-Signature-256") != want:
		h.t.Errorf("bad signature %q, want %q", r.Header.Get("X-Sftpwatchd-Signature-256"), want)
	case r.Header.Get("Content-Type") != "application/json",
		!strings.HasPrefix(r.Header.Get("User-Agent"), "sftpwatchd/"),
		r.Header.Get("X-Sftpwatchd-Event") != string(ev.Type),
		r.Header.Get("X-Sftpwatchd-Delivery") != ev.ID:
		h.t.Errorf("webhook headers %v for event %s/%s", r.Header, ev.Type, ev.ID)
	}
	code := http.StatusNoContent
	if h.status != nil {
		code = h.status(ev)
	}
	if code < 300 {
		h.mu.Lock()
		h.events = append(h.events, ev)
		h.mu.Unlock()
	}
	w.WriteHeader(code)
}

func (h *hookReceiver) got() []event.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]event.Event(nil), h.events...)
}

var hostileNames = []string{"sp ace.csv", "$(touch PWNED).csv", "nl\nname.csv", "tab\tname.csv", "-rf.csv",
	"`id`;|>q'\"u.csv", "ü ñ 漢.csv", "back\\slash*.csv", "sub/dir/deep.csv"}

func TestRunDownloadExecWebhookMoveChain(t *testing.T) {
	e := newEnv(t)
	dest := filepath.Join(e.dir, "dl")
	argvOut := filepath.Join(e.dir, "argv.jsonl")
	hook := &hookReceiver{t: t, secret: "s3cr3t"}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	addr := freeAddr(t)

	mtime := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	want := map[string]string{}
	for i, n := range hostileNames {
		content := strings.Repeat(fmt.Sprintf("%d:%s|", i, n), 100*(i+1))
		want[n] = content
	}
	cfg := fmt.Sprintf(`state_dir: %q
http: {listen: %q}
log: {level: debug}
%swatches:
  - name: in
    host: local
    path: %q
    interval: 200ms
    settle: 0s
    types: [file]
    exclude: ["**/.*"]
    actions:
      - {type: download, dest: %q}
      - type: exec
        command: [%q, "{{.LocalPath}}", "{{.Name}}", "{{.RelPath}}"]
        env: {%s: %q}
      - {type: webhook, url: %q, secret: %q}
      - {type: move, to: %q}
`, e.stateDir, addr, e.hostYAML(), e.remote, dest, binary, argvHelperEnv, argvOut, hs.URL, hook.secret, e.remote+"/.done")
	// The exec program is this test binary in its argv-recording mode.
	cfg = strings.Replace(cfg, fmt.Sprintf("%q, ", binary), fmt.Sprintf("%q, ", os.Args[0]), 1)
	os.WriteFile(e.config, []byte(cfg), 0o600)

	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	for n, content := range want {
		e.put(n, content, mtime)
	}
	eventually(t, 60*time.Second, "every file through the chain", func() bool {
		return len(hook.got()) == len(want) && metric(t, addr, `sftpwatchd_actions_total{action="move",result="ok",watch="in"}`) == fmt.Sprint(len(want))
	})
	// A few more scans: the moves must not come back as delete events.
	okScans := `sftpwatchd_scans_total{result="ok",watch="in"}`
	before := metricInt(t, addr, okScans)
	eventually(t, 20*time.Second, "two more scans", func() bool { return metricInt(t, addr, okScans) >= before+2 })

	// Downloads: byte-identical, mtime preserved, nothing left behind.
	for n, content := range want {
		local := filepath.Join(dest, filepath.FromSlash(n))
		got, err := os.ReadFile(local)
		if err != nil || string(got) != content {
			t.Errorf("download of %q: %v (%d bytes, want %d)", n, err, len(got), len(content))
			continue
		}
		if fi, _ := os.Stat(local); !fi.ModTime().Equal(mtime) {
			t.Errorf("download of %q: mtime %v, want %v", n, fi.ModTime(), mtime)
		}
		// Moved on the server, rel_path kept.
		if _, err := os.Stat(filepath.Join(e.remote, ".done", filepath.FromSlash(n))); err != nil {
			t.Errorf("move of %q: %v", n, err)
		}
		if _, err := os.Stat(filepath.Join(e.remote, filepath.FromSlash(n))); !os.IsNotExist(err) {
			t.Errorf("%q still in the watched dir after move: %v", n, err)
		}
	}
	var leftovers []string
	filepath.Walk(dest, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.Contains(fi.Name(), ".tmp") {
			leftovers = append(leftovers, p)
		}
		return nil
	})
	if len(leftovers) > 0 {
		t.Errorf("temporary files left in dest: %q", leftovers)
	}

	// Exec: each hostile name arrived byte-exact as one argument.
	f, err := os.Open(argvOut)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var argv []string
		if err := json.Unmarshal(sc.Bytes(), &argv); err != nil || len(argv) != 3 {
			t.Fatalf("exec argv line %q: %v", sc.Text(), err)
		}
		rel := argv[2]
		if argv[0] != filepath.Join(dest, filepath.FromSlash(rel)) || argv[1] != filepath.Base(rel) {
			t.Errorf("exec argv %q for %q", argv, rel)
		}
		seen[rel] = true
	}
	for n := range want {
		if !seen[n] {
			t.Errorf("exec never got %q", n)
		}
	}

	// Webhook: only creates (the moves yield no delete), local_path set.
	var rels []string
	for _, ev := range hook.got() {
		if ev.Type != event.Create || ev.LocalPath != filepath.Join(dest, filepath.FromSlash(ev.RelPath)) {
			t.Errorf("webhook event %+v", ev)
		}
		rels = append(rels, ev.RelPath)
	}
	sort.Strings(rels)

	// Metrics, exact.
	n := fmt.Sprint(len(want))
	var bytes int
	for _, c := range want {
		bytes += len(c)
	}
	for series, v := range map[string]string{
		`sftpwatchd_events_total{type="create",watch="in"}`:                     n,
		`sftpwatchd_events_total{type="delete",watch="in"}`:                     "0",
		`sftpwatchd_actions_total{action="download",result="ok",watch="in"}`:    n,
		`sftpwatchd_actions_total{action="exec",result="ok",watch="in"}`:        n,
		`sftpwatchd_actions_total{action="webhook",result="ok",watch="in"}`:     n,
		`sftpwatchd_actions_total{action="webhook",result="failed",watch="in"}`: "0",
		`sftpwatchd_download_bytes_total{watch="in"}`:                           fmt.Sprint(bytes),
		`sftpwatchd_events_pending{watch="in"}`:                                 "0",
		`sftpwatchd_dead_letters{watch="in"}`:                                   "0",
		`sftpwatchd_watch_entries{watch="in"}`:                                  "0",
		`sftpwatchd_sftp_dials_total{host="local",result="error"}`:              "0",
	} {
		if got := metric(t, addr, series); got != v {
			t.Errorf("%s = %q, want %s", series, got, v)
		}
	}
	if got := metric(t, addr, `sftpwatchd_sftp_dials_total{host="local",result="ok"}`); got == "" || got == "0" {
		t.Errorf("dials ok = %q", got)
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("/readyz: %v %v", resp, err)
	}
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
	for _, dir := range []string{e.dir, e.remote, dest, "."} {
		if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
			t.Fatalf("PWNED created in %s: a name reached a shell", dir)
		}
	}
}
