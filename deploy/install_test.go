package deploy_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestInstalledConfigHasItsEnvironment: the config `make install` puts in
// /etc/sftpwatchd references ${VAR}s that must be set for `check` and
// `run` to load it; the env file it installs beside it sets every one, and
// the unit (whose ExecReload runs check) reads that file.
func TestInstalledConfigHasItsEnvironment(t *testing.T) {
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cfg := read("../configs/sftpwatchd.yaml")
	env := read("systemd/sftpwatchd.env")
	unit := read("systemd/sftpwatchd.service")
	mk := read("../Makefile")

	// ${VAR} in active lines (comments may show examples).
	ref := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
	set := map[string]bool{}
	for _, l := range strings.Split(env, "\n") {
		if k, _, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			set[k] = true
		}
	}
	var vars []string
	for _, l := range strings.Split(cfg, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		for _, m := range ref.FindAllStringSubmatch(l, -1) {
			vars = append(vars, m[1])
			if !set[m[1]] {
				t.Errorf("configs/sftpwatchd.yaml references ${%s}, which systemd/sftpwatchd.env does not set", m[1])
			}
		}
	}
	if len(vars) == 0 {
		t.Fatal("no ${VAR} found in the reference config: the test reads the wrong file")
	}
	if !strings.Contains(unit, "\nEnvironmentFile=-/etc/sftpwatchd/env\n") {
		t.Error("the unit does not read /etc/sftpwatchd/env")
	}
	if !strings.Contains(mk, "install -D -m 0600 deploy/systemd/sftpwatchd.env $(DESTDIR)/etc/sftpwatchd/env") {
		t.Error("make install does not install the env file")
	}
}
