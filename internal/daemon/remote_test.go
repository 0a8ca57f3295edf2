package daemon

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/actions"
	"github.com/sftpwatchd/sftpwatchd/internal/config"
)

// plainRemote is an actions.Remote without the fast path; fastRemote adds it.
type plainRemote struct{ calls *[]string }

func (r plainRemote) Stat(context.Context, string) (os.FileInfo, error) { return nil, os.ErrNotExist }
func (r plainRemote) Lstat(_ context.Context, p string) (os.FileInfo, error) {
	*r.calls = append(*r.calls, "Lstat")
	return fileInfo{}, nil
}
func (r plainRemote) GetTo(_ context.Context, p string, w io.Writer, _ func(int64)) (int64, error) {
	*r.calls = append(*r.calls, "GetTo")
	n, err := io.Copy(w, strings.NewReader("data"))
	return n, err
}
func (r plainRemote) Rename(context.Context, string, string) error        { return nil }
func (r plainRemote) MakeDirs(context.Context, string, os.FileMode) error { return nil }
func (r plainRemote) Remove(context.Context, string) error                { return nil }

type fastRemote struct{ plainRemote }

func (r fastRemote) FetchTo(_ context.Context, p string, _ int64, w io.Writer, _ func(int64)) (int64, os.FileInfo, error) {
	*r.calls = append(*r.calls, "FetchTo")
	n, err := io.Copy(w, strings.NewReader("data"))
	return n, fileInfo{}, err
}

type fileInfo struct{}

func (fileInfo) Name() string       { return "f" }
func (fileInfo) Size() int64        { return 4 }
func (fileInfo) Mode() os.FileMode  { return 0o644 }
func (fileInfo) ModTime() time.Time { return time.Unix(0, 0) }
func (fileInfo) IsDir() bool        { return false }
func (fileInfo) Sys() any           { return nil }

// TestWrappersKeepTheFastPath: the remote the actions get (confirming over
// explaining over the pool) offers the pool's FetchTo, so downloads take
// it; over a remote without one it falls back to GetTo then Lstat.
func TestWrappersKeepTheFastPath(t *testing.T) {
	for _, tc := range []struct {
		name  string
		inner func(*[]string) actions.Remote
		want  string
	}{
		{"pool with FetchTo", func(c *[]string) actions.Remote { return fastRemote{plainRemote{c}} }, "FetchTo"},
		{"remote without", func(c *[]string) actions.Remote { return plainRemote{c} }, "GetTo,Lstat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []string
			var r any = confirmingRemote{Remote: explainingRemote{r: tc.inner(&calls), host: config.Host{Name: "h"}}}
			f, ok := r.(fetcher)
			if !ok {
				t.Fatal("the actions' remote does not offer FetchTo: downloads would take the slow path")
			}
			var buf bytes.Buffer
			n, fi, err := f.FetchTo(context.Background(), "/x/f", 4, &buf, nil)
			if err != nil || n != 4 || fi == nil || buf.String() != "data" {
				t.Fatalf("FetchTo = %d, %v, %v (%q)", n, fi, err, buf.String())
			}
			if got := strings.Join(calls, ","); got != tc.want {
				t.Errorf("calls %s, want %s", got, tc.want)
			}
		})
	}
}
