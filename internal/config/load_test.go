package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSpecExampleLoadsExactly(t *testing.T) {
	cleanEnv(t)
	t.Setenv("PARTNER_PASSWORD", "pa$$ word")
	t.Setenv("KEY_PASS", "kp")
	t.Setenv("HOOK_TOKEN", "tok")
	t.Setenv("HOOK_SECRET", "hs")

	c, err := Load("testdata/spec-example.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		StateDir:        "/var/lib/sftpwatchd",
		ShutdownTimeout: 30 * time.Second,
		Log:             Log{Level: "info", Format: "json"},
		HTTP:            HTTP{Listen: "127.0.0.1:9717"},
		Hosts: map[string]Host{"partner": {
			Name:                  "partner",
			Address:               "sftp.example.com:22",
			User:                  "watcher",
			Password:              "pa$$ word", // the variable's value is not expanded again
			PrivateKeyFile:        "/etc/sftpwatchd/id_ed25519",
			PrivateKeyPassphrase:  "kp",
			KnownHostsFile:        "/etc/sftpwatchd/known_hosts",
			Ciphers:               []string{},
			MaxConnections:        4,
			MaxConcurrentRequests: 64,
			ConnectTimeout:        10 * time.Second,
			RequestTimeout:        2 * time.Minute,
			Keepalive:             30 * time.Second,
		}},
		Watches: []Watch{{
			Name:        "incoming",
			Host:        "partner",
			Path:        "/upload",
			Recursive:   true,
			Lister:      "sftp",
			Include:     []string{"**/*.csv"},
			Exclude:     []string{"**/*.part", "**/.*"},
			Types:       []string{"file"},
			Interval:    30 * time.Second,
			Settle:      30 * time.Second,
			Initial:     "baseline",
			Events:      []string{"create", "modify", "delete"},
			Retry:       Retry{MaxAttempts: 10, InitialBackoff: time.Second, MaxBackoff: 5 * time.Minute},
			Concurrency: 4,
			Actions: []Action{
				{Type: "download", Dest: "/data/incoming", PreserveMtime: true, OnDelete: "keep",
					Events: []string{"create", "modify", "rename"}},
				{Type: "exec", Command: []string{"/usr/local/bin/ingest", "{{.LocalPath}}"},
					Timeout: 5 * time.Minute, Env: map[string]string{"MODE": "batch"}, Dir: "/tmp",
					Events: []string{"create", "modify", "delete", "rename"}},
				{Type: "webhook", URL: "https://hooks.example.com/sftp",
					Headers: map[string]string{"Authorization": "Bearer tok"}, Secret: "hs",
					Timeout: 10 * time.Second, Events: []string{"create", "modify", "delete", "rename"}},
				{Type: "move", To: "/upload/.done", Events: []string{"create", "modify"}},
				{Type: "delete", Events: []string{"create", "modify"}},
				{Type: "log", Events: []string{"create", "modify", "delete", "rename"}},
			},
		}},
		File: "testdata/spec-example.yaml",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("spec example loaded as\n%+v\nwant\n%+v", c, want)
	}

	w, ok := c.Watch("incoming")
	if !ok || w != &c.Watches[0] {
		t.Fatalf("Watch(incoming) = %v, %v", w, ok)
	}
	if h := c.HostFor(w); h.Name != "partner" || h.Address != "sftp.example.com:22" {
		t.Errorf("HostFor = %+v", h)
	}
	if _, ok := c.Watch("nope"); ok {
		t.Errorf("Watch(nope) found something")
	}
}

func TestSpecExampleNeedsItsVariables(t *testing.T) {
	cleanEnv(t)
	t.Setenv("KEY_PASS", "kp")
	t.Setenv("HOOK_TOKEN", "")
	t.Setenv("HOOK_SECRET", "hs")
	_, err := Load("testdata/spec-example.yaml")
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *Error", err)
	}
	// PARTNER_PASSWORD is undefined: an error naming key and variable.
	// HOOK_TOKEN is defined but empty: fine in a header.
	wantOneProblem(t, ce.Problems, "hosts.partner.password", "${PARTNER_PASSWORD}", "not set")
	if !strings.HasPrefix(err.Error(), "config testdata/spec-example.yaml: hosts.partner.password: ") {
		t.Errorf("Error() = %q", err.Error())
	}
	if ce.Problems[0].Line != 12 {
		t.Errorf("line = %d, want 12", ce.Problems[0].Line)
	}
}

func TestDefaults(t *testing.T) {
	home := cleanEnv(t)
	c := mustParse(t, minimal+`
    actions:
      - {type: download, dest: /data}
      - {type: exec, command: [/bin/true]}
      - {type: webhook, url: "http://127.0.0.1:1/x"}
      - {type: move, to: /done}
      - {type: delete}
      - {type: log}
`)
	want := &Config{
		StateDir: "/var/lib/sftpwatchd", ShutdownTimeout: 30 * time.Second,
		Log: Log{Level: "info", Format: "json"}, HTTP: HTTP{Listen: "127.0.0.1:9717"},
		Hosts: map[string]Host{"partner": {
			Name: "partner", Address: "sftp.example.com:22", User: "watcher", Password: "pw",
			KnownHostsFile: filepath.Join(home, ".ssh/known_hosts"),
			MaxConnections: 4, MaxConcurrentRequests: 64,
			ConnectTimeout: 10 * time.Second, RequestTimeout: 2 * time.Minute, Keepalive: 30 * time.Second,
		}},
		Watches: []Watch{{
			Name: "incoming", Host: "partner", Path: "/upload", Recursive: true, Lister: "sftp",
			Types:    []string{"file", "dir", "symlink"},
			Interval: 30 * time.Second, Settle: 30 * time.Second, Initial: "baseline",
			Events:      []string{"create", "modify", "delete"},
			Concurrency: 4,
			Retry:       Retry{MaxAttempts: 10, InitialBackoff: time.Second, MaxBackoff: 5 * time.Minute},
			Actions: []Action{
				{Type: "download", Dest: "/data", PreserveMtime: true, OnDelete: "keep", Events: []string{"create", "modify", "rename"}},
				{Type: "exec", Command: []string{"/bin/true"}, Timeout: 5 * time.Minute, Events: []string{"create", "modify", "delete", "rename"}},
				{Type: "webhook", URL: "http://127.0.0.1:1/x", Timeout: 10 * time.Second, Events: []string{"create", "modify", "delete", "rename"}},
				{Type: "move", To: "/done", Events: []string{"create", "modify"}},
				{Type: "delete", Events: []string{"create", "modify"}},
				{Type: "log", Events: []string{"create", "modify", "delete", "rename"}},
			},
		}},
		File: "test.yaml",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
}

func TestDefaultsDependOnOtherSettings(t *testing.T) {
	cleanEnv(t)
	t.Setenv("STATE_DIRECTORY", "/var/lib/private/sftpwatchd:/var/lib/other")
	c := mustParse(t, `
hosts:
  partner: {address: "[::1]", user: u, agent: true, host_key_fingerprint: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", max_connections: 100}
watches:
  - name: w
    host: partner
    path: /upload/
    recursive: false
    interval: 1m
    detect_renames: true
    retry: {initial_backoff: 10m}
    actions:
      - {type: download, dest: /data/, on_delete: remove, preserve_mtime: false}
      - {type: log, events: [delete]}
`)
	if c.StateDir != "/var/lib/private/sftpwatchd" {
		t.Errorf("StateDir = %q, want the first $STATE_DIRECTORY entry", c.StateDir)
	}
	h := c.Hosts["partner"]
	if h.Address != "[::1]:22" || h.KnownHostsFile != "" || h.MaxConcurrentRequests != 100 {
		t.Errorf("host = %+v", h)
	}
	w := c.Watches[0]
	if w.Recursive || w.Settle != time.Minute || w.Path != "/upload" {
		t.Errorf("recursive/settle/path = %v %v %q", w.Recursive, w.Settle, w.Path)
	}
	if want := []string{"create", "modify", "delete", "rename"}; !reflect.DeepEqual(w.Events, want) {
		t.Errorf("events = %v, want %v", w.Events, want)
	}
	if w.Retry.MaxBackoff != 10*time.Minute {
		t.Errorf("max_backoff = %v, want raised to initial_backoff", w.Retry.MaxBackoff)
	}
	d := w.Actions[0]
	if d.PreserveMtime || d.Dest != "/data" || !reflect.DeepEqual(d.Events, []string{"create", "modify", "delete", "rename"}) {
		t.Errorf("download = %+v", d)
	}
	if !reflect.DeepEqual(w.Actions[1].Events, []string{"delete"}) {
		t.Errorf("explicit action events = %v", w.Actions[1].Events)
	}
}

func TestHTTPListenUnsetVersusEmpty(t *testing.T) {
	cleanEnv(t)
	if got := mustParse(t, minimal).HTTP.Listen; got != DefaultHTTPListen {
		t.Errorf("unset: listen = %q, want %q", got, DefaultHTTPListen)
	}
	if got := mustParse(t, minimal+"http: {listen: \"\"}\n").HTTP.Listen; got != "" {
		t.Errorf(`listen: "" gave %q, want "" (disabled)`, got)
	}
	if got := mustParse(t, minimal+"http: {listen: \":9999\"}\n").HTTP.Listen; got != ":9999" {
		t.Errorf("listen = %q", got)
	}
	t.Setenv("SFTPWATCHD_HTTP_LISTEN", "")
	if got := mustParse(t, minimal).HTTP.Listen; got != "" {
		t.Errorf("SFTPWATCHD_HTTP_LISTEN= gave %q, want \"\" (disabled)", got)
	}
}

func TestEnvOverrides(t *testing.T) {
	cleanEnv(t)
	t.Setenv("SFTPWATCHD_LOG_LEVEL", "debug")
	t.Setenv("SFTPWATCHD_LOG_FORMAT", "console")
	t.Setenv("SFTPWATCHD_STATE_DIR", "/srv/state")
	t.Setenv("SFTPWATCHD_SHUTDOWN_TIMEOUT", "1m")
	t.Setenv("SFTPWATCHD_HOSTS_PARTNER_PASSWORD", "from-env ${NOT_EXPANDED}")
	t.Setenv("SFTPWATCHD_HOSTS_PARTNER_MAX_CONNECTIONS", "8")
	t.Setenv("SFTPWATCHD_HOSTS_PARTNER_AGENT", "true")
	t.Setenv("SFTPWATCHD_HOSTS_MY_HOST_USER", "bob")
	c := mustParse(t, strings.Replace(minimal, "hosts:\n", "hosts:\n  my-host: {address: h, user: alice, agent: true}\n", 1)+"log: {level: warn}\n")
	if c.Log.Level != "debug" || c.Log.Format != "console" || c.StateDir != "/srv/state" || c.ShutdownTimeout != time.Minute {
		t.Errorf("top-level overrides: %+v %q %v", c.Log, c.StateDir, c.ShutdownTimeout)
	}
	p := c.Hosts["partner"]
	if p.Password != "from-env ${NOT_EXPANDED}" || p.MaxConnections != 8 || !p.Agent {
		t.Errorf("host overrides: %+v", p)
	}
	if u := c.Hosts["my-host"].User; u != "bob" {
		t.Errorf("my-host user = %q, want bob (SFTPWATCHD_HOSTS_MY_HOST_USER)", u)
	}
}

func TestEnvOverrideProblems(t *testing.T) {
	cleanEnv(t)
	t.Setenv("SFTPWATCHD_HOSTS_PARTNER_MAX_CONNECTIONS", "many")
	t.Setenv("SFTPWATCHD_LOG_LEVEL", "verbose")
	t.Setenv("SFTPWATCHD_HOSTS_PARTNER_PASSWORD", "")
	probs := problemsOf(t, minimal)
	if len(probs) != 3 {
		t.Fatalf("got %d problems, want 3:\n%s", len(probs), render(probs))
	}
	wantProblem(t, probs, "hosts.partner.max_connections", "whole number", "$SFTPWATCHD_HOSTS_PARTNER_MAX_CONNECTIONS")
	wantProblem(t, probs, "log.level", `"verbose" is not one of`, "$SFTPWATCHD_LOG_LEVEL")
	wantProblem(t, probs, "hosts.partner.password", "is empty", "$SFTPWATCHD_HOSTS_PARTNER_PASSWORD")
}

func TestExpansionEverywhere(t *testing.T) {
	cleanEnv(t)
	t.Setenv("HOST", "sftp.internal")
	t.Setenv("DIR", "/in")
	t.Setenv("PAT", "*.csv")
	t.Setenv("TOK", "t0k")
	t.Setenv("IVL", "45s")
	t.Setenv("EMPTY", "")
	c := mustParse(t, `
hosts:
  partner: {address: "${HOST}:2222", user: "u$$er", password: "p$x", ciphers: ["${EMPTY}aes128-ctr"]}
watches:
  - name: w
    host: partner
    path: ${DIR}/sub
    include: ["**/${PAT}"]
    interval: ${IVL}
    actions:
      - type: webhook
        url: https://example.com/${TOK}
        headers: {X-Token: "Bearer ${TOK}"}
`)
	h := c.Hosts["partner"]
	if h.Address != "sftp.internal:2222" || h.User != "u$er" || h.Password != "p$x" || h.Ciphers[0] != "aes128-ctr" {
		t.Errorf("host = %+v", h)
	}
	w := c.Watches[0]
	if w.Path != "/in/sub" || w.Include[0] != "**/*.csv" || w.Interval != 45*time.Second {
		t.Errorf("watch = %+v", w)
	}
	a := w.Actions[0]
	if a.URL != "https://example.com/t0k" || a.Headers["X-Token"] != "Bearer t0k" {
		t.Errorf("webhook = %+v", a)
	}
}

func TestExpand(t *testing.T) {
	t.Setenv("A", "x")
	t.Setenv("EMPTY", "")
	for _, tc := range []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "x"},
		{in: "a${A}b${A}", want: "axbx"},
		{in: "${EMPTY}", want: ""},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "$A $HOME 5$", want: "$A $HOME 5$"},
		{in: "${UNDEFINED_XYZ}", err: "${UNDEFINED_XYZ}, which is not set"},
		{in: "${A", err: "unterminated"},
		{in: "${}", err: "invalid"},
		{in: "${9A}", err: "invalid"},
		{in: "${a b}", err: "invalid"},
	} {
		got, err := expand(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("expand(%q) error = %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestUndefinedVariableInLists(t *testing.T) {
	cleanEnv(t)
	probs := problemsOf(t, minimal+`    actions:
      - type: exec
        command: [/bin/echo, "${NOPE_1}"]
        env: {K: "${NOPE_2}"}
`)
	if len(probs) != 2 {
		t.Fatalf("got %d problems:\n%s", len(probs), render(probs))
	}
	wantProblem(t, probs, "watches[0].actions[0].command[1]", "${NOPE_1}")
	wantProblem(t, probs, "watches[0].actions[0].env.K", "${NOPE_2}")
}

func TestSecretFiles(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw := write("pw", "s3cret\n")
	kp := write("kp", "pass phrase\r\n")
	hs := write("hs", "hooksecret")
	empty := write("empty", "\n")

	c := mustParse(t, `
hosts:
  partner: {address: h, user: u, password_file: `+pw+`, private_key_file: /k, private_key_passphrase_file: `+kp+`}
watches:
  - name: w
    host: partner
    path: /in
    actions: [{type: webhook, url: "http://x", secret_file: `+hs+`}]
`)
	h := c.Hosts["partner"]
	if h.Password != "s3cret" || h.PrivateKeyPassphrase != "pass phrase" || h.PasswordFile != pw {
		t.Errorf("host secrets = %q %q %q", h.Password, h.PrivateKeyPassphrase, h.PasswordFile)
	}
	if s := c.Watches[0].Actions[0].Secret; s != "hooksecret" {
		t.Errorf("webhook secret = %q", s)
	}

	host := func(extra string) string {
		return "hosts:\n  partner: {address: h, user: u, private_key_file: /k, " + extra + "}\n" +
			"watches: [{name: w, host: partner, path: /in}]\n"
	}
	for _, tc := range []struct{ name, doc, key, msg string }{
		{"both", host("password: x, password_file: " + pw), "hosts.partner.password_file", "both set"},
		{"both passphrase", host("private_key_passphrase: x, private_key_passphrase_file: " + kp), "hosts.partner.private_key_passphrase_file", "both set"},
		{"missing", host("password_file: " + filepath.Join(dir, "nope")), "hosts.partner.password_file", "no such file"},
		{"empty file", host("password_file: " + empty), "hosts.partner.password_file", "is empty"},
		{"directory", host("password_file: " + dir), "hosts.partner.password_file", "not a regular file"},
		{"empty value", host(`password: ""`), "hosts.partner.password", "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOneProblem(t, problemsOf(t, tc.doc), tc.key, tc.msg)
		})
	}
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	home := cleanEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("rel\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sftpwatchd.yaml")
	doc := `
hosts:
  partner: {address: h, user: u, password_file: pw, private_key_file: keys/id, known_hosts_file: ~/kh}
watches: [{name: w, host: partner, path: /in}]
`
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := c.Hosts["partner"]
	if h.Password != "rel" || h.PrivateKeyFile != filepath.Join(dir, "keys/id") || h.KnownHostsFile != filepath.Join(home, "kh") {
		t.Errorf("host = %+v", h)
	}
	if c.File != cfg {
		t.Errorf("File = %q", c.File)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestCasePreserved(t *testing.T) {
	cleanEnv(t)
	c := mustParse(t, `
hosts:
  Partner: {address: h, user: u, agent: true}
watches:
  - name: W
    host: Partner
    path: /in
    actions: [{type: exec, command: [/bin/x], env: {MODE: Batch}}]
`)
	if _, ok := c.Hosts["Partner"]; !ok {
		t.Errorf("host name case lost: %v", sortedKeys(c.Hosts))
	}
	if c.Watches[0].Actions[0].Env["MODE"] != "Batch" {
		t.Errorf("env = %v", c.Watches[0].Actions[0].Env)
	}
}

func TestAnchorsAndMerges(t *testing.T) {
	cleanEnv(t)
	c := mustParse(t, `
hosts:
  a: &common {address: h1, user: u, agent: true, max_connections: 2}
  b: {<<: *common, address: h2}
watches:
  - &w {name: one, host: a, path: /in, interval: 5s}
  - {<<: *w, name: two, host: b}
`)
	if b := c.Hosts["b"]; b.Address != "h2:22" || b.MaxConnections != 2 || b.User != "u" {
		t.Errorf("merged host = %+v", b)
	}
	if w := c.Watches[1]; w.Name != "two" || w.Host != "b" || w.Interval != 5*time.Second {
		t.Errorf("merged watch = %+v", w)
	}
}
