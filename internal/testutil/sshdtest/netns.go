package sshdtest

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Netns is a network namespace joined to the test's by a veth pair: a
// server in it listening on InnerIP is reachable from the test, one
// listening on its 127.0.0.1 only from inside it (from another server in
// the namespace, such as a jump host).
type Netns struct {
	Name    string
	OuterIP string // the test's side of the veth pair
	InnerIP string // the namespace's side
}

// NewNetns creates a network namespace for the test and removes it in
// t.Cleanup. It needs root and iproute2; without them the test is skipped
// (failed under CI).
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	ns, err := TryNetns(t)
	if err != nil {
		msg := "\n*** " + err.Error() + ": SKIPPING a test that needs a network namespace (root and iproute2's ip). ***"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "\nCI is set, so this is a failure.")
		}
		t.Skip(msg)
	}
	return ns
}

// TryNetns is NewNetns that reports why no namespace could be made (not
// root, no ip, no CAP_NET_ADMIN in a container) instead of skipping, for
// tests that have a weaker fallback. SSHDTEST_NO_NETNS=1 makes it fail,
// to exercise those fallbacks.
func TryNetns(t testing.TB) (*Netns, error) {
	t.Helper()
	if os.Getenv("SSHDTEST_NO_NETNS") != "" {
		return nil, fmt.Errorf("SSHDTEST_NO_NETNS is set")
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("not running as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("ip (iproute2) is not installed")
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	tag := fmt.Sprintf("%08x", binary.BigEndian.Uint32(rnd[:]))
	// A /30 in 10.200.0.0/13, chosen at random so parallel tests do not clash.
	n := binary.BigEndian.Uint32(rnd[:]) % (1 << 17)
	base := uint32(10)<<24 | uint32(200)<<16 + n<<2
	ip := func(v uint32) string {
		return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).String()
	}
	ns := &Netns{Name: "sshdtest-" + tag, OuterIP: ip(base + 1), InnerIP: ip(base + 2)}
	outer, inner := "sto"+tag, "sti"+tag
	run := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := run("netns", "add", ns.Name); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		_ = run("link", "del", outer) // removes its peer too
		_ = run("netns", "del", ns.Name)
	})
	for _, args := range [][]string{
		{"link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns.Name},
		{"addr", "add", ns.OuterIP + "/30", "dev", outer},
		{"link", "set", outer, "up"},
		{"-n", ns.Name, "addr", "add", ns.InnerIP + "/30", "dev", inner},
		{"-n", ns.Name, "link", "set", inner, "up"},
		{"-n", ns.Name, "link", "set", "lo", "up"},
	} {
		if err := run(args...); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

// WithNetns runs sshd in the network namespace ns, listening on host (an
// address of the namespace: ns.InnerIP to be reachable from the test,
// "127.0.0.1" to be reachable only from inside the namespace). Readiness
// is then taken from sshd's "Server listening" log line when the test
// cannot reach the server.
func WithNetns(ns *Netns, host string) Option {
	return func(o *options) { o.netns, o.listenHost = ns.Name, host }
}

// command is the sshd command line, inside the namespace when there is one.
func (s *Server) command(args ...string) *exec.Cmd {
	s.listenSeen = s.CountLog(s.listenLine())
	if s.netns == "" {
		return exec.Command(s.sshd, args...)
	}
	return exec.Command("ip", append([]string{"netns", "exec", s.netns, s.sshd}, args...)...)
}

func (s *Server) listenLine() string {
	return "Server listening on " + s.Host + " port " + strconv.Itoa(s.Port) + "."
}

// ready reports whether the sshd just started accepts connections: it
// presents our host key, or, inside a namespace the test cannot reach,
// it logged that it listens (no other process shares the namespace's
// ports).
func (s *Server) ready() bool {
	if SpeaksAs(s.Addr, s.HostPublicKey) {
		return true
	}
	return s.netns != "" && s.Host == "127.0.0.1" && s.CountLog(s.listenLine()) > s.listenSeen
}
