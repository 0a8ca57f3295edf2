package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// fixedOps answers with fixed data and records scans.
type fixedOps struct {
	scanned []string
}

func (o *fixedOps) Status(context.Context, string) (Status, error) {
	return Status{Watches: []WatchStatus{{Watch: "in", Host: "h", Path: "/p"}}, Hosts: []HostStatus{{Host: "h", LastDialError: "refused"}}}, nil
}
func (o *fixedOps) Pending(context.Context, string) ([]Pending, error) { return nil, nil }
func (o *fixedOps) DeadLetters(_ context.Context, w string) ([]DeadLetter, error) {
	if w == "nope" {
		return nil, fmt.Errorf("--watch %q: no such watch: %w", w, ErrUsage)
	}
	return []DeadLetter{{EventLine: EventLine{ID: "in-000000000001", Watch: "in"}, Reason: "400"}}, nil
}
func (o *fixedOps) Retry(context.Context, Selection, bool) ([]string, error) {
	return nil, fmt.Errorf("event x: %w", ErrNotFound)
}
func (o *fixedOps) Discard(context.Context, Selection) ([]string, error) { return []string{"a"}, nil }
func (o *fixedOps) Scan(_ context.Context, w string) error {
	o.scanned = append(o.scanned, w)
	return nil
}
func (o *fixedOps) Reset(context.Context, string, bool) error         { return nil }
func (o *fixedOps) Prune(context.Context, []string) ([]string, error) { return nil, nil }
func (o *fixedOps) Backup(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, "copy")
	return err
}

func TestReadOnlyHandlerHidesMutations(t *testing.T) {
	srv := httptest.NewServer(NewHandler(&fixedOps{}, HandlerOptions{Access: ReadOnly}))
	defer srv.Close()
	for _, p := range []string{"/api/v1/watches/in/scan", "/api/v1/deadletters/retry", "/api/v1/deadletters/discard", "/api/v1/state/prune"} {
		resp, err := http.Post(srv.URL+p, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s read-only: %d, want 404", p, resp.StatusCode)
		}
	}
	resp, err := http.Get(srv.URL + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"last_scan":null`) || !strings.Contains(lines[1], `"last_dial_error":"refused"`) {
		t.Errorf("status lines: %q", lines)
	}
}

func TestClientOverSocketKeepsErrorKinds(t *testing.T) {
	ops := &fixedOps{}
	sock := filepath.Join(t.TempDir(), SocketName)
	s, err := Serve(sock, NewHandler(ops, HandlerOptions{Access: Full}), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	// A second server on the same socket is refused while the first answers.
	if _, err := Serve(sock, NewHandler(ops, HandlerOptions{Access: Full}), zaptest.NewLogger(t)); err == nil {
		t.Error("a second Serve on a live socket succeeded")
	}
	c := NewClient(sock)
	ctx := context.Background()
	if _, err := c.DeadLetters(ctx, "nope"); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "no such watch") {
		t.Errorf("unknown watch over the socket: %v, want ErrUsage with the daemon's text", err)
	}
	if _, err := c.Retry(ctx, Selection{IDs: []string{"x"}}, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("retry of an unknown id: %v, want ErrNotFound", err)
	}
	if err := c.Scan(ctx, "a b"); err != nil || len(ops.scanned) != 1 || ops.scanned[0] != "a b" {
		t.Errorf("scan: %v, scanned %v", err, ops.scanned)
	}
	var sb strings.Builder
	if err := c.Backup(ctx, &sb); err != nil || sb.String() != "copy" {
		t.Errorf("backup: %v, %q", err, sb.String())
	}
	st, err := c.Status(ctx, "")
	if err != nil || !st.Running || len(st.Watches) != 1 || len(st.Hosts) != 1 {
		t.Errorf("status over the socket: %+v, %v", st, err)
	}
}

func TestServeReplacesStaleSocketAndRemovesItsOwn(t *testing.T) {
	sock := filepath.Join(t.TempDir(), SocketName)
	// A socket file nobody answers on, as a crash leaves it.
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	s, err := Serve(sock, NewHandler(&fixedOps{}, HandlerOptions{Access: Full}), zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Serve over a stale socket: %v", err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket %v: %v; want a socket of mode 0600", fi, err)
	}
	if err := NewClient(sock).Ping(context.Background(), time.Second); err != nil {
		t.Errorf("ping: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket after Close: %v, want removed", err)
	}
}
