package actions

import (
	"context"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/pkg/sftp"
)

// sftpRemote is a test-only Remote over a real pkg/sftp client.
type sftpRemote struct{ c *sftp.Client }

var _ Remote = sftpRemote{}

func (r sftpRemote) Stat(_ context.Context, p string) (os.FileInfo, error)  { return r.c.Stat(p) }
func (r sftpRemote) Lstat(_ context.Context, p string) (os.FileInfo, error) { return r.c.Lstat(p) }
func (r sftpRemote) Rename(_ context.Context, o, n string) error            { return r.c.Rename(o, n) }
func (r sftpRemote) MakeDirs(_ context.Context, p string, _ os.FileMode) error {
	return r.c.MkdirAll(p)
}
func (r sftpRemote) Remove(_ context.Context, p string) error { return r.c.Remove(p) }

func (r sftpRemote) GetTo(_ context.Context, p string, w io.Writer, progress func(int64)) (int64, error) {
	f, err := r.c.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if progress != nil {
		progress(n)
	}
	return n, err
}

// newSFTPServer serves the real directory dir (absolute paths are real
// paths) with pkg/sftp over a pair of pipes and returns a Remote on it.
func newSFTPServer(t *testing.T, dir string) sftpRemote {
	t.Helper()
	cr, sw := io.Pipe() // server -> client
	sr, cw := io.Pipe() // client -> server
	srv, err := sftp.NewServer(struct {
		io.Reader
		io.WriteCloser
	}{sr, sw}, sftp.WithServerWorkingDirectory(dir))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve() }()
	c, err := sftp.NewClientPipe(cr, cw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The server's Close ends the client's receive loop; the client's
		// Close ends the server's read loop.
		srv.Close()
		c.Close()
		<-done
	})
	return sftpRemote{c: c}
}

// selfMarks records MarkSelfRemoved/UnmarkSelfRemoved calls.
type selfMarks struct {
	mu    sync.Mutex
	set   map[string]bool
	calls []string
}

var _ SelfRemovals = (*selfMarks)(nil)

func (s *selfMarks) MarkSelfRemoved(watch, rel string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set == nil {
		s.set = map[string]bool{}
	}
	s.set[watch+"\x00"+rel] = true
	s.calls = append(s.calls, "mark "+watch+" "+rel)
	return nil
}

func (s *selfMarks) UnmarkSelfRemoved(watch, rel string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.set, watch+"\x00"+rel)
	s.calls = append(s.calls, "unmark "+watch+" "+rel)
	return nil
}

func (s *selfMarks) marked(watch, rel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set[watch+"\x00"+rel]
}
