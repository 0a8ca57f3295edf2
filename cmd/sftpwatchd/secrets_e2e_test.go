package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// hookSecrets are the ${VAR}s of the secrets test, each value unique enough
// that finding it anywhere can only mean it leaked.
var hookSecrets = map[string]string{
	"SFTPWATCHD_TEST_CANARY": "c4nary-9f3e1d7a",
	"HOOK_USER":              "hookus3r-5b2c",
	"HOOK_PASS":              "pa55-8d1e7f0a",
	"HOOK_TOKEN":             "T0K3N-4a9c2e6b",
	"HOOK_QUERY":             "S3CR3T-7e0b3d5f",
	"HOOK_BEARER":            "B34RER-1c6a8f2d",
	"HOOK_SECRET":            "HM4C-3f9d0b7e",
	"KEY_PASS":               "k3ypass-2e8b4c1a",
}

// secretReceiver is a webhook receiver that answers by file name and echoes
// every request back in its body, as many frameworks' error pages do:
// ok.csv 200; retry.csv always 500; bad.csv 500, then 400; moved.csv 500,
// then a 307 to a URL carrying the token again.
type secretReceiver struct {
	t        *testing.T
	mu       sync.Mutex
	attempts map[string]int
	auth     map[string]string // rel_path → "user:pass bearer uri" of the last request
}

func (h *secretReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev event.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		h.t.Errorf("webhook body is not an event: %q", body)
	}
	u, p, _ := r.BasicAuth()
	h.mu.Lock()
	h.attempts[ev.RelPath]++
	n := h.attempts[ev.RelPath]
	h.auth[ev.RelPath] = u + ":" + p + " " + r.Header.Get("Authorization") + " " + r.URL.RequestURI()
	h.mu.Unlock()
	echo := fmt.Sprintf("Cannot POST %s (auth %s, basic %s:%s)", r.URL.RequestURI(), r.Header.Get("Authorization"), u, p)
	switch {
	case ev.RelPath == "ok.csv":
		w.WriteHeader(http.StatusNoContent)
	case ev.RelPath == "retry.csv" || n == 1:
		http.Error(w, echo, http.StatusInternalServerError)
	case ev.RelPath == "bad.csv":
		http.Error(w, echo, http.StatusBadRequest)
	case ev.RelPath == "moved.csv":
		w.Header().Set("Location", "http://elsewhere.example:8080/"+hookSecrets["HOOK_TOKEN"]+"/next?token="+hookSecrets["HOOK_QUERY"])
		w.WriteHeader(http.StatusTemporaryRedirect)
		_, _ = io.WriteString(w, echo)
	default:
		http.Error(w, "unexpected", http.StatusTeapot)
	}
}

func (h *secretReceiver) count(rel string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.attempts[rel]
}

func (h *secretReceiver) lastAuth(rel string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.auth[rel]
}

// readEnvFile reads an `env` dump: one K=V a line.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		m[k] = v
	}
	return m
}

// assertNoSecrets fails for every hookSecrets value found in what.
func assertNoSecrets(t *testing.T, where string, what []byte) {
	t.Helper()
	for name, v := range hookSecrets {
		if i := strings.Index(string(what), v); i >= 0 {
			t.Errorf("%s shows the value of $%s: …%s…", where, name, what[max(0, i-200):min(len(what), i+len(v)+50)])
		}
	}
}

// TestRunSecretsStaySecret: exec children get a minimal environment (the
// daemon's canary only with inherit_env), and no ${VAR} secret of a webhook
// (userinfo, path, query, Authorization header, signing secret) nor the key
// passphrase shows in the daemon's log, /metrics or the raw state file, over
// 500s, a 400, a 3xx and a retry still pending at stop.
func TestRunSecretsStaySecret(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.WithEncryptedClientKey(hookSecrets["KEY_PASS"]))
	dir := t.TempDir()
	remote := filepath.Join(srv.Root, "upload")
	if err := os.MkdirAll(remote, 0o755); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(dir, "state")
	envDir := filepath.Join(dir, "envs")
	if err := os.Mkdir(envDir, 0o755); err != nil {
		t.Fatal(err)
	}
	hook := &secretReceiver{t: t, attempts: map[string]int{}, auth: map[string]string{}}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	hostPort := strings.TrimPrefix(hs.URL, "http://")
	addr := freeAddr(t)
	var envv []string
	for k, v := range hookSecrets {
		envv = append(envv, k+"="+v)
	}

	dump := func(prefix string) string {
		return fmt.Sprintf(`[/bin/sh, -c, 'env > "$1"', sh, %q]`, filepath.Join(envDir, prefix+"-{{.Name}}"))
	}
	cfg := fmt.Sprintf(`state_dir: %q
shutdown_timeout: 5s
http: {listen: %q}
log: {level: debug, format: json}
hosts:
  local:
    address: %q
    user: %q
    private_key_file: %q
    private_key_passphrase: ${KEY_PASS}
    known_hosts_file: %q
watches:
  - name: in
    host: local
    path: %q
    interval: 200ms
    settle: 0s
    types: [file]
    retry: {max_attempts: 1000, initial_backoff: 50ms, max_backoff: 100ms}
    actions:
      - {type: exec, command: %s, env: {MODE: batch}}
      - {type: exec, command: %s, inherit_env: true}
      - type: webhook
        url: "http://${HOOK_USER}:${HOOK_PASS}@%s/${HOOK_TOKEN}/path?token=${HOOK_QUERY}"
        headers: {Authorization: "Bearer ${HOOK_BEARER}"}
        secret: ${HOOK_SECRET}
        timeout: 5s
`, stateDir, addr, srv.Addr, srv.User, srv.ClientKeyFile, srv.KnownHostsFile, remote, dump("min"), dump("inherit"), hostPort)
	config := filepath.Join(dir, "sftpwatchd.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	check := sftpwatchd(t, envv, "check", "--connect", "-c", config)
	if check.code != 0 {
		t.Fatalf("check --connect: exit %d\n%s%s", check.code, check.stdout, check.stderr)
	}
	assertNoSecrets(t, "check --connect", []byte(check.stdout+check.stderr))

	d := startDaemon(t, envv, "run", "-c", config)
	d.waitScan(t)
	past := time.Now().Add(-time.Hour)
	for _, n := range []string{"ok.csv", "retry.csv", "bad.csv", "moved.csv"} {
		p := filepath.Join(remote, n)
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
	deadLetters := `sftpwatchd_dead_letters{watch="in"}`
	eventually(t, 30*time.Second, "ok.csv delivered, bad.csv and moved.csv dead-lettered, retry.csv retried", func() bool {
		return hook.count("ok.csv") == 1 && metric(t, addr, deadLetters) == "2" && hook.count("retry.csv") >= 3
	})
	// The secrets did reach the receiver, so their absence below means
	// something. (The configured Authorization header takes the place of
	// the userinfo's basic auth, as with any HTTP client.)
	want := fmt.Sprintf(": Bearer %s /%s/path?token=%s",
		hookSecrets["HOOK_BEARER"], hookSecrets["HOOK_TOKEN"], hookSecrets["HOOK_QUERY"])
	if got := hook.lastAuth("ok.csv"); got != want {
		t.Errorf("receiver got %q, want %q", got, want)
	}

	// exec: the minimal environment, and everything with inherit_env.
	minEnv := readEnvFile(t, filepath.Join(envDir, "min-ok.csv"))
	for k, v := range map[string]string{"PATH": os.Getenv("PATH"), "MODE": "batch", "SFTPWATCHD_REL_PATH": "ok.csv",
		"SFTPWATCHD_WATCH": "in", "SFTPWATCHD_EVENT_TYPE": "create"} {
		if minEnv[k] != v {
			t.Errorf("minimal exec environment: %s=%q, want %q", k, minEnv[k], v)
		}
	}
	for k := range hookSecrets {
		if _, ok := minEnv[k]; ok {
			t.Errorf("minimal exec environment has the daemon's $%s", k)
		}
	}
	inhEnv := readEnvFile(t, filepath.Join(envDir, "inherit-ok.csv"))
	for k, v := range hookSecrets {
		if inhEnv[k] != v {
			t.Errorf("inherit_env: $%s = %q, want %q", k, inhEnv[k], v)
		}
	}

	scrape, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(scrape.Body)
	scrape.Body.Close()
	assertNoSecrets(t, "/metrics", metrics)

	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, d.logs())
	}
	// The 3xx and the 400 were final: no attempt after the one that got them.
	if n := hook.count("moved.csv"); n != 2 {
		t.Errorf("moved.csv: %d attempts, want 2 (500, then the 307 is permanent)", n)
	}
	if n := hook.count("bad.csv"); n != 2 {
		t.Errorf("bad.csv: %d attempts, want 2 (500, then the 400 is permanent)", n)
	}

	logs := d.logs()
	assertNoSecrets(t, "the daemon's log", []byte(logs))
	shown := "http://" + hostPort + "/…"
	for _, s := range []string{`"url":"` + shown + `"`, "Cannot POST …", "redirect to host elsewhere.example:8080 is not followed"} {
		if !strings.Contains(logs, s) {
			t.Errorf("the daemon's log lacks %q", s)
		}
	}

	raw, err := os.ReadFile(filepath.Join(stateDir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "state.db", raw)
	// The dead-letter reasons are in the file as plain text.
	for _, s := range []string{"redirect to host elsewhere.example:8080 is not followed", "400 Bad Request: Cannot POST …", shown} {
		if !strings.Contains(string(raw), s) {
			t.Errorf("state.db lacks %q: the scan for secrets above proves nothing", s)
		}
	}
}

// TestCheckConfigErrorsHideSecrets: a config whose invalid values hold
// ${VAR} secrets is refused naming the keys, never the values.
func TestCheckConfigErrorsHideSecrets(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "bad.yaml")
	cfg := fmt.Sprintf(`state_dir: %q
hosts:
  h:
    address: "sftp://u:${KEY_PASS}@example.com"
    user: u
    password: p
watches:
  - name: in
    host: h
    path: /in
    actions:
      - {type: webhook, url: "https://${HOOK_USER}:${HOOK_PASS}@exa mple.com/${HOOK_TOKEN}"}
      - {type: webhook, url: "ftp://h/${HOOK_TOKEN}?token=${HOOK_QUERY}", headers: {"Authorization": "Bearer ${HOOK_BEARER}\n"}}
`, filepath.Join(dir, "state"))
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var envv []string
	for k, v := range hookSecrets {
		envv = append(envv, k+"="+v)
	}
	res := sftpwatchd(t, envv, "check", "-c", config)
	if res.code != 2 {
		t.Fatalf("check: exit %d, want 2\n%s%s", res.code, res.stdout, res.stderr)
	}
	out := res.stdout + res.stderr
	assertNoSecrets(t, "check", []byte(out))
	for _, key := range []string{"hosts.h.address", "watches[0].actions[0].url", "watches[0].actions[1].url",
		"watches[0].actions[1].headers.Authorization"} {
		if !strings.Contains(out, key) {
			t.Errorf("check output does not name %s:\n%s", key, out)
		}
	}
}
