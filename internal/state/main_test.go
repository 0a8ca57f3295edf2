package state

import (
	"fmt"
	"io"
	"os"
	"testing"
)

// Helper-process mode: the test binary re-executed with these variables set
// opens the state dir, signals readiness by creating the ready file, and
// holds the lock until its stdin is closed.
const (
	envHelper = "SFTPWATCHD_STATE_TEST_HELPER"
	envDir    = "SFTPWATCHD_STATE_TEST_DIR"
	envReady  = "SFTPWATCHD_STATE_TEST_READY"
)

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) == "hold-lock" {
		os.Exit(holdLock(os.Getenv(envDir), os.Getenv(envReady)))
	}
	os.Exit(m.Run())
}

func holdLock(dir, ready string) int {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 3
	}
	defer s.Close()
	if err := os.WriteFile(ready, []byte("ok"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 3
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}
