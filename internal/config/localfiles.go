package config

import (
	"fmt"
	"os"
)

// CheckFiles reports the local files the config names that the daemon
// would fail to read at run time: every host's private_key_file and
// known_hosts_file (the default ~/.ssh/known_hosts included, when no other
// host key policy is set), and the *_file secrets (read by Load already;
// checked again in case they changed since). It returns nil or an *Error
// with one problem per file, each naming its key.
func CheckFiles(c *Config) error {
	p := newProblems()
	for _, name := range sortedKeys(c.Hosts) {
		h := c.Hosts[name]
		key := join("hosts", name)
		checkReadable(p, key+".private_key_file", h.PrivateKeyFile,
			"fix the path, or make the file readable by the user sftpwatchd runs as")
		if h.HostKeyFingerprint == "" && !h.InsecureIgnoreHostKey {
			checkReadable(p, key+".known_hosts_file", h.KnownHostsFile,
				fmt.Sprintf("create it with the server's key (ssh-keyscan, then compare the fingerprint), or set %s.host_key_fingerprint", key))
		}
		checkReadable(p, key+".password_file", h.PasswordFile, "fix the path or the file's permissions")
		checkReadable(p, key+".private_key_passphrase_file", h.PrivateKeyPassphraseFile, "fix the path or the file's permissions")
	}
	for i, w := range c.Watches {
		for j, a := range w.Actions {
			checkReadable(p, index(index("watches", i)+".actions", j)+".secret_file", a.SecretFile,
				"fix the path or the file's permissions")
		}
	}
	if len(p.list) == 0 {
		return nil
	}
	return &Error{Source: c.File, Problems: p.list}
}

// checkReadable records a problem under key when file is set and cannot be
// opened for reading or is not a regular file.
func checkReadable(p *problems, key, file, fix string) {
	if file == "" {
		return
	}
	f, err := os.Open(file)
	if err != nil {
		p.add(key, err.Error()+"; "+fix)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		p.add(key, err.Error()+"; "+fix)
	case !fi.Mode().IsRegular():
		p.add(key, fmt.Sprintf("%s is not a regular file; %s", file, fix))
	}
}
