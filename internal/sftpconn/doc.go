// Package sftpconn is sftpwatchd's only SFTP speaker: the Go counterpart of
// pysftp's Connection.
//
// It owns
//   - dialling one SSH connection (Dial, HostConfig): TCP connect, host key
//     verification (known_hosts with hashed and [host]:port entries, a
//     pinned SHA256 fingerprint, or an explicit and logged opt-out),
//     authentication (private key files in OpenSSH or PEM format, the
//     ssh-agent, password, keyboard-interactive), cipher selection,
//     keepalives that close a connection whose server went silent, and
//     typed errors (DialError, HostKeyError, IsAuthError, IsHostKeyError,
//     IsConnectionError);
//   - a bounded pool of shared connections per host (Pool): a cap on
//     connections and on requests in flight, redial with backoff after a
//     connection breaks;
//   - the friendly file API on Client (listing, stat, get/put, mkdir,
//     rename, Walk ...), and FindWalk: the same listing from one GNU find
//     run over an SSH session (Client.Run streams a command's output);
//   - a small SFTP v3 client that lists directories (dirreader.go) and
//     downloads files (fileread.go), on a second sftp channel of each
//     connection: OPENDIR, two READDIRs at once, CLOSE not awaited, 2
//     round trips per small directory where pkg/sftp takes 4; downloads
//     with READs of the server's size (limits@openssh.com, 255 KiB on
//     OpenSSH; pkg/sftp reads 32 KiB) kept in flight, a short read asked
//     for again. Every other operation goes through pkg/sftp, which also
//     lists and downloads when the server refuses the second channel.
//
// The host key is always checked before any credential is sent: the
// handshake aborts on an unknown or changed key.
//
// It must not know about watches, events, state or actions: callers pass a
// HostConfig and work with paths.
package sftpconn
