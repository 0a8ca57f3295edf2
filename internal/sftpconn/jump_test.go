package sftpconn

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// jumpTopology is a bastion the test can reach and servers it cannot:
// they listen on 127.0.0.1 inside a network namespace, which only the
// bastion (in the same namespace, reachable through a veth pair) reaches.
type jumpTopology struct {
	bastion *sshdtest.Server
	inner   []*sshdtest.Server
}

func startJumpTopology(t *testing.T, inner int) jumpTopology {
	t.Helper()
	ns := sshdtest.NewNetns(t)
	top := jumpTopology{bastion: sshdtest.Start(t, sshdtest.WithNetns(ns, ns.InnerIP))}
	for range inner {
		s := sshdtest.Start(t, sshdtest.WithNetns(ns, "127.0.0.1"))
		if sshdtest.SpeaksAs(s.Addr, s.HostPublicKey) {
			t.Fatalf("the server at %s inside the namespace is reachable from the test: the jump would prove nothing", s.Addr)
		}
		top.inner = append(top.inner, s)
	}
	return top
}

// named is keyConfig(s) with the host's config name.
func named(s *sshdtest.Server, name string) HostConfig {
	c := keyConfig(s)
	c.Name = name
	return c
}

// via returns cfg connecting through jump.
func via(cfg, jump HostConfig) HostConfig {
	cfg.Jump = &jump
	return cfg
}

// waitConnections polls until s has want authenticated connections.
func waitConnections(t *testing.T, s *sshdtest.Server, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Connections() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d connections, want %d", s.Addr, s.Connections(), want)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// TestDialThroughJump: a server the test cannot reach is dialled through
// the bastion (ProxyJump), each hop with its own host key check and auth;
// closing the client closes the bastion's connection too.
func TestDialThroughJump(t *testing.T) {
	t.Parallel()
	top := startJumpTopology(t, 1)
	bastion, inner := named(top.bastion, "bastion"), named(top.inner[0], "inner")

	if _, err := Dial(context.Background(), inner, zaptest.NewLogger(t)); !IsConnectionError(err) {
		t.Fatalf("direct dial of the inner server: err = %v, want a connection error", err)
	}
	c := mustDial(t, top.inner[0], via(inner, bastion))
	for _, s := range []*sshdtest.Server{top.bastion, top.inner[0]} {
		if n := s.CountLog("Accepted publickey for " + s.User); n != 1 {
			t.Errorf("%s logged %d logins, want 1:\n%s", s.Addr, n, s.Log())
		}
	}
	if !strings.Contains(top.inner[0].Log(), "Accepted publickey for "+top.inner[0].User+" from 127.0.0.1") {
		t.Errorf("the inner server's login did not come from the bastion (127.0.0.1 in the namespace):\n%s", top.inner[0].Log())
	}
	waitConnections(t, top.bastion, 1)
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitConnections(t, top.bastion, 0)
}

// TestDialThroughJumpNamesTheHop: a failure at the bastion or at the
// inner host names the route and the hop; host key and auth failures stay
// permanent through the jump.
func TestDialThroughJumpNamesTheHop(t *testing.T) {
	t.Parallel()
	top := startJumpTopology(t, 1)
	bastion, inner := named(top.bastion, "bastion"), named(top.inner[0], "inner")
	empty := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	badBastion := bastion
	badBastion.KnownHostsFile = empty
	badInner := inner
	badInner.KnownHostsFile = empty
	wrongPort := inner
	wrongPort.Address = "127.0.0.1:1"
	for _, tc := range []struct {
		name      string
		cfg       HostConfig
		permanent bool
		want      []string
	}{
		{"bastion host key", via(inner, badBastion), true,
			[]string{"hosts.inner via hosts.bastion: jump host hosts.bastion (" + top.bastion.Addr + ") failed: host key for", "is unknown"}},
		{"inner host key", via(badInner, bastion), true,
			[]string{"hosts.inner via hosts.bastion: hosts.inner (" + top.inner[0].Addr + ", as seen from hosts.bastion) failed: host key for", "is unknown"}},
		{"inner unreachable from bastion", via(wrongPort, bastion), false,
			[]string{"hosts.inner via hosts.bastion: hosts.inner (127.0.0.1:1, as seen from hosts.bastion) failed: open a channel to 127.0.0.1:1 from jump host \"bastion\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Dial(context.Background(), tc.cfg, zaptest.NewLogger(t))
			if err == nil {
				t.Fatal("Dial succeeded")
			}
			if IsPermanentDialError(err) != tc.permanent || IsConnectionError(err) == tc.permanent {
				t.Errorf("err = %v: permanent %v, connection error %v; want permanent %v", err, IsPermanentDialError(err), IsConnectionError(err), tc.permanent)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestDialJumpChain: A → B → C, two jumps, each hop logging in.
func TestDialJumpChain(t *testing.T) {
	t.Parallel()
	top := startJumpTopology(t, 2)
	a, b, c := named(top.bastion, "a"), named(top.inner[0], "b"), named(top.inner[1], "c")
	client := mustDial(t, top.inner[1], via(c, via(b, a)))
	for _, s := range []*sshdtest.Server{top.bastion, top.inner[0], top.inner[1]} {
		if n := s.CountLog("Accepted publickey for " + s.User); n != 1 {
			t.Errorf("%s logged %d logins, want 1:\n%s", s.Addr, n, s.Log())
		}
	}
	waitConnections(t, top.inner[0], 1)
	waitConnections(t, top.bastion, 1)
	client.Close()
	waitConnections(t, top.bastion, 0)
	waitConnections(t, top.inner[0], 0)

	badB := b
	badB.KnownHostsFile = writeKnownHosts(t)
	_, err := Dial(context.Background(), via(c, via(badB, a)), zaptest.NewLogger(t))
	want := "hosts.c via hosts.a, hosts.b: jump host hosts.b (" + top.inner[0].Addr + ") failed: host key for"
	if err == nil || !strings.Contains(err.Error(), want) || !IsHostKeyError(err) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

// TestPoolThroughJump: the pool's connections go through the bastion,
// reconnect through it after the bastion restarts, and request_timeout
// closes the whole chain.
func TestPoolThroughJump(t *testing.T) {
	t.Parallel()
	top := startJumpTopology(t, 1)
	cfg := via(named(top.inner[0], "inner"), named(top.bastion, "bastion"))
	const timeout = 500 * time.Millisecond
	cfg.RequestTimeout = timeout
	pool := NewPool(cfg, zaptest.NewLogger(t), nil)
	defer pool.Close()
	ctx := context.Background()
	if _, err := pool.Stat(ctx, top.inner[0].Root); err != nil {
		t.Fatal(err)
	}

	top.bastion.Restart() // kills every connection through it
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := pool.Stat(ctx, top.inner[0].Root)
		if err == nil {
			break
		}
		if !IsConnectionError(err) || time.Now().After(deadline) {
			t.Fatalf("Stat after the bastion restarted: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	if n := top.inner[0].CountLog("Accepted publickey"); n < 2 {
		t.Errorf("the inner server saw %d logins, want a new one after the bastion restarted", n)
	}

	stopped, resume := top.inner[0].StopSFTP()
	defer resume()
	if stopped == 0 {
		t.Fatal("no sftp session process to stop")
	}
	waitConnections(t, top.bastion, 1)
	start := time.Now()
	_, err := pool.Stat(ctx, top.inner[0].Root)
	if err == nil || !IsConnectionError(err) {
		t.Fatalf("Stat on a hung sftp server through the jump: err = %v, want a request timeout", err)
	}
	if took := time.Since(start); took < timeout || took > timeout+10*time.Second {
		t.Errorf("the request failed after %v, want about request_timeout %v", took, timeout)
	}
	waitConnections(t, top.bastion, 0) // the timeout closed the whole chain
}
