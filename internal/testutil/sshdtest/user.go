package sshdtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// TestUser is the unprivileged account WithPassword logs in as when the
// tests run as root. TestPassword is its password: fixed and well known, so
// that test processes running in parallel (one per package) agree on it.
// The account has no other use; never create it on a machine you care about.
const (
	TestUser     = "sftpwatchd-test"
	TestPassword = "sftpwatchd-test-Pa55w0rd"
)

// account is a local user sshd lets in.
type account struct {
	name     string
	uid, gid int
}

func currentAccount() (account, error) {
	u, err := user.Current()
	if err != nil {
		return account{}, fmt.Errorf("current user: %w", err)
	}
	return lookedUp(u)
}

func lookedUp(u *user.User) (account, error) {
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return account{}, fmt.Errorf("uid %q of %s: %w", u.Uid, u.Username, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return account{}, fmt.Errorf("gid %q of %s: %w", u.Gid, u.Username, err)
	}
	return account{name: u.Username, uid: uid, gid: gid}, nil
}

// ensureTestUser creates TestUser if it does not exist and sets its
// password to TestPassword. It needs root. Concurrent test processes are
// serialised by an flock on a file in the temp directory, so that useradd
// and chpasswd never race on /etc/passwd and /etc/shadow.
func ensureTestUser() (account, error) {
	lockPath := filepath.Join(os.TempDir(), "sftpwatchd-sshdtest-user.lock")
	lf, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return account{}, fmt.Errorf("open lock %s: %w", lockPath, err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return account{}, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) //nolint:errcheck

	u, err := user.Lookup(TestUser)
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) {
		out, uerr := exec.Command("useradd", "--create-home", "--shell", "/bin/sh",
			"--comment", "sftpwatchd tests", TestUser).CombinedOutput()
		if uerr != nil {
			return account{}, fmt.Errorf("useradd %s: %w: %s", TestUser, uerr, strings.TrimSpace(string(out)))
		}
		u, err = user.Lookup(TestUser)
	}
	if err != nil {
		return account{}, fmt.Errorf("look up %s: %w", TestUser, err)
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(TestUser + ":" + TestPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return account{}, fmt.Errorf("chpasswd %s: %w: %s", TestUser, err, strings.TrimSpace(string(out)))
	}
	return lookedUp(u)
}

// EnsureTestUser creates TestUser with TestPassword if needed, as
// WithPassword does, for test servers other than sshd that log it in, and
// returns its uid and gid. It needs root.
func EnsureTestUser() (uid, gid int, err error) {
	acct, err := ensureTestUser()
	return acct.uid, acct.gid, err
}
