package interop

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// readyTimeout bounds how long a server may take to speak SSH.
const readyTimeout = 15 * time.Second

// Server is a running SFTP server on 127.0.0.1. Paths on it are this
// machine's paths (no chroot): Root is the same directory on both sides.
type Server struct {
	Name string // "proftpd", "dropbear"
	Addr string // "127.0.0.1:port"

	User     string // sshdtest.TestUser
	Password string // sshdtest.TestPassword

	KnownHostsFile     string
	HostKeyFingerprint string

	// Root is a directory the login user may write (mode 0777: the test,
	// as root, creates files the server's user must be able to move).
	Root string
	// Exec tells whether the server runs commands over SSH (lister: find).
	Exec bool

	dir  string
	log  *lockedBuffer
	cmd  *exec.Cmd
	done chan struct{}
}

// Log is what the server wrote to its stdout and stderr, and its log file.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return s.log.String() + string(b)
}

// ProFTPDOptions configure StartProFTPDWith.
type ProFTPDOptions struct {
	// MaxChannels, when positive, is SFTPMaxChannels: the SSH channels a
	// client may have open at once. With 1, ProFTPD ends the whole
	// connection when a client opens a second channel.
	MaxChannels int
}

// StartProFTPD runs ProFTPD's mod_sftp for the test (password login of
// sshdtest.TestUser; exec refused, as mod_sftp does) and stops it in
// t.Cleanup.
func StartProFTPD(t testing.TB) *Server {
	t.Helper()
	return StartProFTPDWith(t, ProFTPDOptions{})
}

// StartProFTPDWith is StartProFTPD configured by o.
func StartProFTPDWith(t testing.TB, o ProFTPDOptions) *Server {
	t.Helper()
	bin := need(t, "proftpd", "proftpd-core proftpd-mod-crypto")
	if _, err := os.Stat("/usr/lib/proftpd/mod_sftp.so"); err != nil {
		missing(t, "ProFTPD's mod_sftp (/usr/lib/proftpd/mod_sftp.so)", "proftpd-mod-crypto")
	}
	s := newServer(t, "proftpd")
	var keys []ssh.PublicKey
	for _, kt := range []sshdtest.KeyType{sshdtest.KeyEd25519, sshdtest.KeyRSA} {
		format := sshdtest.FormatPEM
		if kt == sshdtest.KeyEd25519 {
			format = sshdtest.FormatOpenSSH
		}
		key, err := sshdtest.WriteKey(filepath.Join(s.dir, "host_"+string(kt)), kt, format, "")
		if err != nil {
			t.Fatalf("interop: %v", err)
		}
		pub, err := sshdtest.PublicKey(key)
		if err != nil {
			t.Fatalf("interop: %v", err)
		}
		keys = append(keys, pub)
	}
	s.start(t, keys, func(port int) *exec.Cmd {
		conf := filepath.Join(s.dir, "proftpd.conf")
		lines := []string{
			`ServerName "interop"`, "ServerType standalone", "DefaultServer on",
			"Port " + strconv.Itoa(port), "DefaultAddress 127.0.0.1", "SocketBindTight on", "UseIPv6 off",
			"PidFile " + filepath.Join(s.dir, "proftpd.pid"),
			"ScoreboardFile " + filepath.Join(s.dir, "proftpd.scoreboard"),
			"DelayTable none", "WtmpLog off", "TransferLog none", "UseReverseDNS off",
			"SystemLog " + filepath.Join(s.dir, "server.log"),
			"User nobody", "Group nogroup", "RequireValidShell off", "AuthOrder mod_auth_unix.c",
			"MaxInstances 100",
			"<IfModule !mod_sftp.c>", "LoadModule mod_sftp.c", "</IfModule>",
			"SFTPEngine on", "SFTPAuthMethods password",
			"SFTPLog " + filepath.Join(s.dir, "server.log"),
			"SFTPHostKey " + filepath.Join(s.dir, "host_ed25519"),
			"SFTPHostKey " + filepath.Join(s.dir, "host_rsa"),
			"<Directory />", "AllowOverwrite on", "</Directory>",
		}
		if o.MaxChannels > 0 {
			lines = append(lines, "SFTPMaxChannels "+strconv.Itoa(o.MaxChannels))
		}
		if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatalf("interop: %v", err)
		}
		return exec.Command(bin, "-n", "-q", "-c", conf)
	})
	return s
}

// sftpServer is OpenSSH's SFTP server program, which Debian's Dropbear
// runs for the sftp subsystem (as /usr/lib/sftp-server).
const sftpServer = "/usr/lib/openssh/sftp-server"

// StartDropbear runs Dropbear for the test, serving the sftp subsystem
// with OpenSSH's sftp-server and commands with the user's shell (password
// login of sshdtest.TestUser), and stops it in t.Cleanup.
func StartDropbear(t testing.TB) *Server {
	t.Helper()
	bin := need(t, "dropbear", "dropbear-bin")
	keygen := need(t, "dropbearkey", "dropbear-bin")
	for _, p := range []string{sftpServer, "/usr/lib/sftp-server"} {
		if _, err := os.Stat(p); err != nil {
			missing(t, "OpenSSH's sftp-server ("+p+")", "openssh-sftp-server")
		}
	}
	s := newServer(t, "dropbear")
	s.Exec = true
	// Both an ed25519 and an RSA key: Dropbear 2022.83 fails an assertion
	// when a client negotiates a host key type it has no key for.
	var keys []ssh.PublicKey
	args := []string{"-F", "-E", "-m", "-w", "-P", filepath.Join(s.dir, "dropbear.pid")}
	for _, kt := range []string{"ed25519", "rsa"} {
		hostKey := filepath.Join(s.dir, "host_"+kt)
		if out, err := exec.Command(keygen, "-t", kt, "-f", hostKey).CombinedOutput(); err != nil {
			t.Fatalf("interop: dropbearkey: %v\n%s", err, out)
		}
		out, err := exec.Command(keygen, "-y", "-f", hostKey).Output()
		if err != nil {
			t.Fatalf("interop: dropbearkey -y: %v", err)
		}
		var pub ssh.PublicKey
		for line := range strings.Lines(string(out)) {
			if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil {
				pub = k
			}
		}
		if pub == nil {
			t.Fatalf("interop: no public key in dropbearkey's output:\n%s", out)
		}
		keys = append(keys, pub)
		args = append(args, "-r", hostKey)
	}
	s.start(t, keys, func(port int) *exec.Cmd {
		return exec.Command(bin, append(args, "-p", "127.0.0.1:"+strconv.Itoa(port))...)
	})
	return s
}

// need is the path of program, or skips (fails under CI) the test.
func need(t testing.TB, program, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			if _, serr := os.Stat(filepath.Join(dir, program)); serr == nil {
				return filepath.Join(dir, program)
			}
		}
		missing(t, program, pkg)
	}
	return p
}

func missing(t testing.TB, what, pkg string) {
	t.Helper()
	msg := fmt.Sprintf("\n*** %s is not installed: SKIPPING an interop test that needs it. ***\n"+
		"*** Install it with apt-get install %s (.ci/run does).", what, pkg)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "\nCI is set, so a missing server is a failure.")
	}
	t.Skip(msg)
}

// newServer prepares the test user, the temp directory and Root.
func newServer(t testing.TB, name string) *Server {
	t.Helper()
	if os.Geteuid() != 0 {
		msg := "\n*** interop: the " + name + " tests need root (to run the server and log in " + sshdtest.TestUser + "): SKIPPING. ***"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "\nCI is set, so this is a failure.")
		}
		t.Skip(msg)
	}
	if _, _, err := sshdtest.EnsureTestUser(); err != nil {
		t.Fatalf("interop: %v", err)
	}
	// Not t.TempDir: its parents are 0700, which the login user could not
	// traverse to reach Root.
	dir, err := os.MkdirTemp("", "interop-"+name+"-")
	if err != nil {
		t.Fatalf("interop: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	root := filepath.Join(dir, "root")
	for _, err := range []error{os.Chmod(dir, 0o755), os.Mkdir(root, 0o777), os.Chmod(root, 0o777)} {
		if err != nil {
			t.Fatalf("interop: %v", err)
		}
	}
	return &Server{Name: name, User: sshdtest.TestUser, Password: sshdtest.TestPassword, Root: root, dir: dir, log: &lockedBuffer{}}
}

// start runs the command built for a free port until it presents one of
// keys, trying a few ports (one can be taken between probing and binding).
func (s *Server) start(t testing.TB, keys []ssh.PublicKey, command func(port int) *exec.Cmd) {
	t.Helper()
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var port int
		if port, err = sshdtest.FreePort(); err != nil {
			break
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.run(command(port), keys[0]); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("interop: %s: %v\n%s", s.Name, err, s.Log())
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", s.Name, s.Log())
		}
	})
	var kh strings.Builder
	for _, k := range keys {
		kh.WriteString(sshdtest.KnownHostsLine(s.Addr, k))
	}
	s.KnownHostsFile = filepath.Join(s.dir, "known_hosts")
	if err := os.WriteFile(s.KnownHostsFile, []byte(kh.String()), 0o644); err != nil {
		t.Fatalf("interop: %v", err)
	}
	s.HostKeyFingerprint = ssh.FingerprintSHA256(keys[0])
}

// run starts cmd in its own process group and waits until it speaks SSH
// with host key want.
func (s *Server) run(cmd *exec.Cmd, want ssh.PublicKey) error {
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck // observed through done
		close(s.done)
	}()
	deadline := time.Now().Add(readyTimeout)
	for !sshdtest.SpeaksAs(s.Addr, want) {
		select {
		case <-s.done:
			return fmt.Errorf("%s on %s exited before accepting connections: %v", s.Name, s.Addr, cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("%s on %s did not speak SSH within %v", s.Name, s.Addr, readyTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	return nil
}

// stop kills the server's process group (its per-connection children
// included).
func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// lockedBuffer collects a server's output from two copiers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
