package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
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
	"unicode/utf8"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/interop"
)

// badNames are remote names whose bytes are not UTF-8 (legal on Linux),
// mixed with a newline, shell syntax, a leading dash and a subdirectory
// whose own name is not UTF-8; one UTF-8 name for contrast.
var badNames = []string{
	"caf\xe9.txt",
	"nl\xff\nline.csv",
	"$(touch PWNED)\xe9.csv",
	"-lead\xfe-dash.csv",
	"sub\xe9 dir/in\xff sub.csv",
	"ok ü.csv",
}

// rawHooks records every webhook body as received.
type rawHooks struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (h *rawHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, b)
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *rawHooks) got() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

// checkWireNames asserts that body is valid UTF-8 JSON whose name fields
// have a base64 companion exactly when the value is not UTF-8, decoding
// to its bytes, and returns the event it decodes to.
func checkWireNames(t *testing.T, body []byte) event.Event {
	t.Helper()
	if !json.Valid(body) || !utf8.Valid(body) {
		t.Fatalf("not valid UTF-8 JSON: %q", body)
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	for key, exact := range map[string]string{"path": ev.Path, "rel_path": ev.RelPath, "name": ev.Name,
		"old_path": ev.OldPath, "local_path": ev.LocalPath} {
		comp, has := raw[key+"_b64"].(string)
		switch {
		case utf8.ValidString(exact) && has:
			t.Errorf("%s %q (UTF-8) has a companion %q", key, exact, comp)
		case !utf8.ValidString(exact) && !has:
			t.Errorf("%s %q has no %s_b64 companion: %s", key, exact, key, body)
		case has:
			if b, err := base64.StdEncoding.DecodeString(comp); err != nil || string(b) != exact {
				t.Errorf("%s_b64 %q decodes to %q, %v", key, comp, b, err)
			}
			if raw[key] != strings.ToValidUTF8(exact, "\uFFFD") {
				t.Errorf("%s is %q, want the U+FFFD form of %q", key, raw[key], exact)
			}
		}
	}
	return ev
}

// TestNonUTF8NamesEndToEnd: names that are not UTF-8, through the binary
// against OpenSSH: ls --json and the create events (webhook bodies) carry
// base64 companions that decode to the exact bytes; the download writes
// byte-identical files under the exact byte names; move lands them under
// the same names; a delete action removes them without a false delete.
func TestNonUTF8NamesEndToEnd(t *testing.T) {
	e := newEnv(t)
	mtime := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	contents := map[string]string{}
	for i, n := range badNames {
		contents[n] = strings.Repeat(fmt.Sprintf("%d:%s|", i, n), 50*(i+1))
		e.put(n, contents[n], mtime)
		e.put("del/"+n, contents[n], mtime)
	}
	hooks := &rawHooks{}
	hs := httptest.NewServer(hooks)
	defer hs.Close()
	dest, done, delDir := filepath.Join(e.dir, "dl"), e.remote+"/.done", e.remote+"/del"
	addr := freeAddr(t)
	e.writeConfig(fmt.Sprintf(`  - name: in
    host: local
    path: %q
    interval: 200ms
    settle: 0s
    types: [file]
    exclude: ["**/.*", "del/**"]
    actions:
      - {type: download, dest: %q}
      - {type: webhook, url: %q}
      - {type: move, to: %q}
  - name: del
    host: local
    path: %q
    interval: 200ms
    settle: 0s
    types: [file]
    actions:
      - {type: webhook, url: %q}
      - {type: delete}
`, e.remote, dest, hs.URL, done, delDir, hs.URL))
	cfg, _ := os.ReadFile(e.config)
	os.WriteFile(e.config, bytes.Replace(cfg, []byte(`http: {listen: ""}`), []byte(fmt.Sprintf("http: {listen: %q}", addr)), 1), 0o600)

	// ls --json: one valid line per file, the companion where needed.
	r := sftpwatchd(t, nil, "ls", "--watch", "in", "--json", "-c", e.config)
	if r.code != 0 {
		t.Fatalf("ls: exit %d\n%s", r.code, r.stderr)
	}
	listed := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		line := sc.Bytes()
		var le struct {
			RelPath    string `json:"rel_path"`
			RelPathB64 string `json:"rel_path_b64"`
		}
		if !json.Valid(line) || !utf8.Valid(line) || json.Unmarshal(line, &le) != nil {
			t.Fatalf("ls --json line is not valid UTF-8 JSON: %q", line)
		}
		rel := le.RelPath
		if le.RelPathB64 != "" {
			b, err := base64.StdEncoding.DecodeString(le.RelPathB64)
			if err != nil {
				t.Fatalf("ls --json rel_path_b64 %q: %v", le.RelPathB64, err)
			}
			rel = string(b)
		}
		if utf8.ValidString(rel) != (le.RelPathB64 == "") {
			t.Errorf("ls --json %q: companion %q", rel, le.RelPathB64)
		}
		listed[rel] = true
	}
	for _, n := range badNames {
		if !listed[n] {
			t.Errorf("ls --json does not name %q exactly; stdout:\n%s", n, r.stdout)
		}
	}

	// The daemon starts on an empty tree (initial: baseline would keep
	// what is there silent); the files come after its first scan.
	for _, n := range badNames {
		if err := os.Remove(filepath.Join(e.remote, n)); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(delDir, n)); err != nil {
			t.Fatal(err)
		}
	}
	d := startDaemon(t, nil, "run", "-c", e.config)
	d.waitScan(t)
	for _, n := range badNames {
		e.put(n, contents[n], mtime)
		e.put("del/"+n, contents[n], mtime)
	}
	want := 2 * len(badNames)
	eventually(t, 60*time.Second, "every file through both chains", func() bool {
		return metric(t, addr, `sftpwatchd_actions_total{action="move",result="ok",watch="in"}`) == fmt.Sprint(len(badNames)) &&
			metric(t, addr, `sftpwatchd_actions_total{action="delete",result="ok",watch="del"}`) == fmt.Sprint(len(badNames))
	})
	// A few more scans: a removal by the daemon must not come back as a delete.
	d.waitScans(t, strings.Count(d.logs(), `"msg":"scan finished","watch":"in"`)+3)
	if c := d.stop(t, syscall.SIGTERM); c != 0 {
		t.Fatalf("daemon exit %d\n%s", c, d.logs())
	}

	creates := map[string]map[string]bool{"in": {}, "del": {}}
	for _, b := range hooks.got() {
		ev := checkWireNames(t, b)
		if ev.Type != event.Create {
			t.Errorf("unexpected %s event for %q (a false delete?)", ev.Type, ev.RelPath)
			continue
		}
		creates[ev.Watch][ev.RelPath] = true
		if ev.Watch == "in" && ev.LocalPath != filepath.Join(dest, ev.RelPath) {
			t.Errorf("local_path %q, want %q", ev.LocalPath, filepath.Join(dest, ev.RelPath))
		}
	}
	if n := len(creates["in"]) + len(creates["del"]); n != want {
		t.Errorf("%d distinct create events, want %d", n, want)
	}
	for _, n := range badNames {
		if !creates["in"][n] || !creates["del"][n] {
			t.Errorf("no create event with the exact name %q (in: %v, del: %v)", n, creates["in"][n], creates["del"][n])
		}
		if got, err := os.ReadFile(filepath.Join(dest, n)); err != nil || string(got) != contents[n] {
			t.Errorf("downloaded %q: %d bytes, %v; want the %d bytes sent", n, len(got), err, len(contents[n]))
		}
		if got, err := os.ReadFile(filepath.Join(done, n)); err != nil || string(got) != contents[n] {
			t.Errorf("moved %q: %v", n, err)
		}
		for _, gone := range []string{filepath.Join(e.remote, n), filepath.Join(delDir, n)} {
			if _, err := os.Lstat(gone); err == nil {
				t.Errorf("%q is still there after move/delete", gone)
			}
		}
	}
	if strings.Contains(d.logs(), "dead-lettered") || strings.Contains(d.logs(), `"level":"error"`) {
		t.Errorf("errors or dead letters in the daemon's log:\n%s", d.logs())
	}
}

// TestInteropRunEvents: the daemon (`run`) against servers that share no
// code with ours — ProFTPD's mod_sftp, ProFTPD allowing one channel per
// connection (SFTPMaxChannels 1: the pkg/sftp fallback after one warning),
// and Dropbear with OpenSSH's sftp-server — reports create, modify and
// delete in a watched tree (a name that is not UTF-8 among them) to a
// webhook; a directory the server cannot list is no delete; after a
// restart, nothing already reported comes again and a new file is one
// create.
func TestInteropRunEvents(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *interop.Server
	}{
		{"proftpd", interop.StartProFTPD},
		{"proftpd-one-channel", func(t testing.TB) *interop.Server {
			return interop.StartProFTPDWith(t, interop.ProFTPDOptions{MaxChannels: 1})
		}},
		{"dropbear", interop.StartDropbear},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.start(t)
			tree := filepath.Join(s.Root, "tree")
			put := func(rel, content string, mtime time.Time) {
				t.Helper()
				p := filepath.Join(tree, rel)
				if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
					t.Fatal(err)
				}
				// Written beside the tree and renamed in: a scan never sees
				// the file before its mtime is set.
				tmp := filepath.Join(s.Root, "put.tmp")
				if err := os.WriteFile(tmp, []byte(content), 0o666); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(tmp, mtime, mtime); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, p); err != nil {
					t.Fatal(err)
				}
			}
			old := interop.Mtime
			bad := "caf\xe9 $(x).txt"
			for _, rel := range []string{"a.txt", "sub/b.txt", "locked/c.txt", bad} {
				put(rel, rel, old)
			}
			if err := interop.Chmod777(tree); err != nil {
				t.Fatal(err)
			}
			hooks := &rawHooks{}
			hs := httptest.NewServer(hooks)
			defer hs.Close()
			dir := t.TempDir()
			cfgFile := filepath.Join(dir, "c.yaml")
			cfg := fmt.Sprintf("state_dir: %q\nshutdown_timeout: 5s\nlog: {level: debug, format: json}\nhttp: {listen: \"\"}\n"+
				"hosts:\n  srv: {address: %q, user: %q, password: %q, known_hosts_file: %q, connect_timeout: 5s}\n"+
				"watches:\n  - {name: in, host: srv, path: %q, interval: 200ms, settle: 0s, types: [file], actions: [{type: webhook, url: %q}]}\n",
				filepath.Join(dir, "state"), s.Addr, s.User, s.Password, s.KnownHostsFile, tree, hs.URL)
			if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			events := func() map[string]event.Type {
				out := map[string]event.Type{}
				for _, b := range hooks.got() {
					ev := checkWireNames(t, b)
					if prev, dup := out[ev.RelPath]; dup {
						t.Errorf("a second event (%s after %s) for %q", ev.Type, prev, ev.RelPath)
					}
					out[ev.RelPath] = ev.Type
				}
				return out
			}

			// ls lists the whole tree (on one channel: through the fallback).
			r := sftpwatchd(t, nil, "ls", "--watch", "in", "--json", "-c", cfgFile)
			if n := strings.Count(r.stdout, "\n"); r.code != 0 || n != 4 {
				t.Fatalf("ls: exit %d, %d entries, want 0 and 4\n%s%s", r.code, n, r.stdout, r.stderr)
			}
			d := startDaemon(t, nil, "run", "-c", cfgFile)
			d.waitScan(t)
			// A directory the server cannot list: partial scans, no delete.
			if err := os.Chmod(filepath.Join(tree, "locked"), 0o000); err != nil {
				t.Fatal(err)
			}
			newer := old.Add(time.Hour)
			put("new.txt", "new", old)
			put("a.txt", "a, longer now", newer)
			if err := os.Remove(filepath.Join(tree, "sub/b.txt")); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(tree, bad)); err != nil {
				t.Fatal(err)
			}
			want := map[string]event.Type{"new.txt": event.Create, "a.txt": event.Modify, "sub/b.txt": event.Delete, bad: event.Delete}
			eventually(t, 30*time.Second, "create, modify and delete events", func() bool { return len(hooks.got()) >= len(want) })
			d.waitScans(t, strings.Count(d.logs(), `"msg":"scan finished","watch":"in"`)+3)
			if got := events(); !sameEvents(got, want) {
				t.Errorf("events %q, want %q", got, want)
			}
			if !strings.Contains(d.logs(), `"msg":"scan finished","watch":"in","result":"partial"`) {
				t.Errorf("no partial scan while locked/ could not be listed:\n%s", d.logs())
			}
			if c := d.stop(t, syscall.SIGTERM); c != 0 {
				t.Fatalf("daemon exit %d\n%s", c, d.logs())
			}
			logs := d.logs()

			// Restart: the state holds; only what changed since is reported.
			if err := os.Chmod(filepath.Join(tree, "locked"), 0o777); err != nil {
				t.Fatal(err)
			}
			d = startDaemon(t, nil, "run", "-c", cfgFile)
			d.waitScans(t, 2)
			put("after.txt", "after", old)
			want["after.txt"] = event.Create
			eventually(t, 30*time.Second, "the create after the restart", func() bool { return len(hooks.got()) >= len(want) })
			d.waitScans(t, strings.Count(d.logs(), `"msg":"scan finished","watch":"in"`)+3)
			if got := events(); !sameEvents(got, want) {
				t.Errorf("after the restart: events %q, want %q", got, want)
			}
			if c := d.stop(t, syscall.SIGTERM); c != 0 {
				t.Fatalf("daemon exit %d\n%s", c, d.logs())
			}
			logs += d.logs()
			if strings.Contains(logs, `"result":"error"`) {
				t.Errorf("a scan failed:\n%s", logs)
			}
			warned := strings.Count(logs, "ended the connection when the directory reader opened a second SSH channel")
			if wantWarn := map[bool]int{true: 2, false: 0}[tc.name == "proftpd-one-channel"]; warned != wantWarn {
				// Once per daemon start (per host, per process).
				t.Errorf("%d warnings about the second channel, want %d:\n%s", warned, wantWarn, logs)
			}
		})
	}
}

func sameEvents(a, b map[string]event.Type) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
