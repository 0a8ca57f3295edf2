package sftp3

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDownloadCancelWaiting cancels downloads waiting for their HANDLE and
// for their READs, on a server answering after 1 s: each returns
// context.Canceled before the answer, and the handle is closed when it
// arrives.
func TestDownloadCancelWaiting(t *testing.T) {
	srv, local, sc := inProcess(t)
	data := make([]byte, 1<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(local, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	rd, tap := tappedReader(t, sc)
	if n, err := rd.Download(context.Background(), "/f", -1, io.Discard); err != nil || n != int64(len(data)) {
		t.Fatalf("download: n=%d err=%v", n, err)
	}
	srv.SetLatency(time.Second)
	for _, tc := range []struct {
		name     string
		requests int64 // received by the server when ctx is cancelled
	}{
		{"waiting for the handle", 2}, // OPEN, STAT
		{"waiting for reads", 3},      // OPEN, STAT, READs
	} {
		t.Run(tc.name, func(t *testing.T) {
			handles0, _, _ := tap.counts()
			before := srv.Requests()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := rd.Download(ctx, "/f", -1, io.Discard)
				done <- err
			}()
			poll(t, 10*time.Second, "the requests to reach the server", func() bool { return srv.Requests() >= before+tc.requests })
			cancel()
			if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
				t.Fatalf("download: %v, want context.Canceled", err)
			}
			if tc.requests == 2 {
				if h, _, _ := tap.counts(); h != handles0 {
					t.Fatal("the handle arrived before the download returned: the test proves nothing")
				}
			}
			poll(t, 10*time.Second, "the handle to be closed", func() bool {
				h, unclosed, _ := tap.counts()
				return h == handles0+1 && unclosed == 0
			})
		})
	}
	srv.SetLatency(0)
	var buf bytes.Buffer
	if n, err := rd.Download(context.Background(), "/f", int64(len(data)), &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("download after the cancellations: n=%d err=%v", n, err)
	}
}
