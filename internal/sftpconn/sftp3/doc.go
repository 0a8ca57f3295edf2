// Package sftp3 is sftpwatchd's own SFTP version 3 client
// (draft-ietf-secsh-filexfer-02), for the two requests a watch makes by
// the thousand: listing a directory and downloading a file. It runs on a
// second "sftp" session channel of an SSH connection; sftpconn opens it
// next to pkg/sftp, which does every other operation.
//
// It owns
//   - the id multiplexer (conn.go): many goroutines' requests on one
//     channel, one writer grouping their packets, one reader handing each
//     reply to the request waiting for its id, handles of abandoned
//     requests closed;
//   - the codec (codec.go): NAME, STATUS and ATTRS payloads decoded with
//     every length checked, Entry and Attrs, the mode word's conversion;
//     a listing is decoded here;
//   - the operations: List (list.go; OPENDIR, two READDIRs at once, CLOSE not
//     awaited: 2 round trips per small directory where pkg/sftp takes 4)
//     and Download (READs of the server's size, limits@openssh.com, kept
//     in flight; a short read asked for again; limits.go, download.go);
//   - its errors: *StatusError for the server's refusal (errors.Is
//     fs.ErrNotExist, fs.ErrPermission), ErrProtocol for a reply that is
//     not SFTP v3, ErrUnavailable for a server that will not serve it,
//     ErrClosed after Close. sftpconn classifies them.
//
// It knows nothing of pkg/sftp, pools, watches or paths beyond the one a
// request names.
package sftp3
