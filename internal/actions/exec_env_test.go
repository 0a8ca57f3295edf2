package actions

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
)

const canary = "SFTPWATCHD_TEST_CANARY=c4nary-s3cret"

// runEnv runs the real env program through an exec action and returns the
// environment it printed (one "K=V" a line, from the logged stdout).
func runEnv(t *testing.T, envProg string, inherit bool) []string {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	a := newExec(t, config.Action{Command: []string{envProg}, Env: map[string]string{"MODE": "batch"},
		InheritEnv: inherit}, zap.New(core))
	if err := a.Run(context.Background(), hookEvent()); err != nil {
		t.Fatal(err)
	}
	ok := logs.FilterMessage("exec ok").All()
	if len(ok) != 1 {
		t.Fatalf("got %d 'exec ok' lines", len(ok))
	}
	return strings.Split(strings.TrimSpace(ok[0].ContextMap()["stdout"].(string)), "\n")
}

func envProgram(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("env")
	if err != nil {
		t.Skip("no env program:", err)
	}
	return p
}

func TestExecEnvironmentIsMinimal(t *testing.T) {
	prog := envProgram(t)
	k, v, _ := strings.Cut(canary, "=")
	t.Setenv(k, v)
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("TZ", "Europe/Berlin")
	t.Setenv("HOME", "/home/daemon")
	env := runEnv(t, prog, false)
	for _, want := range []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "TZ=Europe/Berlin", "HOME=/home/daemon",
		"MODE=batch", "SFTPWATCHD_EVENT_ID=incoming-000000000042", "SFTPWATCHD_REL_PATH=a/b $(x).csv"} {
		if !slices.Contains(env, want) {
			t.Errorf("environment lacks %q:\n%s", want, strings.Join(env, "\n"))
		}
	}
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == k:
			t.Errorf("the daemon's %s reached the program", name)
		case !slices.Contains([]string{"PATH", "LANG", "TZ", "HOME", "MODE"}, name) &&
			!strings.HasPrefix(name, "SFTPWATCHD_"):
			t.Errorf("unexpected variable %q in the minimal environment", kv)
		}
	}
}

func TestExecInheritEnv(t *testing.T) {
	prog := envProgram(t)
	k, v, _ := strings.Cut(canary, "=")
	t.Setenv(k, v)
	env := runEnv(t, prog, true)
	for _, want := range []string{canary, "MODE=batch", "SFTPWATCHD_EVENT_TYPE=create"} {
		if !slices.Contains(env, want) {
			t.Errorf("environment lacks %q:\n%s", want, strings.Join(env, "\n"))
		}
	}
}

func TestExecWithoutDaemonPath(t *testing.T) {
	prog := envProgram(t) // absolute: found before PATH goes
	t.Setenv("PATH", "")
	os.Unsetenv("PATH") // t.Setenv restores it
	for _, inherit := range []bool{false, true} {
		env := runEnv(t, prog, inherit)
		if !slices.Contains(env, "PATH="+defaultPath) {
			t.Errorf("inherit_env %v: no PATH=%s:\n%s", inherit, defaultPath, strings.Join(env, "\n"))
		}
	}
}

func TestBaseEnv(t *testing.T) {
	daemon := map[string]string{"PATH": "/opt/bin", "LANG": "de_DE.UTF-8", "SECRET": "x", "USER": "sftpwatchd"}
	lookupIn := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	environIn := func(m map[string]string) func() []string {
		return func() []string {
			var env []string
			for k, v := range m {
				env = append(env, k+"="+v)
			}
			slices.Sort(env)
			return env
		}
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		inherit bool
		want    []string
	}{
		{"minimal", daemon, false, []string{"PATH=/opt/bin", "LANG=de_DE.UTF-8"}},
		{"inherit", daemon, true, []string{"LANG=de_DE.UTF-8", "PATH=/opt/bin", "SECRET=x", "USER=sftpwatchd"}},
		{"no PATH", map[string]string{"TZ": "UTC"}, false, []string{"TZ=UTC", "PATH=" + defaultPath}},
		{"empty PATH", map[string]string{"PATH": "", "HOME": "/var/lib/sftpwatchd"}, false,
			[]string{"PATH=", "HOME=/var/lib/sftpwatchd", "PATH=" + defaultPath}},
		{"no PATH, inherit", map[string]string{"X": "1"}, true, []string{"X=1", "PATH=" + defaultPath}},
		{"nothing", map[string]string{}, false, []string{"PATH=" + defaultPath}},
	} {
		got := baseEnv(tc.inherit, environIn(tc.env), lookupIn(tc.env))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: baseEnv = %q, want %q", tc.name, got, tc.want)
		}
	}
}
