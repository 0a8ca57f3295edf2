package config

import (
	"strings"
	"testing"
	"time"
)

const (
	okHost  = "address: h, user: u, password: pw"
	okWatch = "name: w, host: partner, path: /in"
)

// doc builds a config from the flow-mapping bodies of host "partner" and of
// one watch, plus extra top-level YAML.
func doc(host, watch, extra string) string {
	return "hosts:\n  partner: {" + host + "}\nwatches:\n  - {" + watch + "}\n" + extra
}

// act builds a config whose single watch has the given actions (flow list
// body).
func act(actions string) string {
	return doc(okHost, okWatch+", actions: ["+actions+"]", "")
}

func TestValidationRules(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct {
		name, doc, key, msg string
	}{
		// top level
		{"state_dir empty", doc(okHost, okWatch, `state_dir: ""`), "state_dir", "is empty"},
		{"shutdown negative", doc(okHost, okWatch, "shutdown_timeout: -1s"), "shutdown_timeout", "negative"},
		{"log level", doc(okHost, okWatch, "log: {level: inf}"), "log.level", `"inf" is not one of debug, info, warn, error (did you mean "info"?)`},
		{"log format", doc(okHost, okWatch, "log: {format: text}"), "log.format", "is not one of json, console"},
		{"listen not host:port", doc(okHost, okWatch, "http: {listen: localhost}"), "http.listen", "not a host:port"},
		{"listen bad port", doc(okHost, okWatch, `http: {listen: "127.0.0.1:99999"}`), "http.listen", "invalid port"},
		{"no watches", "hosts: {partner: {" + okHost + "}}\n", "watches", "no watch is configured"},

		// watches
		{"lister unknown", doc(okHost, okWatch+", lister: fnd", ""), "watches[0].lister", `"fnd" is not one of sftp, find (did you mean "find"?)`},
		{"lister find follows links", doc(okHost, okWatch+", lister: find, follow_symlinks: true", ""), "watches[0].lister", "find cannot be combined with follow_symlinks: true"},
		{"name required", doc(okHost, "host: partner, path: /in", ""), "watches[0].name", "is required"},
		{"name charset", doc(okHost, `name: "a b", host: partner, path: /in`, ""), "watches[0].name", "may only hold"},
		{"name hostile", doc(okHost, `name: "$(touch PWNED)", host: partner, path: /in`, ""), "watches[0].name", "may only hold"},
		{"name dotdot", doc(okHost, `name: "..", host: partner, path: /in`, ""), "watches[0].name", "cannot be a watch name"},
		{"name unique", doc(okHost, okWatch, "  - {"+okWatch+"}\n"), "watches[1].name", "already the name of watches[0]"},
		{"host required", doc(okHost, "name: w, path: /in", ""), "watches[0].host", "is required"},
		{"host unknown", doc(okHost, "name: w, host: partnr, path: /in", ""), "watches[0].host", `not defined under hosts: (did you mean "partner"?)`},
		{"path required", doc(okHost, "name: w, host: partner", ""), "watches[0].path", "is required"},
		{"path relative", doc(okHost, "name: w, host: partner, path: upload", ""), "watches[0].path", "not an absolute remote path"},
		{"interval zero", doc(okHost, okWatch+", interval: 0s", ""), "watches[0].interval", "must be positive"},
		{"interval negative", doc(okHost, okWatch+", interval: -5s", ""), "watches[0].interval", "must be positive"},
		{"settle negative", doc(okHost, okWatch+", settle: -1s", ""), "watches[0].settle", "negative"},
		{"min_age negative", doc(okHost, okWatch+", min_age: -1s", ""), "watches[0].min_age", "negative"},
		{"max_depth negative", doc(okHost, okWatch+", max_depth: -1", ""), "watches[0].max_depth", "negative"},
		{"concurrency zero", doc(okHost, okWatch+", concurrency: 0", ""), "watches[0].concurrency", "at least 1"},
		{"retry attempts", doc(okHost, okWatch+", retry: {max_attempts: 0}", ""), "watches[0].retry.max_attempts", "at least 1"},
		{"retry initial", doc(okHost, okWatch+", retry: {initial_backoff: 0s}", ""), "watches[0].retry.initial_backoff", "positive"},
		{"retry max below initial", doc(okHost, okWatch+", retry: {initial_backoff: 10s, max_backoff: 5s}", ""), "watches[0].retry.max_backoff", "(5s) must not be less than initial_backoff (10s)"},
		{"include glob", doc(okHost, okWatch+`, include: ["[abc"]`, ""), "watches[0].include[0]", "not a valid glob"},
		{"exclude glob", doc(okHost, okWatch+`, exclude: ["ok/*", "{a,b"]`, ""), "watches[0].exclude[1]", "not a valid glob"},
		{"empty glob", doc(okHost, okWatch+`, include: [""]`, ""), "watches[0].include[0]", "empty pattern"},
		{"types", doc(okHost, okWatch+", types: [file, socket]", ""), "watches[0].types[1]", `"socket" is not one of file, dir, symlink`},
		{"events", doc(okHost, okWatch+", events: [create, moved]", ""), "watches[0].events[1]", "is not one of create, modify, delete, rename"},
		{"rename without detect", doc(okHost, okWatch+", events: [rename]", ""), "watches[0].events[0]", "need detect_renames"},
		{"initial", doc(okHost, okWatch+", initial: later", ""), "watches[0].initial", "is not one of baseline, emit"},

		// hosts
		{"address required", doc("user: u, password: pw", okWatch, ""), "hosts.partner.address", "is required"},
		{"address scheme", doc("address: sftp://h, user: u, password: pw", okWatch, ""), "hosts.partner.address", "without a scheme"},
		{"address port", doc(`address: "h:0", user: u, password: pw`, okWatch, ""), "hosts.partner.address", "invalid port"},
		{"address colons", doc(`address: "a:b:c", user: u, password: pw`, okWatch, ""), "hosts.partner.address", "not a valid host"},
		{"user required", doc("address: h, password: pw", okWatch, ""), "hosts.partner.user", "is required"},
		{"no auth", doc("address: h, user: u", okWatch, ""), "hosts.partner", "no way to authenticate"},
		{"passphrase without key", doc(okHost+", private_key_passphrase: x", okWatch, ""), "hosts.partner.private_key_passphrase", "private_key_file is not"},
		{"two policies", doc(okHost+", known_hosts_file: /kh, insecure_ignore_host_key: true", okWatch, ""), "hosts.partner.insecure_ignore_host_key", "known_hosts_file and insecure_ignore_host_key are alternative"},
		{"pin and insecure", doc(okHost+", host_key_fingerprint: \"SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\", insecure_ignore_host_key: true", okWatch, ""), "hosts.partner.insecure_ignore_host_key", "alternative"},
		{"fingerprint prefix", doc(okHost+", host_key_fingerprint: \"MD5:aa:bb\"", okWatch, ""), "hosts.partner.host_key_fingerprint", `"SHA256:"`},
		{"fingerprint body", doc(okHost+", host_key_fingerprint: \"SHA256:abc\"", okWatch, ""), "hosts.partner.host_key_fingerprint", "not the base64"},
		{"max_connections", doc(okHost+", max_connections: 0", okWatch, ""), "hosts.partner.max_connections", "at least 1"},
		{"max_concurrent_requests", doc(okHost+", max_connections: 8, max_concurrent_requests: 4", okWatch, ""), "hosts.partner.max_concurrent_requests", "(4) must be at least max_connections (8)"},
		{"connect_timeout", doc(okHost+", connect_timeout: 0s", okWatch, ""), "hosts.partner.connect_timeout", "positive"},
		{"request_timeout", doc(okHost+", request_timeout: 0s", okWatch, ""), "hosts.partner.request_timeout", "positive"},
		{"keepalive", doc(okHost+", keepalive: -1s", okWatch, ""), "hosts.partner.keepalive", "negative"},
		{"cipher empty", doc(okHost+`, ciphers: [""]`, okWatch, ""), "hosts.partner.ciphers[0]", "is empty"},
		{"cipher unknown", doc(okHost+", ciphers: [aes128-ctr, aes128-ctrr]", okWatch, ""), "hosts.partner.ciphers[1]", `did you mean "aes128-ctr"?`},

		// actions
		{"action type required", act("{dest: /d}"), "watches[0].actions[0].type", "is required"},
		{"action type typo", act("{type: downlaod, dest: /d}"), "watches[0].actions[0].type", `did you mean "download"?`},
		{"foreign field", act("{type: log}, {type: exec, command: [/bin/x], dest: /d}"), "watches[0].actions[1].dest", "is not a setting of an exec action (exec takes command, env, inherit_env, dir, timeout, permanent_exit_codes)"},
		{"inherit_env not bool", act("{type: exec, command: [/bin/x], inherit_env: yes please}"), "watches[0].actions[0].inherit_env", "must be true or false"},
		{"inherit_env on webhook", act("{type: webhook, url: http://h, inherit_env: true}"), "watches[0].actions[0].inherit_env", "is not a setting of a webhook action"},
		{"foreign field on log", act("{type: log, timeout: 5s}"), "watches[0].actions[0].timeout", "is not a setting of a log action (log takes no settings"},
		{"action events", act("{type: log, events: [create, moved]}"), "watches[0].actions[0].events[1]", "is not one of"},
		{"dest required", act("{type: download}"), "watches[0].actions[0].dest", "is required"},
		{"dest relative", act("{type: download, dest: data}"), "watches[0].actions[0].dest", "not an absolute path"},
		{"on_delete", act("{type: download, dest: /d, on_delete: purge}"), "watches[0].actions[0].on_delete", "is not one of keep, remove"},
		{"command required", act("{type: exec}"), "watches[0].actions[0].command", "is required"},
		{"command empty program", act(`{type: exec, command: ["", x]}`), "watches[0].actions[0].command[0]", "is empty"},
		{"template field", act(`{type: exec, command: [/bin/echo, "{{.Nmae}}"]}`), "watches[0].actions[0].command[1]", "Nmae"},
		{"template syntax", act(`{type: exec, command: [/bin/echo, "{{.Name"]}`), "watches[0].actions[0].command[1]", "not a valid template"},
		{"template range", act(`{type: exec, command: [/bin/echo, "{{range 1000000000000}}{{end}}"]}`), "watches[0].actions[0].command[1]", "uses range"},
		{"exec dir", act("{type: exec, command: [/bin/x], dir: tmp}"), "watches[0].actions[0].dir", "not an absolute path"},
		{"exec timeout", act("{type: exec, command: [/bin/x], timeout: 0s}"), "watches[0].actions[0].timeout", "positive"},
		{"exec env name", act(`{type: exec, command: [/bin/x], env: {"A=B": x}}`), `watches[0].actions[0].env["A=B"]`, "not a valid environment variable name"},
		{"url required", act("{type: webhook}"), "watches[0].actions[0].url", "is required"},
		{"url scheme", act("{type: webhook, url: \"ftp://h/x\"}"), "watches[0].actions[0].url", "http:// or https://"},
		{"url relative", act("{type: webhook, url: /hook}"), "watches[0].actions[0].url", "http:// or https://"},
		{"url no host", act("{type: webhook, url: \"http:///x\"}"), "watches[0].actions[0].url", "has no host"},
		{"webhook timeout", act("{type: webhook, url: \"http://h\", timeout: 0s}"), "watches[0].actions[0].timeout", "positive"},
		{"header name", act(`{type: webhook, url: "http://h", headers: {"Bad Header": x}}`), `watches[0].actions[0].headers["Bad Header"]`, "not a valid HTTP header name"},
		{"header value", act(`{type: webhook, url: "http://h", headers: {X-A: "a\nInjected: 1"}}`), "watches[0].actions[0].headers.X-A", "line break"},
		{"webhook empty secret", act(`{type: webhook, url: "http://h", secret: ""}`), "watches[0].actions[0].secret", "is empty"},
		{"move to required", act("{type: move}"), "watches[0].actions[0].to", "is required"},
		{"move to relative", act("{type: move, to: done}"), "watches[0].actions[0].to", "not an absolute remote path"},
		{"move to root", act("{type: move, to: /in/}"), "watches[0].actions[0].to", "watched directory itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOneProblem(t, problemsOf(t, tc.doc), tc.key, tc.msg)
		})
	}
}

func TestValidInputsPass(t *testing.T) {
	cleanEnv(t)
	for _, d := range []string{
		doc(`address: "h:2222", user: u, password: pw`, okWatch, ""),
		doc(`address: "[2001:db8::1]:22", user: u, agent: true`, okWatch, ""),
		doc(okHost+`, ciphers: [aes256-gcm@openssh.com, chacha20-poly1305@openssh.com]`, okWatch, ""),
		doc(okHost+`, host_key_fingerprint: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="`, okWatch, ""),
		doc(okHost, okWatch+`, events: [rename], detect_renames: true, min_age: 0, settle: 0s`, ""),
		doc(okHost, okWatch+`, include: ["**/*.{csv,txt}", "a/[0-9]*"]`, ""),
		act(`{type: exec, command: [/bin/echo, "{{.ID}} {{.Watch}} {{.Host}} {{.Type}} {{.Path}} {{.RelPath}} {{.Name}} {{.Size}} {{.MTime.Unix}} {{.LocalPath}} {{.OldPath}}", "{{if .OldPath}}x{{end}}"]}`),
		act(`{type: webhook, url: "https://user@hooks.example.com:8443/p?q=1", headers: {X-Trace: "a b"}, timeout: 1h30m}`),
	} {
		mustParse(t, d)
	}
}

func TestUnknownKeysSuggest(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct{ name, doc, key, msg string }{
		{"top level", doc(okHost, okWatch, "stat_dir: /x"), "stat_dir", `is not a known setting (did you mean "state_dir"?)`},
		{"nested block", doc(okHost, okWatch, "log: {levle: info}"), "log.levle", `did you mean "level"?`},
		{"host", doc(okHost+", adress: h", okWatch, ""), "hosts.partner.adress", `did you mean "address"?`},
		{"watch", doc(okHost, okWatch+", intervall: 5s", ""), "watches[0].intervall", `did you mean "interval"?`},
		{"retry", doc(okHost, okWatch+", retry: {max_attempt: 3}", ""), "watches[0].retry.max_attempt", `did you mean "max_attempts"?`},
		{"no close key", doc(okHost, okWatch+", colour: blue", ""), "watches[0].colour", "known settings here: name, host, path"},
		{"hostile key", doc(okHost, okWatch+", \"a\\nb\": 1", ""), `watches[0]["a\nb"]`, "is not a known setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOneProblem(t, problemsOf(t, tc.doc), tc.key, tc.msg)
		})
	}

	// The brief's example: the full key path of a typo deep in an action.
	probs := problemsOf(t, `
hosts: {partner: {`+okHost+`}}
watches:
  - name: w
    host: partner
    path: /in
    actions:
      - type: log
      - type: download
        dset: /data
`)
	if len(probs) != 2 {
		t.Fatalf("got %d problems:\n%s", len(probs), render(probs))
	}
	wantProblem(t, probs, "watches[0].actions[1].dset", `is not a known setting (did you mean "dest"?)`)
	wantProblem(t, probs, "watches[0].actions[1].dest", "is required")
	for _, p := range probs {
		if p.Key == "watches[0].actions[1].dset" && p.Line != 10 {
			t.Errorf("line of dset = %d, want 10", p.Line)
		}
	}
}

func TestTypeProblems(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct{ name, doc, key, msg string }{
		{"bool", doc(okHost, okWatch+", recursive: yes", ""), "watches[0].recursive", "must be true or false"},
		{"int float", doc(okHost, okWatch+", max_depth: 1.5", ""), "watches[0].max_depth", "must be a whole number"},
		{"int huge", doc(okHost, okWatch+", max_depth: 99999999999999999999999", ""), "watches[0].max_depth", "whole number"},
		{"hosts list", "hosts: [a]\nwatches: [{" + okWatch + "}]\n", "hosts", "must be a mapping of names to settings, got a list"},
		{"watches map", "hosts: {partner: {" + okHost + "}}\nwatches: {a: b}\n", "watches", "must be a list, got a mapping"},
		{"string list scalar", doc(okHost, okWatch+`, include: "*.csv"`, ""), "watches[0].include", "must be a list of strings"},
		{"block scalar", doc(okHost, okWatch, "log: 5"), "log", "must be a mapping of settings, got a number"},
		{"duplicate key", "hosts: {partner: {" + okHost + "}}\nwatches: [{" + okWatch + "}]\nlog: {level: info, level: debug}\n", "log.level", "more than once"},
		{"string got list", doc("address: h, user: u, password: [a, b]", okWatch, ""), "hosts.partner.password", "must be a string, got a list"},
		{"list element", doc(okHost, okWatch+", types: [file, [dir]]", ""), "watches[0].types[1]", "must be a string, got a list"},
		{"action not a mapping", act("log"), "watches[0].actions[0]", "must be a mapping of settings, got a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOneProblem(t, problemsOf(t, tc.doc), tc.key, tc.msg)
		})
	}
}

func TestDurations(t *testing.T) {
	cleanEnv(t)
	t.Setenv("IVL", "2m")
	for _, tc := range []struct {
		val  string
		want time.Duration
		err  string
	}{
		{val: "30s", want: 30 * time.Second},
		{val: `"1h30m"`, want: 90 * time.Minute},
		{val: `"${IVL}"`, want: 2 * time.Minute},
		{val: "0", want: 0},
		{val: `"0"`, want: 0},
		{val: "30", err: `bare number 30`},
		{val: `"30"`, err: `bare number 30`},
		{val: "1.5", err: "bare number"},
		{val: "abc", err: `must be a duration such as "30s" or "5m", got "abc"`},
		{val: `""`, err: "empty string"},
		{val: "[1s]", err: "got a list"},
		{val: "true", err: "got true/false"},
	} {
		t.Run(tc.val, func(t *testing.T) {
			d := doc(okHost, okWatch+", min_age: "+tc.val, "")
			if tc.err != "" {
				wantOneProblem(t, problemsOf(t, d), "watches[0].min_age", tc.err)
				return
			}
			if got := mustParse(t, d).Watches[0].MinAge; got != tc.want {
				t.Errorf("min_age %s = %v, want %v", tc.val, got, tc.want)
			}
		})
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	cleanEnv(t)
	probs := problemsOf(t, `
log:
  level: loud
hosts:
  partner:
    address: h
    user: u
    password: pw
    max_connections: 0
watches:
  - name: incoming
    host: partnr
    path: relative
    interval: 30
    actions:
      - type: exec
        command: ["/bin/echo", "{{.Nmae}}"]
`)
	want := []string{
		"log.level",
		"hosts.partner.max_connections",
		"watches[0].host",
		"watches[0].path",
		"watches[0].interval",
		"watches[0].actions[0].command[1]",
	}
	var got []string
	for _, p := range probs {
		got = append(got, p.Key)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("problem keys in order\n got %v\nwant %v\n%s", got, want, render(probs))
	}
	lines := strings.Split(render(probs), "\n")
	if len(lines) != len(want) {
		t.Fatalf("Error() has %d lines, want %d", len(lines), len(want))
	}
	for i, l := range lines {
		if prefix := "config test.yaml: " + want[i] + ": "; !strings.HasPrefix(l, prefix) {
			t.Errorf("line %d = %q, want prefix %q", i, l, prefix)
		}
	}
}

func TestErrorsNeverShowSecrets(t *testing.T) {
	cleanEnv(t)
	const secret = "Hunter2Secret"
	for _, d := range []string{
		doc("address: h, user: u, password: \"x${"+secret+" y}\"", okWatch, ""),
		doc("address: h, user: u, password: \"a${"+secret+"\"", okWatch, ""),
		act(`{type: webhook, url: "https://u:` + secret + `@exa mple.com/"}`),
		act(`{type: webhook, url: "https://u:` + secret + `@[::1/"}`),
		act(`{type: webhook, url: "http://h", secret: {v: ` + secret + `}}`),
		act(`{type: webhook, url: "http://h", headers: {X-A: "` + secret + `\r\n"}}`),
		doc("address: h, user: u, private_key_passphrase: "+secret, okWatch, ""),
		doc("address: sftp://u:"+secret+"@h, user: u, password: p", okWatch, ""),
		doc("address: u:"+secret+"@h:22, user: u, password: p", okWatch, ""),
		act(`{type: webhook, url: "ftp://u:` + secret + `@h/"}`),
		doc("address: h, user: u, password: \""+secret, okWatch, ""),
		doc("address: h, user: u, password: *"+secret, okWatch, ""),
		doc("address: h, user: u, password: !"+secret+" x: y", okWatch, ""),
		act(`{type: webhook, url: "https://h:` + secret + `/"}`),
	} {
		probs := problemsOf(t, d)
		if msg := render(probs); strings.Contains(msg, secret) {
			t.Errorf("error shows the secret:\n%s", msg)
		} else {
			t.Logf("%s", msg)
		}
	}
}

func TestNormalizeAddress(t *testing.T) {
	for in, want := range map[string]string{
		"host":           "host:22",
		"host:2222":      "host:2222",
		"10.0.0.1":       "10.0.0.1:22",
		"[::1]":          "[::1]:22",
		"::1":            "[::1]:22",
		"[::1]:2200":     "[::1]:2200",
		"sftp.example.c": "sftp.example.c:22",
	} {
		if got, err := normalizeAddress(in); got != want || err != "" {
			t.Errorf("normalizeAddress(%q) = %q, %q; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "h:", ":22", "h:65536", "h:x", "user@h", "sftp://h", "a b", "[::1", "a:b:c"} {
		if _, err := normalizeAddress(in); err == "" {
			t.Errorf("normalizeAddress(%q) accepted", in)
		}
	}
}
