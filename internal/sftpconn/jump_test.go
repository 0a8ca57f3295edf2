package sftpconn

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

type jumpTopology = sshdtest.JumpTopology

func startJumpTopology(t *testing.T, inner int) jumpTopology {
	t.Helper()
	return *sshdtest.StartJumpTopology(t, inner)
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
// a bastion that stops forwarding stops the session (so the traffic went
// through it), the request timeout then closes the whole chain, and
// closing a client closes the bastion's connection too.
func TestDialThroughJump(t *testing.T) {
	t.Parallel()
	top := startJumpTopology(t, 1)
	bastion, inner := named(top.Bastion, "bastion"), named(top.Inner[0], "inner")

	if top.Isolated {
		if _, err := Dial(context.Background(), inner, zaptest.NewLogger(t)); !IsConnectionError(err) {
			t.Fatalf("direct dial of the inner server: err = %v, want a connection error", err)
		}
	}
	const timeout = time.Second
	cfg := via(inner, bastion)
	cfg.RequestTimeout = timeout
	c := mustDial(t, top.Inner[0], cfg)
	for _, s := range []*sshdtest.Server{top.Bastion, top.Inner[0]} {
		if n := s.CountLog("Accepted publickey for " + s.User); n != 1 {
			t.Errorf("%s logged %d logins, want 1:\n%s", s.Addr, n, s.Log())
		}
	}
	if !strings.Contains(top.Inner[0].Log(), "Accepted publickey for "+top.Inner[0].User+" from 127.0.0.1") {
		t.Errorf("the inner server's login did not come from the bastion (127.0.0.1 in the namespace):\n%s", top.Inner[0].Log())
	}
	waitConnections(t, top.Bastion, 1)

	stopped, resume := top.Bastion.StopSessions()
	if stopped == 0 {
		t.Fatal("no bastion session process to stop")
	}
	_, err := c.Stat(context.Background(), top.Inner[0].Root)
	var te *RequestTimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), `no reply from host "inner" within request_timeout 1s`) {
		t.Fatalf("Stat while the bastion is stopped: err = %v, want the request timeout (a request that bypassed the bastion would succeed)", err)
	}
	resume()
	waitConnections(t, top.Bastion, 0) // the timeout closed the chain

	c2 := mustDial(t, top.Inner[0], cfg)
	waitConnections(t, top.Bastion, 1)
	if err := c2.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitConnections(t, top.Bastion, 0)
}

// TestDialThroughJumpNamesTheHop: a failure at the bastion or at the
// inner host names the route and the hop; host key and auth failures stay
// permanent through the jump.
func TestDialThroughJumpNamesTheHop(t *testing.T) {
	t.Parallel()
	top := startJumpTopology(t, 1)
	bastion, inner := named(top.Bastion, "bastion"), named(top.Inner[0], "inner")
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
			[]string{"hosts.inner via hosts.bastion: jump host hosts.bastion (" + top.Bastion.Addr + ") failed: host key for", "is unknown"}},
		{"inner host key", via(badInner, bastion), true,
			[]string{"hosts.inner via hosts.bastion: hosts.inner (" + top.Inner[0].Addr + ", as seen from hosts.bastion) failed: host key for", "is unknown"}},
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
	a, b, c := named(top.Bastion, "a"), named(top.Inner[0], "b"), named(top.Inner[1], "c")
	client := mustDial(t, top.Inner[1], via(c, via(b, a)))
	for _, s := range []*sshdtest.Server{top.Bastion, top.Inner[0], top.Inner[1]} {
		if n := s.CountLog("Accepted publickey for " + s.User); n != 1 {
			t.Errorf("%s logged %d logins, want 1:\n%s", s.Addr, n, s.Log())
		}
	}
	waitConnections(t, top.Inner[0], 1)
	waitConnections(t, top.Bastion, 1)
	client.Close()
	waitConnections(t, top.Bastion, 0)
	waitConnections(t, top.Inner[0], 0)

	badB := b
	badB.KnownHostsFile = knownHosts(t)
	_, err := Dial(context.Background(), via(c, via(badB, a)), zaptest.NewLogger(t))
	want := "hosts.c via hosts.a, hosts.b: jump host hosts.b (" + top.Inner[0].Addr + ") failed: host key for"
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
	cfg := via(named(top.Inner[0], "inner"), named(top.Bastion, "bastion"))
	const timeout = 500 * time.Millisecond
	cfg.RequestTimeout = timeout
	pool := NewPool(cfg, zaptest.NewLogger(t), nil)
	defer pool.Close()
	ctx := context.Background()
	if _, err := pool.Stat(ctx, top.Inner[0].Root); err != nil {
		t.Fatal(err)
	}

	top.Bastion.Restart() // kills every connection through it
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := pool.Stat(ctx, top.Inner[0].Root)
		if err == nil {
			break
		}
		if !IsConnectionError(err) || time.Now().After(deadline) {
			t.Fatalf("Stat after the bastion restarted: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	if n := top.Inner[0].CountLog("Accepted publickey"); n < 2 {
		t.Errorf("the inner server saw %d logins, want a new one after the bastion restarted", n)
	}

	stopped, resume := top.Inner[0].StopSFTP()
	defer resume()
	if stopped == 0 {
		t.Fatal("no sftp session process to stop")
	}
	waitConnections(t, top.Bastion, 1)
	start := time.Now()
	_, err := pool.Stat(ctx, top.Inner[0].Root)
	if err == nil || !IsConnectionError(err) {
		t.Fatalf("Stat on a hung sftp server through the jump: err = %v, want a request timeout", err)
	}
	if took := time.Since(start); took < timeout || took > timeout+10*time.Second {
		t.Errorf("the request failed after %v, want about request_timeout %v", took, timeout)
	}
	waitConnections(t, top.Bastion, 0) // the timeout closed the whole chain
}

// TestDialJumpLoopBuiltInCode: a loop of jump hosts (which the config
// package refuses) fails as a config error, without dialling.
func TestDialJumpLoopBuiltInCode(t *testing.T) {
	t.Parallel()
	a := HostConfig{Name: "a", Address: "127.0.0.1:1", User: "u", Password: "pw", InsecureIgnoreHostKey: true}
	b := a
	b.Name = "b"
	a.Jump = &b
	b.Jump = &a
	_, err := Dial(context.Background(), a, zaptest.NewLogger(t))
	var de *DialError
	if !errors.As(err, &de) || de.Op != OpConfig || !strings.Contains(err.Error(), "loop") {
		t.Fatalf("err = %v, want a config error about the loop", err)
	}
}
