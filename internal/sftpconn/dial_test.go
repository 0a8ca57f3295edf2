package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// keyConfig is the HostConfig that logs in to s with its client key,
// verifying the host through s's known_hosts file.
func keyConfig(s *sshdtest.Server) HostConfig {
	return HostConfig{
		Name: "partner", Address: s.Addr, User: s.User,
		PrivateKeyFile: s.ClientKeyFile, PrivateKeyPassphrase: s.ClientKeyPassphrase,
		KnownHostsFile: s.KnownHostsFile, ConnectTimeout: 10 * time.Second,
	}
}

// mustDial dials and proves the session works by writing a file with a
// hostile name under s.Root and reading it back over SFTP.
func mustDial(t *testing.T, s *sshdtest.Server, cfg HostConfig) *Client {
	t.Helper()
	c, err := Dial(context.Background(), cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	name := path.Join(s.Root, fmt.Sprintf("probe $(touch PWNED) %d\n.txt", time.Now().UnixNano()))
	f, err := c.SFTP().Create(name)
	if err != nil {
		t.Fatalf("create %q over sftp: %v", name, err)
	}
	if _, err := f.Write([]byte("payload")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(name)
	if err != nil || string(got) != "payload" {
		t.Fatalf("file written over sftp reads %q, %v", got, err)
	}
	return c
}

func TestDialKeyAndServerInfo(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	c := mustDial(t, s, keyConfig(s))
	if v := c.ServerVersion(); !strings.Contains(v, "OpenSSH") {
		t.Errorf("ServerVersion %q", v)
	}
	algs, ok := c.NegotiatedAlgorithms()
	if !ok || algs.KeyExchange == "" || algs.Read.Cipher == "" {
		t.Errorf("NegotiatedAlgorithms %+v, %v", algs, ok)
	}
	// known_hosts holds both the ed25519 and the RSA key: ed25519 is preferred.
	if algs.HostKey != "ssh-ed25519" {
		t.Errorf("host key algorithm %q, want ssh-ed25519", algs.HostKey)
	}
}

func TestDialCipher(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	cfg := keyConfig(s)
	cfg.Ciphers = []string{"aes256-gcm@openssh.com"}
	c := mustDial(t, s, cfg)
	local, remote := c.ActiveCiphers()
	if local != "aes256-gcm@openssh.com" || remote != "aes256-gcm@openssh.com" {
		t.Errorf("active ciphers %q/%q", local, remote)
	}
	if got := cfg.SecurityOptions().Ciphers; len(got) != 1 || got[0] != "aes256-gcm@openssh.com" {
		t.Errorf("SecurityOptions ciphers %v", got)
	}

	cfg.Ciphers = []string{"aes256-gcm@openssh.com", "rot13-cbc"}
	_, err := Dial(context.Background(), cfg, zap.NewNop())
	var de *DialError
	if !errors.As(err, &de) || de.Op != OpConfig || !strings.Contains(err.Error(), `unknown cipher "rot13-cbc"`) {
		t.Fatalf("unknown cipher: %v", err)
	}
	if IsConnectionError(err) {
		t.Error("a config error must not look retryable")
	}
}

func TestDialConnectTimeoutSilentServer(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := make(chan net.Conn, 4)
	go func() { // accept and never speak
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	defer func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	cfg := HostConfig{Name: "silent", Address: l.Addr().String(), User: "u", Password: "p",
		InsecureIgnoreHostKey: true, ConnectTimeout: 500 * time.Millisecond}
	start := time.Now()
	_, err = Dial(context.Background(), cfg, zap.NewNop())
	took := time.Since(start)
	if err == nil {
		t.Fatal("dial to a silent server succeeded")
	}
	if took > 3*time.Second {
		t.Errorf("dial took %v with a 500ms connect timeout", took)
	}
	var de *DialError
	if !errors.As(err, &de) || de.Op != OpHandshake || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("want a handshake DialError wrapping DeadlineExceeded, got %v", err)
	}
	if !IsConnectionError(err) || IsAuthError(err) || IsHostKeyError(err) {
		t.Errorf("classification of %v", err)
	}
	if !strings.Contains(err.Error(), `host "silent"`) || !strings.Contains(err.Error(), "connect_timeout") {
		t.Errorf("message %q", err)
	}

	// A cancelled ctx ends the handshake too, long before the timeout.
	cfg.ConnectTimeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	_, err = Dial(ctx, cfg, zap.NewNop())
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled dial: %v after %v", err, time.Since(start))
	}
}

func TestDialConnectionRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Dial(context.Background(), HostConfig{Name: "gone", Address: addr, User: "u", Password: "p",
		InsecureIgnoreHostKey: true}, zap.NewNop())
	var de *DialError
	if !errors.As(err, &de) || de.Op != OpConnect || de.Addr != addr || !IsConnectionError(err) {
		t.Fatalf("refused: %v", err)
	}

	// An empty address must not quietly mean localhost:22.
	_, err = Dial(context.Background(), HostConfig{Name: "empty", User: "u", Password: "p", InsecureIgnoreHostKey: true}, zap.NewNop())
	if !errors.As(err, &de) || de.Op != OpConfig || IsConnectionError(err) {
		t.Fatalf("empty address: %v", err)
	}
}

func TestKeepaliveDetectsFrozenServer(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	p := sshdtest.NewProxy(t, s.Addr)
	cfg := keyConfig(s)
	cfg.InsecureIgnoreHostKey, cfg.KnownHostsFile = true, "" // dialled through the proxy's port
	cfg.Address = p.Addr
	cfg.Keepalive = 200 * time.Millisecond
	c := mustDial(t, s, cfg)

	p.Freeze()
	start := time.Now()
	_, err := c.SFTP().Getwd() // blocks on the frozen link until keepalive gives up
	took := time.Since(start)
	if err == nil {
		t.Fatal("request through a frozen link succeeded")
	}
	if !IsConnectionError(err) {
		t.Errorf("error %v (%T) is not a connection error", err, err)
	}
	if took > 3*time.Second {
		t.Errorf("frozen link detected after %v with 200ms keepalives", took)
	}
	t.Logf("frozen link detected after %v", took.Round(time.Millisecond))
	if _, err := c.SFTP().Stat(s.Root); !IsConnectionError(err) {
		t.Errorf("next request after the close: %v", err)
	}
}

func TestInsecureIgnoreHostKeyWarns(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	core, logs := observer.New(zapcore.WarnLevel)
	cfg := keyConfig(s)
	cfg.KnownHostsFile, cfg.InsecureIgnoreHostKey = "", true
	c, err := Dial(context.Background(), cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := logs.FilterMessageSnippet("host key verification is disabled").Len(); n != 1 {
		t.Errorf("%d warnings about the disabled host key check, want 1: %v", n, logs.All())
	}
}

func TestHostConfigValidateAndAddr(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  HostConfig
		want string // substring of the error, "" = valid
	}{
		{"ok", HostConfig{Address: "h", User: "u", Password: "p"}, ""},
		{"no address", HostConfig{User: "u", Password: "p"}, "address"},
		{"no user", HostConfig{Address: "h", Password: "p"}, "user"},
		{"no auth", HostConfig{Address: "h", User: "u"}, "no authentication"},
		{"md5 pin", HostConfig{Address: "h", User: "u", Agent: true, HostKeyFingerprint: "MD5:aa:bb"}, "SHA256"},
		{"bad pin", HostConfig{Address: "h", User: "u", Agent: true, HostKeyFingerprint: "SHA256:$(touch PWNED)"}, "base64"},
		{"bad cipher", HostConfig{Address: "h", User: "u", Agent: true, Ciphers: []string{"none"}}, "unknown cipher"},
		{"insecure cipher ok", HostConfig{Address: "h", User: "u", Agent: true, Ciphers: []string{"aes128-cbc"}}, ""},
	} {
		err := tc.cfg.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
	for in, want := range map[string]string{
		"sftp.example.com":      "sftp.example.com:22",
		"sftp.example.com:2222": "sftp.example.com:2222",
		"::1":                   "[::1]:22",
		"[::1]":                 "[::1]:22",
		"[::1]:2222":            "[::1]:2222",
	} {
		if got := (HostConfig{Address: in}).Addr(); got != want {
			t.Errorf("Addr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsConnectionError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{io.EOF, true},
		{fmt.Errorf("read dir %q: %w", "/x", io.ErrUnexpectedEOF), true},
		{net.ErrClosed, true},
		{&net.OpError{Op: "read", Err: errors.New("reset")}, true},
		{ErrKeepaliveTimeout, true},
		{&ConnectionError{Host: "h", Err: errors.New("x")}, true},
		{&DialError{Op: OpConnect, Err: errors.New("refused")}, true},
		{&DialError{Op: OpAuth, Err: errors.New("denied")}, false},
		{&DialError{Op: OpHostKey, Err: errors.New("changed")}, false},
		{os.ErrNotExist, false},
		{ErrPoolClosed, false},
		{context.Canceled, false},
		// A context's deadline is a net.Error (Timeout), not a lost connection.
		{context.DeadlineExceeded, false},
		{fmt.Errorf("list %q: %w", "/x", context.DeadlineExceeded), false},
		{errors.Join(context.Canceled, io.EOF), false},
		// A dial cut by connect_timeout is.
		{&DialError{Op: OpConnect, Err: fmt.Errorf("no answer within connect_timeout 1s: %w", context.DeadlineExceeded)}, true},
		// A request the server left unanswered closed the connection.
		{fmt.Errorf("lstat %q: %w", "/x", &RequestTimeoutError{Host: "h", Timeout: time.Second, Err: io.EOF}), true},
		{&RequestTimeoutError{Host: "h", Timeout: time.Second}, true},
	} {
		if got := IsConnectionError(tc.err); got != tc.want {
			t.Errorf("IsConnectionError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
