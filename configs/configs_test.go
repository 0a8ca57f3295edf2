// Package configs_test proves that every configuration shipped under configs/
// loads with internal/config exactly as a user would load it, and that the
// reference configuration documents every key.
package configs_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
)

var (
	envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
	// An active (not commented out) *_file key and its value.
	fileKey = regexp.MustCompile(`(?m)^(\s*)([a-z_]+_file):[ \t]*(\S+)`)
	// private_key_passphrase: ${VAR} — the variable the key must be encrypted with.
	passphraseRef = regexp.MustCompile(`(?m)^\s*private_key_passphrase:\s*\$\{([A-Za-z0-9_]+)\}`)
)

// shipped returns every *.yaml under configs/, relative to this directory.
func shipped(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".yaml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found only %v under configs/", files)
	}
	return files
}

// prepare makes src loadable on this machine the way an operator's machine
// would: every ${VAR} it references is set, and every *_file it names is
// replaced by a real temp file of the right kind (key, known_hosts,
// password). It returns the path of the rewritten copy and the env values.
func prepare(t *testing.T, src string) (string, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, m := range envRef.FindAllStringSubmatch(string(raw), -1) {
		env[m[1]] = "value-of-" + m[1]
		t.Setenv(m[1], env[m[1]])
	}
	passphrase := ""
	if m := passphraseRef.FindStringSubmatch(string(raw)); m != nil {
		passphrase = env[m[1]]
	}
	dir := t.TempDir()
	out := fileKey.ReplaceAllStringFunc(string(raw), func(line string) string {
		m := fileKey.FindStringSubmatch(line)
		indent, key, orig := m[1], m[2], m[3]
		p := filepath.Join(dir, key+"-"+filepath.Base(orig))
		writeFileFor(t, key, p, passphrase)
		return indent + key + ": " + p
	})
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return dst, env
}

func writeFileFor(t *testing.T, key, path, passphrase string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return // the same file named twice (two hosts, one known_hosts)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	switch key {
	case "private_key_file":
		var block *pem.Block
		if passphrase != "" {
			block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
		} else {
			block, err = ssh.MarshalPrivateKey(priv, "test")
		}
		if err != nil {
			t.Fatal(err)
		}
		data = pem.EncodeToMemory(block)
	case "known_hosts_file":
		data = []byte("sftp.example.com " + string(ssh.MarshalAuthorizedKey(sshPub)))
	default: // password_file, private_key_passphrase_file
		data = []byte("secret-from-" + key + "\n")
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func load(t *testing.T, src string) (*config.Config, map[string]string) {
	t.Helper()
	path, env := prepare(t, src)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load(%s):\n%v", src, err)
	}
	if len(cfg.Watches) == 0 {
		t.Fatalf("%s: no watches", src)
	}
	for _, w := range cfg.Watches {
		if _, ok := cfg.Hosts[w.Host]; !ok {
			t.Errorf("%s: watch %q refers to unknown host %q", src, w.Name, w.Host)
		}
	}
	return cfg, env
}

func actionTypes(w config.Watch) []string {
	var out []string
	for _, a := range w.Actions {
		out = append(out, a.Type)
	}
	return out
}

func TestEveryShippedConfigLoads(t *testing.T) {
	for _, f := range shipped(t) {
		t.Run(f, func(t *testing.T) {
			cfg, env := load(t, f)
			// No ${VAR} survives loading, and each expands to its value.
			for _, h := range cfg.Hosts {
				for _, v := range []string{h.Password, h.PrivateKeyPassphrase} {
					if strings.Contains(v, "${") {
						t.Errorf("host %s: unexpanded %q", h.Name, v)
					}
				}
			}
			for _, w := range cfg.Watches {
				for _, a := range w.Actions {
					if strings.Contains(a.Secret, "${") {
						t.Errorf("watch %s: unexpanded webhook secret", w.Name)
					}
					if a.Type == "webhook" && a.Secret != "" && !slices.Contains(mapValues(env), a.Secret) {
						t.Errorf("watch %s: webhook secret %q did not come from the environment", w.Name, a.Secret)
					}
				}
			}
		})
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestExamplesDoWhatTheirNamesSay(t *testing.T) {
	for _, tc := range []struct {
		file    string
		actions []string
	}{
		{"examples/ingest-download-exec.yaml", []string{"download", "exec"}},
		{"examples/webhook-notify.yaml", []string{"webhook"}},
		{"examples/move-after-processing.yaml", []string{"download", "move", "log"}},
		{"examples/container-sidecar.yaml", []string{"download", "log"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			cfg, env := load(t, tc.file)
			w := cfg.Watches[0]
			if got := actionTypes(w); !slices.Equal(got, tc.actions) {
				t.Fatalf("actions %v, want %v", got, tc.actions)
			}
			switch tc.file {
			case "examples/webhook-notify.yaml":
				if w.Actions[0].Secret != env["HOOK_SECRET"] {
					t.Errorf("webhook secret %q, want $HOOK_SECRET", w.Actions[0].Secret)
				}
			case "examples/move-after-processing.yaml":
				if w.Actions[1].To != "/inbox/.done" {
					t.Errorf("move to %q", w.Actions[1].To)
				}
			case "examples/container-sidecar.yaml":
				if cfg.HTTP.Listen != "0.0.0.0:9717" {
					t.Errorf("container http.listen %q, want 0.0.0.0:9717 (probes come from outside the container)", cfg.HTTP.Listen)
				}
			}
		})
	}
}

// configKeys returns every key of the configuration structs, by their
// mapstructure names.
func configKeys(t reflect.Type, seen map[reflect.Type]bool, out map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] || t.PkgPath() != reflect.TypeOf(config.Config{}).PkgPath() {
		return
	}
	seen[t] = true
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("mapstructure"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		out[tag] = true
		configKeys(f.Type, seen, out)
	}
}

func TestReferenceDocumentsEveryKey(t *testing.T) {
	raw, err := os.ReadFile("sftpwatchd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	configKeys(reflect.TypeOf(config.Config{}), map[reflect.Type]bool{}, keys)
	if len(keys) < 40 {
		t.Fatalf("found only %d config keys by reflection", len(keys))
	}
	for k := range keys {
		// As a key of its own line (possibly commented out, possibly a list
		// item) or inside a flow mapping.
		re := regexp.MustCompile(`(?m)(^\s*(#\s*)?(-\s+)?|[{,]\s*)` + regexp.QuoteMeta(k) + `:`)
		if !re.Match(raw) {
			t.Errorf("sftpwatchd.yaml does not document the key %q", k)
		}
	}
}
