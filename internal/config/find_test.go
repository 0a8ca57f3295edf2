package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	dir := t.TempDir()
	local := filepath.Join(dir, "sftpwatchd.yaml")
	system := filepath.Join(dir, "etc-config.yaml")
	flag := filepath.Join(dir, "flag.yaml")
	env := filepath.Join(dir, "env.yaml")
	for _, p := range []string{local, system, flag, env} {
		if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing.yaml")
	cands := []string{local, system}

	for _, tc := range []struct {
		name, flag, env string
		cands           []string
		want            string
		err             []string
		notFound        bool
	}{
		{name: "flag wins", flag: flag, env: env, cands: cands, want: flag},
		{name: "env next", env: env, cands: cands, want: env},
		{name: "local next", cands: cands, want: local},
		{name: "system last", cands: []string{missing, system}, want: system},
		{name: "flag missing does not fall back", flag: missing, env: env, cands: cands,
			err: []string{missing, "-c/--config", "does not exist"}, notFound: true},
		{name: "env missing does not fall back", env: missing, cands: cands,
			err: []string{missing, "$SFTPWATCHD_CONFIG", "does not exist"}, notFound: true},
		{name: "directory", flag: dir, err: []string{"is a directory"}},
		{name: "nothing", cands: []string{missing, filepath.Join(dir, "nope.yaml")},
			err: []string{missing, "nope.yaml", "$SFTPWATCHD_CONFIG", "-c FILE"}, notFound: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := find(tc.flag, tc.env, tc.cands)
			if tc.err == nil {
				if err != nil || got != tc.want {
					t.Fatalf("find = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("find = %q, want an error", got)
			}
			for _, s := range tc.err {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if errors.Is(err, ErrNotFound) != tc.notFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", !tc.notFound, tc.notFound)
			}
		})
	}

	// The exported Find reads $SFTPWATCHD_CONFIG.
	t.Setenv("SFTPWATCHD_CONFIG", env)
	if got, err := Find(""); err != nil || got != env {
		t.Errorf("Find with $SFTPWATCHD_CONFIG = %q, %v", got, err)
	}
	if got, err := Find(flag); err != nil || got != flag {
		t.Errorf("Find(flag) = %q, %v", got, err)
	}
	if _, err := Find(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Find(missing) = %v, want fs.ErrNotExist", err)
	}
}
