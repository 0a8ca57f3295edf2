package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// target is one way to reach sshd: plain loopback or through a relay.
type target struct {
	label      string        // "0 ms", "20 ms"
	rtt        time.Duration // the relay's measured added RTT (0 on loopback)
	addr       string        // host:port clients dial
	port       string
	knownHosts string
}

// env is what every measurement needs.
type env struct {
	bin     string // sftpwatchd binary
	work    string
	sshd    *sshd
	python  string
	timeout time.Duration
	verbose bool
	// hostOpts is extra YAML for sftpwatchd's host ("max_connections: 1;
	// max_concurrent_requests: 128", ';' separating keys): experiments only.
	hostOpts string
	// watchOpts is extra YAML for the watch ("concurrency: 16"), in the
	// same form.
	watchOpts string
	tools     string // comma-separated leading words of tool names; "" = all
}

// wants reports whether the tool named name is selected by -tools.
func (e *env) wants(name string) bool {
	if e.tools == "" {
		return true
	}
	name = strings.ToLower(name)
	for _, t := range strings.Split(e.tools, ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		if t != "" && (name == t || strings.HasPrefix(name, t+" ")) {
			return true
		}
	}
	return false
}

// lineCounter counts newlines written to it.
type lineCounter struct{ n int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

// timed runs argv, counting stdout lines, and returns the wall time.
func (e *env) timed(argv []string, extraEnv ...string) (time.Duration, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var lc lineCounter
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &lc, &stderr
	cmd.Env = append(os.Environ(), extraEnv...)
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		tail := stderr.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return d, lc.n, fmt.Errorf("%s: %w: %s", strings.Join(argv[:min(len(argv), 3)], " "), err, tail)
	}
	return d, lc.n, nil
}

// timedTo is timed with stdout written to the file out.
func (e *env) timedTo(out string, argv []string) (time.Duration, int, error) {
	f, err := os.Create(out)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = f, &stderr
	t0 := time.Now()
	err = cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return d, 0, fmt.Errorf("%s: %w: %s", argv[0], err, firstLine(stderr.String()))
	}
	return d, 1, nil
}

// sshArgs are the OpenSSH client options every ssh/sftp/scp call uses:
// no user config, the generated key and known_hosts only.
func (e *env) sshArgs(tg target, portFlag string) []string {
	return []string{"-F", "/dev/null", portFlag, tg.port, "-i", e.sshd.keyFile,
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile=" + tg.knownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "GlobalKnownHostsFile=/dev/null"}
}

// rcloneArgs point rclone's sftp backend at the target with an empty config.
func (e *env) rcloneArgs(tg target) []string {
	cfg := filepath.Join(e.work, "rclone.conf")
	os.WriteFile(cfg, nil, 0o600) //nolint:errcheck
	return []string{"--config", cfg, "--sftp-host", "127.0.0.1", "--sftp-port", tg.port,
		"--sftp-user", e.sshd.user, "--sftp-key-file", e.sshd.keyFile,
		"--sftp-known-hosts-file", tg.knownHosts}
}

// watchConfig writes a sftpwatchd config with one watch "w" on root and
// returns its path. extra is appended to the watch (indented YAML).
func (e *env) watchConfig(name string, tg target, root, stateDir, listen, extra string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir: %s\n", strconv.Quote(stateDir))
	level := "warn"
	if listen != "" {
		level = "debug" // the daemon's "scan finished" lines mark scan boundaries
	}
	fmt.Fprintf(&b, "log: {level: %s, format: json}\n", level)
	fmt.Fprintf(&b, "http: {listen: %s}\n", strconv.Quote(listen))
	fmt.Fprintf(&b, "hosts:\n  h:\n    address: %s\n    user: %s\n    private_key_file: %s\n    known_hosts_file: %s\n",
		strconv.Quote(tg.addr), e.sshd.user, strconv.Quote(e.sshd.keyFile), strconv.Quote(tg.knownHosts))
	for _, kv := range strings.Split(e.hostOpts, ";") {
		if kv = strings.TrimSpace(kv); kv != "" {
			fmt.Fprintf(&b, "    %s\n", kv)
		}
	}
	fmt.Fprintf(&b, "watches:\n  - name: w\n    host: h\n    path: %s\n", strconv.Quote(root))
	for _, kv := range strings.Split(e.watchOpts, ";") {
		if kv = strings.TrimSpace(kv); kv != "" {
			fmt.Fprintf(&b, "    %s\n", kv)
		}
	}
	b.WriteString(extra)
	p := filepath.Join(e.work, "cfg-"+name+".yaml")
	return p, os.WriteFile(p, []byte(b.String()), 0o600)
}
