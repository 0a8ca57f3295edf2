package sshdtest

import (
	"os"
	"path/filepath"
	"strings"
)

// OpenFDsUnder counts the file descriptors, in every process on the
// machine, that refer to dir or anything under it: how a test sees what a
// server process holds open. It needs /proc.
func OpenFDsUnder(dir string) (int, error) {
	fds, err := filepath.Glob("/proc/[0-9]*/fd/*")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && (target == dir || strings.HasPrefix(target, dir+"/")) {
			n++
		}
	}
	return n, nil
}
