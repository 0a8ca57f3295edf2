// Package sftpserver is an embedded, in-process SFTP server: x/crypto/ssh for
// the transport and pkg/sftp's request server for the protocol, serving one
// local directory jailed with os.Root so that no request can read or write
// outside it (symbolic links that point outside the root are not followed).
//
// It ships in the binary for `sftpwatchd demo` and is the fault-injection
// server of the tests: FailPath, DropAfter and SetLatency change its
// behaviour while it runs, and Requests counts the SFTP packets it received.
//
// It owns the server side of SSH and SFTP only. It must not know about
// watches, snapshots, events or the client side (internal/sftpconn).
package sftpserver
