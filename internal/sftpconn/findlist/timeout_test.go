package findlist

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// TestRequestTimeoutFindRun: a find lister run whose output stops (find
// stopped on the server) fails the walk as a connection error after the
// request timeout, while the time the walk's callback takes is not
// counted against it.
func TestRequestTimeoutFindRun(t *testing.T) {
	const timeout = time.Second
	s := sshdtest.Start(t)
	// Output far beyond what the SSH window and pipes buffer, so find is
	// still running while the callback holds the walk.
	root := filepath.Join(s.Root, "tree")
	long := strings.Repeat("n", 200)
	for d := range 40 {
		dir := filepath.Join(root, fmt.Sprint(d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 1000 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(long, i)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := keyConfig(s)
	cfg.RequestTimeout = timeout
	c := dialSSHD(t, s, cfg)
	var resume func()
	first := true
	err := result(t, 60*time.Second, func() error {
		return Walk(context.Background(), c, root, sftpconn.WalkOptions{Recursive: true}, func(sftpconn.DirListing) error {
			if !first {
				return nil
			}
			first = false
			var n int
			for deadline := time.Now().Add(10 * time.Second); n == 0 && time.Now().Before(deadline); {
				n, resume = s.StopProcesses("find\x00-H\x00")
			}
			if n == 0 {
				return errors.New("find was not running")
			}
			time.Sleep(3 * timeout / 2) // a slow callback: the find run waits for us
			return nil
		})
	})
	if resume != nil {
		resume()
	}
	var te *sftpconn.RequestTimeoutError
	if !errors.As(err, &te) || !sftpconn.IsConnectionError(err) {
		t.Fatalf("Walk with find stopped: err = %v, want a *RequestTimeoutError", err)
	}
}
