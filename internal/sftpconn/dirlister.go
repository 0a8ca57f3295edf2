package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/pkg/sftp"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/sftp3"
)

// dirLister is the Client's own SFTP v3 client (package sftp3),
// opened on first use on the Client's SSH connection. When the server does
// not offer it (a second session channel or the sftp subsystem refused),
// the refusal is remembered and listings go through pkg/sftp, as they do
// on a Client without an SSH connection. A reader that broke is replaced
// by a new one on the next listing.
type dirLister struct {
	token chan struct{} // one token: held while a reader is opened
	cur   atomic.Pointer[sftp3.Conn]

	mu     sync.Mutex
	off    error // why the reader is not used on this connection; nil = use it
	closed bool
	// killed is the error of a reader channel open that the connection did
	// not survive (a server that ends the whole connection when a second
	// channel is opened: ProFTPD with SFTPMaxChannels 1). The Pool reads it
	// to list through pkg/sftp on that host from then on.
	killed error
}

// disable makes listings on this connection go through pkg/sftp, because
// of why (the Pool knows the host cannot serve the reader).
func (l *dirLister) disable(why error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.off == nil {
		l.off = why
	}
}

// killedConn is the error of a reader channel open that ended the
// connection, or nil.
func (l *dirLister) killedConn() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.killed
}

// errConnEnded is the connection error of a reader channel open that the
// connection did not survive.
var errConnEnded = errors.New("the connection ended")

func newDirLister() *dirLister {
	return &dirLister{token: make(chan struct{}, 1)}
}

// reader returns the open reader, opening one if needed, or nil when
// listings must go through pkg/sftp. An error means the listing cannot be
// made at all (ctx ended, the connection is gone).
func (c *Client) reader(ctx context.Context) (*sftp3.Conn, error) {
	l := c.lister
	if r := l.cur.Load(); r != nil && !r.Broken() {
		return r, nil
	}
	if c.ssh == nil {
		return nil, nil
	}
	select {
	case l.token <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-l.token }()
	if r := l.cur.Load(); r != nil && !r.Broken() {
		return r, nil // opened by the call that held the token
	}
	l.mu.Lock()
	off, closed := l.off, l.closed
	l.mu.Unlock()
	switch {
	case closed:
		return nil, sftp3.ErrClosed
	case off != nil:
		return nil, nil
	}

	rq := c.watch.start()
	r, err := sftp3.Open(ctx, c.ssh)
	err = rq.end(err)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, err
	case c.alive(ctx):
		// Refused, or the channel failed while the connection lives on:
		// this server will not serve it. Do not try again per listing.
		// (A refusal is checked too: ProFTPD with SFTPMaxChannels 1
		// refuses the channel and then ends the connection.)
		l.mu.Lock()
		l.off = err
		l.mu.Unlock()
		return nil, nil
	case !errors.Is(err, sftp3.ErrUnavailable):
		return nil, err // the connection was lost: the network, not the server's rule
	default:
		// The server refused the channel and ended the connection: a
		// server that allows one channel only (ProFTPD's SFTPMaxChannels
		// 1 answers "unknown channel type", then disconnects). The Pool
		// marks the host and runs the call again on a new connection.
		l.mu.Lock()
		if l.killed == nil {
			l.killed = err
		}
		l.mu.Unlock()
		// A connection error, whatever the open returned (ProFTPD's refusal
		// is an *ssh.OpenChannelError): the connection is gone.
		return nil, &ConnectionError{Err: fmt.Errorf("%w when the directory reader opened its channel (%w)", errConnEnded, err)}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		r.Close()
		return nil, sftp3.ErrClosed
	}
	if old := l.cur.Swap(r); old != nil {
		old.Close() // broken already; its goroutines end on their own
	}
	return r, nil
}

// alive reports whether the SSH connection still answers a global request
// (OpenSSH replies to keepalive@openssh.com with a failure: any answer will
// do). It gives up, saying false, when ctx ends.
func (c *Client) alive(ctx context.Context) bool {
	res := make(chan bool, 1)
	go func() {
		_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
		res <- err == nil
	}()
	select {
	case ok := <-res:
		return ok
	case <-ctx.Done():
		return false
	}
}

// close stops the reader; later listings fail. It returns a function that
// waits for the reader's goroutines, to call once the connection is closed.
func (l *dirLister) close() (wait func()) {
	l.mu.Lock()
	l.closed = true
	r := l.cur.Load()
	l.mu.Unlock()
	if r == nil {
		return func() {}
	}
	r.Close()
	return r.Wait
}

// readDir lists full completely or fails; the error is not wrapped. The
// entries are sorted by name, "." and ".." left out.
//
// With an SSH connection it uses the pipelined reader: 2 round trips for a
// directory of up to ~100 entries (pkg/sftp's ReadDirContext takes 4).
// Without one, or when the server refused the reader, pkg/sftp lists.
func (c *Client) readDir(ctx context.Context, full string) ([]os.FileInfo, error) {
	r, err := c.reader(ctx)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return c.readDirSFTP(ctx, full)
	}
	entries, err := c.list(ctx, r, full)
	if err != nil {
		return nil, err
	}
	infos := make([]os.FileInfo, len(entries))
	for i := range entries {
		infos[i] = &entries[i]
	}
	return infos, nil
}

// listDir is readDir for the walker: the entries as the pipelined reader
// decodes them, without an os.FileInfo (an interface, so a pointer the
// collector follows) per entry. pkg/sftp's listing is converted.
func (c *Client) listDir(ctx context.Context, full string) ([]sftp3.Entry, error) {
	r, err := c.reader(ctx)
	if err != nil {
		return nil, err
	}
	if r != nil {
		return c.list(ctx, r, full)
	}
	infos, err := c.readDirSFTP(ctx, full)
	if err != nil {
		return nil, err
	}
	entries := make([]sftp3.Entry, len(infos))
	for i, fi := range infos {
		entries[i] = dirEntryOf(fi)
	}
	return entries, nil
}

// list lists full on the pipelined reader under the request deadline,
// each reply counting as progress.
func (c *Client) list(ctx context.Context, r *sftp3.Conn, full string) ([]sftp3.Entry, error) {
	rq := c.watch.start()
	entries, err := r.List(ctx, full, rq.touch)
	return entries, rq.end(err)
}

// readDirSFTP lists full with pkg/sftp: 4 sequential round trips per
// directory of up to ~100 entries (OPENDIR, READDIR, READDIR answering
// EOF, CLOSE, whose reply ReadDirContext waits for). The request deadline
// times the listing as a whole: pkg/sftp shows no progress.
func (c *Client) readDirSFTP(ctx context.Context, full string) ([]os.FileInfo, error) {
	rq := c.watch.start()
	infos, err := c.sftp.ReadDirContext(ctx, full)
	err = rq.end(err)
	if err == nil {
		err = ctx.Err() // pkg/sftp returns the partial list with a nil error when ctx ends
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name() < infos[j].Name() })
	return infos, nil
}

// dirEntryOf is fi as an sftp3.Entry: pkg/sftp's FileInfo carries the SFTP
// attributes as a *sftp.FileStat, sftp3's as an *sftp3.Attrs; any other
// FileInfo is converted.
func dirEntryOf(fi os.FileInfo) sftp3.Entry {
	if a, ok := sftpAttrs(fi); ok {
		return sftp3.Entry{Filename: fi.Name(), Attrs: a}
	}
	mtime := uint32(fi.ModTime().Unix())
	return sftp3.Entry{Filename: fi.Name(), Attrs: sftp3.Attrs{Size: uint64(fi.Size()), Mode: sftp3.ModeBits(fi.Mode()), Mtime: mtime, Atime: mtime}}
}

// sftpAttrs are the SFTP attributes fi carries, from either client: false
// for a FileInfo of neither.
func sftpAttrs(fi os.FileInfo) (sftp3.Attrs, bool) {
	switch st := fi.Sys().(type) {
	case *sftp.FileStat:
		if st != nil {
			return sftp3.Attrs{Size: st.Size, Mode: st.Mode, Mtime: st.Mtime, Atime: st.Atime, UID: st.UID, GID: st.GID}, true
		}
	case *sftp3.Attrs:
		if st != nil {
			return *st, true
		}
	}
	return sftp3.Attrs{}, false
}
