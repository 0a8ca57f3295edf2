package sshdtest

import (
	"bytes"
	"errors"
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
)

// readyTimeout bounds how long Start and Restart wait for sshd to speak SSH.
const readyTimeout = 15 * time.Second

// Server is a running OpenSSH sshd on 127.0.0.1. Its fields describe how to
// reach it; they do not change after Start (Restart keeps port and keys).
type Server struct {
	Addr string // "127.0.0.1:port"
	Host string // "127.0.0.1"
	Port int

	User     string // login user: root (as root), the current user, or TestUser with WithPassword
	Password string // TestPassword with WithPassword, else ""

	ClientKeyFile       string // private key in authorized_keys
	ClientKeyPassphrase string // "" unless WithEncryptedClientKey
	ClientKeyType       KeyType
	ClientKeyFormat     KeyFormat
	ClientPublicKey     ssh.PublicKey

	KnownHostsFile     string        // "[127.0.0.1]:port <key>" lines for every host key
	HostKeyFingerprint string        // "SHA256:..." of HostPublicKey
	HostPublicKey      ssh.PublicKey // the ed25519 host key
	HostKeys           []ssh.PublicKey
	// HostCertificateFile is the ed25519 host key's certificate with
	// WithHostCertificate, else "".
	HostCertificateFile string

	Root string // a directory the login user may write: tests work under it
	Dir  string // where config, keys and known_hosts live

	t          testing.TB
	sshd       string
	configFile string
	log        *lockedBuffer
	netns      string // network namespace sshd runs in (WithNetns); "" = the test's
	listenSeen int    // "Server listening" lines logged before the current start (netns.go)

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// Option changes what Start sets up.
type Option func(*options)

type options struct {
	password   bool
	kbdOnly    bool
	keyType    KeyType
	keyFormat  KeyFormat
	passphrase string
	extra      []string
	// setup runs after the keys are generated and before the config is
	// written (pki.go); netns and listenHost place sshd (netns.go).
	setup      []func(*Server, *options) error
	netns      string
	listenHost string
}

// WithPassword enables password and keyboard-interactive authentication
// (through PAM) and logs in as the unprivileged TestUser with TestPassword,
// creating the account if needed. It needs root: otherwise the test is
// skipped, since an unprivileged sshd cannot check passwords.
func WithPassword() Option { return func(o *options) { o.password = true } }

// WithKeyboardInteractiveOnly is WithPassword for a server that offers only
// keyboard-interactive: PasswordAuthentication and PubkeyAuthentication
// are off, so a client holding a password must answer the prompt.
func WithKeyboardInteractiveOnly() Option {
	return func(o *options) { o.password, o.kbdOnly = true, true }
}

// WithClientKey chooses the type and file format of the generated client
// key (default ed25519, OpenSSH format).
func WithClientKey(kt KeyType, f KeyFormat) Option {
	return func(o *options) { o.keyType, o.keyFormat = kt, f }
}

// WithEncryptedClientKey encrypts the client key file with passphrase.
func WithEncryptedClientKey(passphrase string) Option {
	return func(o *options) { o.passphrase = passphrase }
}

// WithConfigLines appends lines to the generated sshd_config, after every
// line the harness writes: "ForceCommand internal-sftp" makes the login an
// SFTP-only account as partners set them up.
func WithConfigLines(lines ...string) Option {
	return func(o *options) { o.extra = append(o.extra, lines...) }
}

// Start runs a fresh sshd for the test and stops it in t.Cleanup.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := options{keyType: KeyEd25519, keyFormat: FormatOpenSSH}
	for _, opt := range opts {
		opt(&o)
	}
	sshd := findSSHD()
	if sshd == "" {
		msg := "\n*** sshd (OpenSSH server) is not installed: SKIPPING a test that needs a real sshd. ***\n" +
			"*** Install openssh-server (apt-get install openssh-server) to run it.            ***"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "\nCI is set, so a missing sshd is a failure.")
		}
		t.Skip(msg)
	}
	root := os.Geteuid() == 0
	if o.password && !root {
		t.Skip("sshdtest: password and keyboard-interactive tests need root (to create " + TestUser +
			" and let sshd check passwords); skipping as uid " + strconv.Itoa(os.Geteuid()))
	}

	var (
		acct account
		err  error
	)
	switch {
	case o.password:
		acct, err = ensureTestUser()
	case root:
		acct = account{name: "root"}
	default:
		acct, err = currentAccount()
	}
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}

	// Not t.TempDir: its parents are 0700, which the unprivileged login
	// user could not traverse to reach Root.
	dir, err := os.MkdirTemp("", "sshdtest-")
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	if root {
		// Privilege separation directory a root sshd insists on.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshdtest: create /run/sshd: %v", err)
		}
	}

	s := &Server{
		Host: "127.0.0.1", User: acct.name, Dir: dir, t: t, sshd: sshd, netns: o.netns,
		ClientKeyType: o.keyType, ClientKeyFormat: o.keyFormat, ClientKeyPassphrase: o.passphrase,
		log: &lockedBuffer{},
	}
	if o.password {
		s.Password = TestPassword
	}
	if o.listenHost != "" {
		s.Host = o.listenHost
	}
	if err := s.generate(o, acct); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	for _, f := range o.setup {
		if err := f(s, &o); err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.Log())
		}
	})

	// A free port can be taken between probing and sshd binding it:
	// try a few.
	for attempt := 1; ; attempt++ {
		s.Port, err = FreePort()
		if err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
		if err = s.writeConfig(o); err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		if err = s.start(); err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("sshdtest: %v\nsshd log:\n%s", err, s.Log())
		}
	}
	if err := s.writeKnownHosts(); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	return s
}

func findSSHD() string {
	if p, err := exec.LookPath("sshd"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs // sshd re-executes itself and needs an absolute path
		}
	}
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago (a
// test server binds it next and checks that it is the one answering).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// generate writes host keys, the client key, authorized_keys and Root.
func (s *Server) generate(o options, acct account) error {
	for _, kt := range []KeyType{KeyEd25519, KeyRSA} {
		path := filepath.Join(s.Dir, "ssh_host_"+string(kt)+"_key")
		key, err := WriteKey(path, kt, FormatOpenSSH, "")
		if err != nil {
			return fmt.Errorf("host key: %w", err)
		}
		pub, err := PublicKey(key)
		if err != nil {
			return err
		}
		s.HostKeys = append(s.HostKeys, pub)
	}
	s.HostPublicKey = s.HostKeys[0]
	s.HostKeyFingerprint = ssh.FingerprintSHA256(s.HostPublicKey)

	s.ClientKeyFile = filepath.Join(s.Dir, "id_"+string(o.keyType))
	key, err := WriteKey(s.ClientKeyFile, o.keyType, o.keyFormat, o.passphrase)
	if err != nil {
		return fmt.Errorf("client key: %w", err)
	}
	if s.ClientPublicKey, err = PublicKey(key); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "authorized_keys"),
		ssh.MarshalAuthorizedKey(s.ClientPublicKey), 0o644); err != nil {
		return err
	}

	s.Root = filepath.Join(s.Dir, "root")
	if err := os.Mkdir(s.Root, 0o755); err != nil {
		return err
	}
	if os.Geteuid() == 0 && acct.uid != 0 {
		if err := os.Chown(s.Root, acct.uid, acct.gid); err != nil {
			return fmt.Errorf("chown %s to %s: %w", s.Root, acct.name, err)
		}
	}
	return nil
}

func (s *Server) writeConfig(o options) error {
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	var c strings.Builder
	fmt.Fprintf(&c, "ListenAddress %s\n", s.Addr)
	for _, kt := range []KeyType{KeyEd25519, KeyRSA} {
		fmt.Fprintf(&c, "HostKey %s\n", filepath.Join(s.Dir, "ssh_host_"+string(kt)+"_key"))
	}
	fmt.Fprintf(&c, "PidFile none\n")
	fmt.Fprintf(&c, "AuthorizedKeysFile %s\n", filepath.Join(s.Dir, "authorized_keys"))
	// The temp directory is world-writable; StrictModes would refuse keys under it.
	fmt.Fprintf(&c, "StrictModes no\n")
	fmt.Fprintf(&c, "AllowUsers %s\n", s.User)
	if os.Geteuid() == 0 {
		fmt.Fprintf(&c, "PermitRootLogin yes\n")
	}
	// Passwords and keyboard-interactive prompts go through PAM.
	fmt.Fprintf(&c, "UsePAM %s\n", yesNo(o.password))
	fmt.Fprintf(&c, "PubkeyAuthentication %s\n", yesNo(!o.kbdOnly))
	fmt.Fprintf(&c, "PasswordAuthentication %s\n", yesNo(o.password && !o.kbdOnly))
	fmt.Fprintf(&c, "KbdInteractiveAuthentication %s\n", yesNo(o.password))
	fmt.Fprintf(&c, "Subsystem sftp internal-sftp\n")
	fmt.Fprintf(&c, "LogLevel INFO\n")
	fmt.Fprintf(&c, "UseDNS no\nPrintMotd no\nX11Forwarding no\n")
	// Pool tests open many connections at once; the default 10:30:100 drops some.
	fmt.Fprintf(&c, "MaxStartups 200\nMaxSessions 64\nMaxAuthTries 20\n")
	if v := sshdVersion(s.sshd); v >= 908 {
		// OpenSSH 9.8+ penalises sources that fail authentication, which
		// would refuse every test after the wrong-password one.
		fmt.Fprintf(&c, "PerSourcePenalties no\n")
	}
	for _, l := range o.extra {
		fmt.Fprintf(&c, "%s\n", l)
	}
	s.configFile = filepath.Join(s.Dir, "sshd_config")
	return os.WriteFile(s.configFile, []byte(c.String()), 0o644)
}

// sshdVersion returns major*100+minor of the installed OpenSSH, or 0.
func sshdVersion(sshd string) int {
	out, _ := exec.Command(sshd, "-V").CombinedOutput() // exits non-zero on old versions; the text is what matters
	s := string(out)
	i := strings.Index(s, "OpenSSH_")
	if i < 0 {
		return 0
	}
	s = s[i+len("OpenSSH_"):]
	major, rest, ok := strings.Cut(s, ".")
	if !ok {
		return 0
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(rest[:end])
	if err1 != nil || err2 != nil {
		return 0
	}
	return ma*100 + mi
}

func (s *Server) writeKnownHosts() error {
	var b strings.Builder
	for _, k := range s.HostKeys {
		b.WriteString(KnownHostsLine(s.Addr, k))
	}
	s.KnownHostsFile = filepath.Join(s.Dir, "known_hosts")
	return os.WriteFile(s.KnownHostsFile, []byte(b.String()), 0o644)
}

// KnownHostsLine is the plain known_hosts line ("[host]:port type key\n")
// for key at addr (host:port).
func KnownHostsLine(addr string, key ssh.PublicKey) string {
	host, port, _ := net.SplitHostPort(addr)
	name := host
	if port != "22" {
		name = "[" + host + "]:" + port
	}
	return name + " " + string(ssh.MarshalAuthorizedKey(key))
}

// start launches sshd and waits until it speaks SSH on s.Addr.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := s.command("-D", "-e", "-f", s.configFile)
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.sshd, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck // the exit is observed through done
		close(done)
	}()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("sshd on %s exited before accepting connections: %v", s.Addr, cmd.ProcessState)
		default:
		}
		// Ours, not another test's sshd that got the same port between
		// FreePort and our bind: the host key must be ours.
		if s.ready() {
			return nil
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			return fmt.Errorf("sshd on %s did not speak SSH within %v", s.Addr, readyTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// errProbeDone ends a probe handshake once the host key has been seen.
var errProbeDone = errors.New("probe done")

// SpeaksAs reports whether the SSH server at addr presents host key want
// (the handshake is abandoned right after the host key check).
func SpeaksAs(addr string, want ssh.PublicKey) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	match := false
	_, _, _, _ = ssh.NewClientConn(c, addr, &ssh.ClientConfig{
		User:              "probe",
		HostKeyAlgorithms: []string{want.Type()},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			match = bytes.Equal(key.Marshal(), want.Marshal())
			return errProbeDone
		},
	})
	return match
}

// Stop kills sshd and every connection it serves, as an outage would.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	killTree(s.cmd.Process.Pid)
	<-s.done
	s.cmd = nil
}

// Restart starts sshd again on the same port with the same keys and
// configuration, after Stop (or stopping it first if it still runs).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	deadline := time.Now().Add(readyTimeout)
	for {
		err := s.start()
		if err == nil {
			return
		}
		// The port may be briefly held by the old listener's last gasps.
		if time.Now().After(deadline) {
			s.t.Fatalf("sshdtest: restart: %v\nsshd log:\n%s", err, s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Log returns what sshd wrote so far (LogLevel INFO, one line per event:
// "Accepted publickey for root from ...", "Failed password ...").
func (s *Server) Log() string { return s.log.String() }

// CountLog counts the log lines containing substr.
func (s *Server) CountLog(substr string) int {
	n := 0
	for _, line := range strings.Split(s.Log(), "\n") {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// killTree stops pid and all its descendants (sshd's per-connection
// children call setsid, so a process group kill would miss them), then
// kills them. Stopping first keeps the tree from forking or re-parenting
// while it is collected.
func killTree(pid int) {
	syscall.Kill(pid, syscall.SIGSTOP) //nolint:errcheck
	stopped := map[int]bool{pid: true}
	for {
		fresh := 0
		for _, d := range descendants(pid) {
			if !stopped[d] {
				syscall.Kill(d, syscall.SIGSTOP) //nolint:errcheck
				stopped[d] = true
				fresh++
			}
		}
		if fresh == 0 {
			break
		}
	}
	for p := range stopped {
		syscall.Kill(p, syscall.SIGKILL) //nolint:errcheck
	}
}

// descendants lists the live (non-zombie) descendants of pid from /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		pp, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		children[pp] = append(children[pp], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// lockedBuffer is an io.Writer safe for sshd's stdout and stderr copiers
// and concurrent readers.
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
