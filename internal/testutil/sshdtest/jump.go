package sshdtest

import (
	"strings"
	"testing"
)

// JumpTopology is a bastion the test reaches and servers behind it.
type JumpTopology struct {
	Bastion *Server
	Inner   []*Server
	// Isolated: the inner servers listen on 127.0.0.1 inside a network
	// namespace that only the bastion (also inside it, reachable over a
	// veth pair) can reach, so a client that ignored the jump could not
	// reach them. Without namespaces (not root, no CAP_NET_ADMIN) they
	// listen on the test's 127.0.0.1 and the bastion's PermitOpen allows
	// forwarding to them only; tests then need other evidence that traffic
	// went through the bastion (StopSessions).
	Isolated bool
}

// StartJumpTopology starts a bastion and n servers behind it.
func StartJumpTopology(t testing.TB, n int) *JumpTopology {
	t.Helper()
	ns, err := TryNetns(t)
	if err != nil {
		t.Logf("sshdtest: no network namespace (%v): the servers behind the bastion listen on 127.0.0.1, restricted by the bastion's PermitOpen", err)
		top := &JumpTopology{}
		var permit []string
		for range n {
			s := Start(t)
			top.Inner = append(top.Inner, s)
			permit = append(permit, s.Addr)
		}
		top.Bastion = Start(t, WithConfigLines("PermitOpen "+strings.Join(permit, " ")))
		return top
	}
	top := &JumpTopology{Bastion: Start(t, WithNetns(ns, ns.InnerIP)), Isolated: true}
	for range n {
		s := Start(t, WithNetns(ns, "127.0.0.1"))
		if SpeaksAs(s.Addr, s.HostPublicKey) {
			t.Fatalf("sshdtest: the server at %s inside the namespace is reachable from the test", s.Addr)
		}
		top.Inner = append(top.Inner, s)
	}
	return top
}

// StopSessions stops (SIGSTOP) the server's per-connection processes, so
// every connection through it hangs while the listener lives on; resume
// continues them (also called when the test ends). It returns how many it
// stopped.
func (s *Server) StopSessions() (stopped int, resume func()) {
	return s.StopProcesses("sshd: " + s.User)
}
