package sshdtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// StopSFTP stops (SIGSTOP) every process serving an SFTP session of the
// server now: sshd's internal-sftp children ("sshd: user@internal-sftp"),
// one per session. It is a server whose sftp-server hangs (blocked on a
// dead NFS mount, say) while its SSH transport lives on: the connections
// stay up and answer keepalives, requests on those sessions are never
// answered, and sessions opened later are served by new processes. It
// returns how many processes it stopped and a function that resumes them
// (SIGCONT), which may be called more than once and is also called when
// the test ends.
func (s *Server) StopSFTP() (stopped int, resume func()) {
	return s.StopProcesses("@internal-sftp")
}

// StopProcesses stops (SIGSTOP) every process of the server whose command
// line (/proc/PID/cmdline: the arguments, each ending in a NUL) contains
// match, like StopSFTP.
func (s *Server) StopProcesses(match string) (stopped int, resume func()) {
	s.mu.Lock()
	pid := s.cmd.Process.Pid
	s.mu.Unlock()
	var pids []int
	for _, p := range descendants(pid) {
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(match)) {
			continue
		}
		if syscall.Kill(p, syscall.SIGSTOP) == nil {
			pids = append(pids, p)
		}
	}
	var once sync.Once
	resume = func() {
		once.Do(func() {
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGCONT) //nolint:errcheck // it may have exited since
			}
		})
	}
	s.t.Cleanup(resume)
	return len(pids), resume
}
