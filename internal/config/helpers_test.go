package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// cleanEnv makes the environment deterministic for one test: no
// SFTPWATCHD_* overrides, no STATE_DIRECTORY, a known HOME. It returns HOME.
func cleanEnv(t *testing.T) string {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SFTPWATCHD_") || name == "STATE_DIRECTORY" {
			unsetenv(t, name)
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	return home
}

// unsetenv removes a variable for the test, restoring it afterwards.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // registers the restore
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse([]byte(doc), "test.yaml")
	if err != nil {
		t.Fatalf("Parse: unexpected error:\n%v", err)
	}
	return c
}

// problemsOf parses doc and returns its problems, failing if it parses.
func problemsOf(t *testing.T, doc string) []Problem {
	t.Helper()
	c, err := Parse([]byte(doc), "test.yaml")
	if err == nil {
		t.Fatalf("Parse succeeded, want problems; config: %+v", c)
	}
	if c != nil {
		t.Errorf("Parse returned a config together with an error")
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error is %T, want *Error: %v", err, err)
	}
	if len(ce.Problems) == 0 {
		t.Fatalf("*Error without problems")
	}
	return ce.Problems
}

// wantProblem asserts that problems hold exactly one problem, of key, whose
// message contains every one of msgs.
func wantOneProblem(t *testing.T, probs []Problem, key string, msgs ...string) {
	t.Helper()
	if len(probs) != 1 {
		t.Fatalf("got %d problems, want 1 (%s):\n%s", len(probs), key, render(probs))
	}
	wantProblem(t, probs, key, msgs...)
}

func wantProblem(t *testing.T, probs []Problem, key string, msgs ...string) {
	t.Helper()
	for _, p := range probs {
		if p.Key != key {
			continue
		}
		for _, m := range msgs {
			if !strings.Contains(p.Msg, m) {
				t.Errorf("problem %s: message %q does not contain %q", key, p.Msg, m)
			}
		}
		return
	}
	t.Errorf("no problem for key %q; got:\n%s", key, render(probs))
}

func render(probs []Problem) string {
	return (&Error{Source: "test.yaml", Problems: probs}).Error()
}

// minimal is the smallest valid config.
const minimal = `
hosts:
  partner:
    address: sftp.example.com
    user: watcher
    password: pw
watches:
  - name: incoming
    host: partner
    path: /upload
`
