package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
)

// Socket is the admin socket a running daemon serves.
type Socket struct {
	path string
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Serve creates the admin socket at path, mode 0600, and serves h on it
// in the background. The socket is made in a private temporary directory
// beside path and renamed into place, so it is never reachable with wider
// permissions. A socket already at path is replaced only when no daemon
// answers on it (a stale one left by a crash).
func Serve(path string, h http.Handler, log *zap.Logger) (*Socket, error) {
	if _, err := os.Lstat(path); err == nil {
		if NewClient(path).Ping(context.Background(), time.Second) == nil {
			return nil, fmt.Errorf("admin socket %s: another sftpwatchd answers on it", path)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	tmpDir, err := os.MkdirTemp(filepath.Dir(path), ".admin-*")
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "s")
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	s := &Socket{path: path, ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(log)}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin socket stopped", zap.String("socket", path), zap.Error(err))
		}
	}()
	return s, nil
}

// Path is where the socket is.
func (s *Socket) Path() string { return s.path }

// Close stops serving (requests in flight get until ctx ends) and removes
// the socket file.
func (s *Socket) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}
