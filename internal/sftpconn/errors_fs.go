package sftpconn

import (
	"errors"
	"fmt"
	"io/fs"
)

// Errors returned by the file API wrap the operation and the path
// (`stat "/x": file does not exist`) and keep the classification of the
// cause: pkg/sftp turns SSH_FX_NO_SUCH_FILE into fs.ErrNotExist and
// SSH_FX_PERMISSION_DENIED into fs.ErrPermission, so errors.Is works on
// every error the file API returns. Other status codes stay *sftp.StatusError
// (errors.As).

// ErrNoSSH is returned by Execute on a client built without an SSH
// connection (over a bare pipe).
var ErrNoSSH = errors.New("no SSH connection")

// ErrNotDir is returned when a directory was required and something else was
// found (Chdir, MakeDirs with a file in the way, GetDir on a file).
var ErrNotDir = errors.New("not a directory")

// ErrSizeMismatch is returned by Put with Confirm when the remote size after
// the upload differs from what was sent.
var ErrSizeMismatch = errors.New("size mismatch after upload")

// IsNotExist reports whether err says the remote path does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// IsPermission reports whether err is a permission refusal.
func IsPermission(err error) bool { return errors.Is(err, fs.ErrPermission) }

// opErr wraps err with the operation and path; nil stays nil.
func opErr(op, p string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %q: %w", op, p, err)
}

// opErr2 wraps err with the operation and both paths; nil stays nil.
func opErr2(op, from, to string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %q to %q: %w", op, from, to, err)
}
