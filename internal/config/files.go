package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxSecretFile bounds what a *_file secret may hold.
const maxSecretFile = 64 << 10

// resolvePath makes a local file path usable: a leading "~/" is the user's
// home directory, and a relative path is taken relative to base (the config
// file's directory; "" keeps it relative to the working directory).
func resolvePath(p, base string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot resolve %q: the home directory is unknown ($HOME is not set)", p)
		}
		p = filepath.Join(home, p[1:])
	}
	if base != "" && !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	return p, nil
}

// resolvePaths resolves the local file paths of every host and the
// secret_file of every webhook. (Paths that must be absolute — download dest,
// exec dir — are validated instead.)
func resolvePaths(c *Config, base string, p *problems) {
	if c.HTTP.AdminTokenFile != "" {
		if r, err := resolvePath(c.HTTP.AdminTokenFile, base); err != nil {
			p.add("http.admin_token_file", err.Error()+"; give an absolute path")
		} else {
			c.HTTP.AdminTokenFile = r
		}
	}
	for i := range c.Watches {
		for j := range c.Watches[i].Actions {
			a := &c.Watches[i].Actions[j]
			if a.SecretFile == "" {
				continue
			}
			r, err := resolvePath(a.SecretFile, base)
			if err != nil {
				p.add(index(index("watches", i)+".actions", j)+".secret_file", err.Error()+"; give an absolute path")
				continue
			}
			a.SecretFile = r
		}
	}
	for name, h := range c.Hosts {
		key := join("hosts", name)
		for _, f := range []struct {
			key string
			val *string
		}{
			{"password_file", &h.PasswordFile},
			{"private_key_file", &h.PrivateKeyFile},
			{"private_key_passphrase_file", &h.PrivateKeyPassphraseFile},
			{"certificate_file", &h.CertificateFile},
			{"known_hosts_file", &h.KnownHostsFile},
		} {
			if *f.val == "" {
				continue
			}
			r, err := resolvePath(*f.val, base)
			if err != nil {
				p.add(key+"."+f.key, err.Error()+"; give an absolute path")
				continue
			}
			*f.val = r
		}
		c.Hosts[name] = h
	}
}

// loadSecrets reads the *_file secrets into their plain fields, and refuses
// secrets that are set but empty: an unset ${VAR} is caught by expansion, a
// set-but-empty one here, so an empty password never passes silently.
func loadSecrets(c *Config, set func(string) bool, p *problems) {
	switch {
	case set("http.admin_token_file") && c.HTTP.AdminTokenFile == "":
		p.add("http.admin_token_file", "is empty; give the path of a file holding the admin token, or remove the setting (the /api/v1/ routes stay read-only)")
	case c.HTTP.AdminTokenFile != "":
		tok, err := readSecret(c.HTTP.AdminTokenFile)
		switch {
		case err != nil:
			p.add("http.admin_token_file", err.Error())
		case len(tok) < 16:
			p.add("http.admin_token_file", "holds a token of fewer than 16 characters; write a long random one, e.g. `openssl rand -hex 32 > FILE`")
		default:
			c.HTTP.AdminToken = tok
		}
	}
	for name, h := range c.Hosts {
		key := join("hosts", name)
		secretPair(&h.Password, h.PasswordFile, key, "password", set, p)
		secretPair(&h.PrivateKeyPassphrase, h.PrivateKeyPassphraseFile, key, "private_key_passphrase", set, p)
		c.Hosts[name] = h
	}
	for i := range c.Watches {
		for j := range c.Watches[i].Actions {
			a := &c.Watches[i].Actions[j]
			key := index(index("watches", i)+".actions", j)
			if a.Type == "webhook" {
				secretPair(&a.Secret, a.SecretFile, key, "secret", set, p)
			}
		}
	}
}

// secretPair handles one secret and its _file variant under block key.
func secretPair(val *string, file, key, name string, set func(string) bool, p *problems) {
	valKey, fileKey := key+"."+name, key+"."+name+"_file"
	switch {
	case set(valKey) && set(fileKey):
		p.add(fileKey, fmt.Sprintf("%s and %s_file are both set; keep one", name, name))
	case set(fileKey):
		if file == "" {
			p.add(fileKey, "is empty; give the path of a file holding the secret, or remove the setting")
			return
		}
		s, err := readSecret(file)
		if err != nil {
			p.add(fileKey, err.Error())
			return
		}
		*val = s
	case set(valKey) && *val == "":
		p.add(valKey, "is empty (an empty environment variable?); give a value or remove the setting")
	}
}

// readSecret reads a secret file, without its trailing newline. Only regular
// files are read (a FIFO or device could block or never end), up to
// maxSecretFile bytes.
func readSecret(path string) (string, error) {
	data, err := readLimited(path, maxSecretFile)
	if err != nil {
		return "", fmt.Errorf("cannot read the secret: %w", err)
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" {
		return "", errors.New("the file " + path + " is empty")
	}
	return s, nil
}

// readLimited reads a regular file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}
