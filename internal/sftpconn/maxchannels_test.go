package sftpconn

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/interop"
)

// interopPoolConfig is the HostConfig of a Pool for s.
func interopPoolConfig(s *interop.Server) HostConfig {
	return HostConfig{Name: s.Name, Address: s.Addr, User: s.User, Password: s.Password,
		KnownHostsFile: s.KnownHostsFile, ConnectTimeout: 10 * time.Second, MaxConnections: 2}
}

// TestInteropOneChannelFallback: ProFTPD with SFTPMaxChannels 1 ends the
// whole connection when the pipelined reader opens its second channel. The
// Pool remembers that for the host, redials and lists through pkg/sftp:
// the walk of the interop tree is complete, with one warning naming the
// host. With that memory disabled, the same check fails: every listing
// dies with its connection.
func TestInteropOneChannelFallback(t *testing.T) {
	s := interop.StartProFTPDWith(t, interop.ProFTPDOptions{MaxChannels: 1})
	root := filepath.Join(s.Root, "tree")
	if err := interop.MakeTree(root, interopBig); err != nil {
		t.Fatal(err)
	}
	want := localListing(t, root)

	core, logs := observer.New(zap.InfoLevel)
	pool := NewPool(interopPoolConfig(s), zap.New(core), nil)
	defer pool.Close()
	for run := 1; run <= 2; run++ {
		got, err := walkListing(pool, root)
		if err != nil {
			t.Fatalf("run %d: walk: %v\n%s", run, err, s.Log())
		}
		if err := sameListing(got, want); err != nil {
			t.Errorf("run %d: %v", run, err)
		}
	}
	var warned []string
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "second SSH channel") {
			warned = append(warned, e.Message)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], `"`+s.Name+`"`) {
		t.Errorf("warnings about the second channel: %q, want one naming host %q", warned, s.Name)
	}

	broken := NewPool(interopPoolConfig(s), zap.NewNop(), nil)
	defer broken.Close()
	broken.keepReader = true
	if got, err := walkListing(broken, root); err == nil && sameListing(got, want) == nil {
		t.Error("with the fallback disabled, the listing on a one-channel server passed the check")
	}
}
