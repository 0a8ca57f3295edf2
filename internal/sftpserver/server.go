package sftpserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"
)

// Options configures a Server.
type Options struct {
	// Root is the local directory served; clients see it as "/".
	Root string
	// Addr is the TCP address to listen on; default "127.0.0.1:0".
	Addr string
	// User, when set, is the only user name accepted.
	User string
	// Password, when set, is accepted for password authentication.
	Password string
	// AuthorizedKeys are accepted for public-key authentication.
	AuthorizedKeys []ssh.PublicKey
	// HostKey signs the handshake; a fresh ed25519 key is generated if nil.
	HostKey ssh.Signer
	// Logger receives connection-level logs; nil means no logging.
	Logger *zap.Logger
}

// handshakeTimeout bounds how long a client may take to authenticate.
const handshakeTimeout = 30 * time.Second

// Server is a running SFTP server. Its fault hooks are safe to call while it
// serves.
type Server struct {
	root    string
	log     *zap.Logger
	ln      net.Listener
	cfg     *ssh.ServerConfig
	hostKey ssh.Signer

	requests atomic.Int64
	faults   faults

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start listens on opts.Addr and serves opts.Root until Close. At least one
// authentication method (Password or AuthorizedKeys) is required.
func Start(opts Options) (*Server, error) {
	if opts.Root == "" {
		return nil, errors.New("sftpserver: Root is required")
	}
	st, err := os.Stat(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("sftpserver: root %q: %w", opts.Root, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("sftpserver: root %q is not a directory", opts.Root)
	}
	if opts.Password == "" && len(opts.AuthorizedKeys) == 0 {
		return nil, errors.New("sftpserver: no authentication configured (set Password or AuthorizedKeys)")
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	signer := opts.HostKey
	if signer == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("sftpserver: generate host key: %w", err)
		}
		if signer, err = ssh.NewSignerFromKey(priv); err != nil {
			return nil, fmt.Errorf("sftpserver: host key signer: %w", err)
		}
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}

	s := &Server{
		root:    opts.Root,
		log:     log,
		hostKey: signer,
		conns:   make(map[net.Conn]struct{}),
	}
	s.faults.init()
	s.cfg = serverConfig(opts, signer)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sftpserver: listen %s: %w", addr, err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.acceptLoop()
	log.Debug("sftp server listening", zap.String("addr", ln.Addr().String()), zap.String("root", opts.Root))
	return s, nil
}

func serverConfig(opts Options, signer ssh.Signer) *ssh.ServerConfig {
	userOK := func(u string) bool {
		return opts.User == "" || subtle.ConstantTimeCompare([]byte(u), []byte(opts.User)) == 1
	}
	cfg := &ssh.ServerConfig{}
	if opts.Password != "" {
		want := []byte(opts.Password)
		cfg.PasswordCallback = func(md ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if userOK(md.User()) && subtle.ConstantTimeCompare(pw, want) == 1 {
				return &ssh.Permissions{}, nil
			}
			return nil, fmt.Errorf("password rejected for %q", md.User())
		}
	}
	if len(opts.AuthorizedKeys) > 0 {
		keys := make([][]byte, len(opts.AuthorizedKeys))
		for i, k := range opts.AuthorizedKeys {
			keys[i] = k.Marshal()
		}
		cfg.PublicKeyCallback = func(md ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if !userOK(md.User()) {
				return nil, fmt.Errorf("user %q not accepted", md.User())
			}
			got := key.Marshal()
			for _, k := range keys {
				if subtle.ConstantTimeCompare(got, k) == 1 {
					return &ssh.Permissions{}, nil
				}
			}
			return nil, fmt.Errorf("key %s not authorized", ssh.FingerprintSHA256(key))
		}
	}
	cfg.AddHostKey(signer)
	return cfg
}

// Addr is the address the server listens on, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// HostKey is the server's public host key.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey.PublicKey() }

// Fingerprint is the host key's SHA256 fingerprint, "SHA256:…".
func (s *Server) Fingerprint() string { return ssh.FingerprintSHA256(s.hostKey.PublicKey()) }

// Requests is the number of SFTP packets received so far, on all connections.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close stops listening, closes every connection and waits for all the
// server's goroutines to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	log := s.log.With(zap.String("remote", c.RemoteAddr().String()))

	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		log.Debug("ssh handshake failed", zap.Error(err))
		return
	}
	_ = c.SetDeadline(time.Time{})
	defer sc.Close()
	log = log.With(zap.String("user", sc.User()))
	log.Debug("ssh connection established")

	var chWG sync.WaitGroup
	defer chWG.Wait()
	chWG.Add(1)
	go func() {
		defer chWG.Done()
		ssh.DiscardRequests(reqs)
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only session channels are supported")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			log.Debug("accept channel", zap.Error(err))
			continue
		}
		chWG.Add(1)
		go func() {
			defer chWG.Done()
			s.serveSession(c, ch, creqs, log)
		}()
	}
}

// serveSession answers a session channel's requests: only the "sftp"
// subsystem is offered; exec, shell and pty requests are refused.
func (s *Server) serveSession(c net.Conn, ch ssh.Channel, reqs <-chan *ssh.Request, log *zap.Logger) {
	defer ch.Close()
	started := false
	var serveWG sync.WaitGroup
	defer serveWG.Wait()
	for req := range reqs {
		ok := false
		if req.Type == "subsystem" && !started && subsystemName(req.Payload) == "sftp" {
			ok = true
			started = true
			serveWG.Add(1)
			go func() {
				defer serveWG.Done()
				s.serveSFTP(c, ch, log)
			}()
		}
		if req.WantReply {
			_ = req.Reply(ok, nil)
		}
	}
}

func subsystemName(payload []byte) string {
	var p struct{ Name string }
	if err := ssh.Unmarshal(payload, &p); err != nil {
		return ""
	}
	return p.Name
}

// serveSFTP serves the SFTP protocol on ch until the client ends it or the
// session fails, then ends the channel as OpenSSH's sftp-server does: an
// exit-status (0 when the client ended the session, 1 on a failure), EOF
// and close — so that OpenSSH's sftp and scp and `ssh -s` report success.
func (s *Server) serveSFTP(c net.Conn, ch ssh.Channel, log *zap.Logger) {
	fc := newFaultConn(ch, c, s)
	err := s.runSFTP(fc, log)
	fc.Close()
	status := uint32(0)
	if err != nil {
		status = 1
	}
	log.Debug("sftp session ended", zap.Error(err))
	fc.end(status)
	_ = ch.Close()
	fc.wait()
}

// runSFTP runs the request server on fc: nil when the client closed its
// side (EOF).
func (s *Server) runSFTP(fc *faultConn, log *zap.Logger) error {
	root, err := os.OpenRoot(s.root)
	if err != nil {
		log.Warn("open root", zap.String("root", s.root), zap.Error(err))
		return err
	}
	defer root.Close()
	h := &handler{root: root, dir: s.root, faults: &s.faults}
	rs := sftp.NewRequestServer(fc, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
	if err := rs.Serve(); !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
