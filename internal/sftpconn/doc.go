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
//     rename, Walk ...); Client.Run and RunTimed stream a command's
//     output (the find lister, package findlist, runs find this way);
//   - the choice of client per request: our own SFTP v3 client (package
//     sftp3, on a second sftp channel of each connection) lists and
//     downloads, pkg/sftp does every other operation and also lists and
//     downloads when the server refuses the second channel;
//   - one error classifier for both clients (IsConnectionError, IsNotExist,
//     IsPermission): errors.As on pkg/sftp's and sftp3's status errors;
//   - an Observer the Pool reports its connections and dials to (metrics
//     satisfy it; sftpconn imports no metrics).
//
// The host key is always checked before any credential is sent: the
// handshake aborts on an unknown or changed key.
//
// It must not know about watches, events, state or actions: callers pass a
// HostConfig and work with paths.
package sftpconn
