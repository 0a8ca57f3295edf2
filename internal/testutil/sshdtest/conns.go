package sshdtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// Connections counts the server's authenticated connections now: sshd's
// per-connection processes ("sshd: USER [priv]" for an unprivileged user,
// whose session runs in a second "sshd: USER@notty"; "sshd: root" alone
// for root). A client that
// closes its socket without a disconnect message leaves no log line; this
// shows that the connection is gone.
func (s *Server) Connections() int {
	s.mu.Lock()
	if s.cmd == nil {
		s.mu.Unlock()
		return 0
	}
	pid := s.cmd.Process.Pid
	s.mu.Unlock()
	n := 0
	for _, p := range descendants(pid) {
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "cmdline"))
		if err != nil {
			continue
		}
		title, _, _ := bytes.Cut(cmdline, []byte{0})
		if t := string(title); t == "sshd: "+s.User || t == "sshd: "+s.User+" [priv]" {
			n++
		}
	}
	return n
}
