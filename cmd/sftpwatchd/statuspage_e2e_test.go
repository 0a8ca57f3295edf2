package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium runs headless Chromium with args and returns its stdout.
func chromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=2000"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

// TestStatusPageInChromium: the status page rendered by a real browser
// shows a watch whose directory name is HTML as text, and a screenshot at
// 1280×800 is written as a test artefact.
func TestStatusPageInChromium(t *testing.T) {
	bin := needTool(t, "chromium", "chromium")
	e := newEnv(t)
	htmlDir := filepath.Join(e.remote, "<b>x</b>")
	if err := os.MkdirAll(htmlDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`state_dir: %q
log: {level: debug, format: json}
http: {listen: "127.0.0.1:0"}
%swatches:
  - name: in
    host: local
    path: %q
    interval: 1h
    actions: [{type: log}]
`, e.stateDir, e.hostYAML(), htmlDir)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	m := httpAddrRe.FindStringSubmatch(d.logs())
	if m == nil {
		t.Fatalf("no http address in the logs:\n%s", d.logs())
	}
	url := "http://" + m[1] + "/"

	dom := chromium(t, bin, "--dump-dom", url)
	if !strings.Contains(dom, `http-equiv="refresh"`) {
		t.Errorf("no meta refresh in the DOM:\n%s", dom)
	}
	if strings.Contains(dom, "<b>x</b>") {
		t.Errorf("the directory name became an element:\n%s", dom)
	}
	if !strings.Contains(dom, "&lt;b&gt;x&lt;/b&gt;") {
		t.Errorf("the directory name is not shown as text:\n%s", dom)
	}
	if strings.Contains(dom, "<script") {
		t.Errorf("the page has a script:\n%s", dom)
	}
	for _, want := range []string{">in<", ">local<", ">ok<"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the DOM lacks %s:\n%s", want, dom)
		}
	}

	dir := os.Getenv("SFTPWATCHD_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	shot := filepath.Join(dir, "status-page-1280x800.png")
	chromium(t, bin, "--screenshot="+shot, "--window-size=1280,800", "--hide-scrollbars", url)
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("screenshot %s is not a PNG (%d bytes)", shot, len(png))
	}
	t.Logf("status page screenshot: %s (%d bytes)", shot, len(png))
}
