package sftpconn

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

func TestExecuteWithoutSSH(t *testing.T) {
	s, _ := startInProcess(t)
	full := dialInProcess(t, s)
	bare := NewClient(nil, full.SFTP())
	if _, err := bare.Execute(context.Background(), "true"); !errors.Is(err, ErrNoSSH) {
		t.Fatalf("Execute without SSH: %v, want ErrNoSSH", err)
	}
	// The embedded server refuses exec: an error, not a silent success.
	if _, err := full.Execute(context.Background(), "true"); err == nil {
		t.Fatal("exec on the embedded server succeeded")
	}
}

func TestExecuteOpenSSH(t *testing.T) {
	r := sshdFS(t)
	ctx := context.Background()
	out, err := r.C.Execute(ctx, "echo out; echo err >&2")
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if got := string(out); !strings.Contains(got, "out\n") || !strings.Contains(got, "err\n") {
		t.Fatalf("combined output = %q", got)
	}

	out, err = r.C.Execute(ctx, "echo partial; exit 3")
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 3 || string(out) != "partial\n" {
		t.Fatalf("failing command: out=%q err=%v", out, err)
	}

	// A hostile name given as data to a properly quoted command is data.
	dir := t.TempDir()
	name := filepath.Join(dir, "x $(touch PWNED)")
	os.WriteFile(name, []byte("hi"), 0o644)
	out, err = r.C.Execute(ctx, "cat '"+strings.ReplaceAll(name, "'", `'\''`)+"'")
	if err != nil || string(out) != "hi" {
		t.Fatalf("cat of a hostile name: %q %v", out, err)
	}
	assertNoPWNED(t, dir, ".")

	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := r.C.Execute(cctx, "sleep 30"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled Execute: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancelled Execute returned after %v", d)
	}
	// The client still works after a cancelled command.
	if _, err := r.C.Execute(ctx, "true"); err != nil {
		t.Fatalf("Execute after cancel: %v", err)
	}
	var _ *sftp.Client = r.C.SFTP()
}
