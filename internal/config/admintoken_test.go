package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAdminTokenFile(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("token", "0123456789abcdef0123\n")
	short := write("short", "abc\n")
	doc := func(http string) string {
		return "http: " + http + "\nhosts:\n  partner: {address: h, user: u, private_key_file: /k}\n" +
			"watches: [{name: w, host: partner, path: /in}]\n"
	}
	c := mustParse(t, doc(`{admin_token_file: `+good+`}`))
	if c.HTTP.AdminToken != "0123456789abcdef0123" || c.HTTP.AdminTokenFile != good {
		t.Errorf("admin token = %q from %q", c.HTTP.AdminToken, c.HTTP.AdminTokenFile)
	}
	if c := mustParse(t, doc(`{listen: ":0"}`)); c.HTTP.AdminToken != "" {
		t.Errorf("no token file: token %q", c.HTTP.AdminToken)
	}
	for _, tc := range []struct{ name, doc, msg string }{
		{"missing", doc(`{admin_token_file: ` + filepath.Join(dir, "nope") + `}`), "no such file"},
		{"empty path", doc(`{admin_token_file: ""}`), "is empty"},
		{"short", doc(`{admin_token_file: ` + short + `}`), "fewer than 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOneProblem(t, problemsOf(t, tc.doc), "http.admin_token_file", tc.msg)
		})
	}
}
