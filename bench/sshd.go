package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshd is a real OpenSSH server on 127.0.0.1 with generated keys, logging
// in root (the bench runs as root) or the current user.
type sshd struct {
	addr    string
	port    int
	user    string
	dir     string // config, keys
	keyFile string // client private key (ed25519, OpenSSH format)
	hostKey ssh.PublicKey
	cmd     *exec.Cmd
	done    chan struct{}
	log     *os.File
}

func findSSHD() (string, error) {
	if p, err := exec.LookPath("sshd"); err == nil {
		return filepath.Abs(p)
	}
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("sshd not found: apt-get install openssh-server")
}

func writeKey(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	b, err := ssh.MarshalPrivateKey(priv, "bench")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
		return nil, fmt.Errorf("write key %s: %w", path, err)
	}
	return ssh.NewPublicKey(pub)
}

// startSSHD generates keys and a config under dir and starts sshd on a free
// loopback port, returning once it answers with an SSH banner.
func startSSHD(dir string) (*sshd, error) {
	bin, err := findSSHD()
	if err != nil {
		return nil, err
	}
	user := "root"
	if os.Geteuid() != 0 {
		user = os.Getenv("USER")
	} else if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("create /run/sshd: %w", err)
	}
	s := &sshd{user: user, dir: dir, done: make(chan struct{})}
	hostKeyFile := filepath.Join(dir, "ssh_host_ed25519_key")
	if s.hostKey, err = writeKey(hostKeyFile); err != nil {
		return nil, err
	}
	s.keyFile = filepath.Join(dir, "id_ed25519")
	clientPub, err := writeKey(s.keyFile)
	if err != nil {
		return nil, err
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authKeys, ssh.MarshalAuthorizedKey(clientPub), 0o644); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	cfg := strings.Join([]string{
		"ListenAddress " + s.addr,
		"HostKey " + hostKeyFile,
		"PidFile none",
		"AuthorizedKeysFile " + authKeys,
		"StrictModes no",
		"AllowUsers " + user,
		"PermitRootLogin yes",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"Subsystem sftp internal-sftp",
		"LogLevel ERROR",
		"UseDNS no", "PrintMotd no", "X11Forwarding no",
		"MaxStartups 200", "MaxSessions 64",
		"",
	}, "\n")
	cfgFile := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	if s.log, err = os.Create(filepath.Join(dir, "sshd.log")); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "-D", "-e", "-f", cfgFile)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.cmd.Wait(); close(s.done) }() //nolint:errcheck
	deadline := time.Now().Add(15 * time.Second)
	for !speaksSSH(s.addr) {
		select {
		case <-s.done:
			return nil, fmt.Errorf("sshd exited early; see %s", s.log.Name())
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("sshd on %s not ready within 15s", s.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s, nil
}

func speaksSSH(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	return err == nil && string(buf) == "SSH-"
}

// knownHosts writes a known_hosts file naming the host key for addr
// (the relay's address: clients connect there).
func (s *sshd) knownHosts(path, addr string) error {
	host, port, _ := net.SplitHostPort(addr)
	name := "[" + host + "]:" + port
	return os.WriteFile(path, []byte(name+" "+string(ssh.MarshalAuthorizedKey(s.hostKey))), 0o644)
}

// stop kills sshd and the per-connection children it forked (they call
// setsid, so they are found through /proc by parent pid).
func (s *sshd) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pid := s.cmd.Process.Pid
	for _, c := range childrenOf(pid) {
		syscall.Kill(c, syscall.SIGKILL) //nolint:errcheck
	}
	syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck
	<-s.done
	s.log.Close()
}
