package sftpconn

import (
	"context"
	"path"
)

// Chdir makes p (itself relative to the current working directory when not
// absolute) the working directory that every relative path argument of this
// Client is resolved against. It is resolved on the server (symbolic links
// followed) and must be a directory. Unlike pysftp, the working directory
// belongs to this Client only: other pooled clients are not affected.
func (c *Client) Chdir(ctx context.Context, p string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	full := c.abs(p)
	real, err := timed(c, c.sftp.RealPath, full)
	if err != nil {
		return opErr("chdir", full, err)
	}
	fi, err := timed(c, c.sftp.Stat, real)
	if err != nil {
		return opErr("chdir", full, err)
	}
	if !fi.IsDir() {
		return opErr("chdir", full, ErrNotDir)
	}
	c.cwdMu.Lock()
	c.cwd = real
	c.cwdMu.Unlock()
	return nil
}

// Getwd returns the working directory set by Chdir, or "" when none was set
// (relative paths then go to the server as they are, and the server resolves
// them against its starting directory, usually the login's home; use
// Normalize(ctx, ".") to learn it).
func (c *Client) Getwd() string {
	c.cwdMu.Lock()
	defer c.cwdMu.Unlock()
	return c.cwd
}

// abs resolves p against the working directory. An empty p means the working
// directory itself.
func (c *Client) abs(p string) string {
	if path.IsAbs(p) {
		return p
	}
	cwd := c.Getwd()
	switch {
	case cwd == "" && p == "":
		return "."
	case cwd == "":
		return p
	default:
		return path.Join(cwd, p)
	}
}
