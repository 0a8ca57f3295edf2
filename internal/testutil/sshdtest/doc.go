// Package sshdtest starts a real OpenSSH sshd on 127.0.0.1 for interop tests.
//
// Start generates everything a test needs — host keys, a client key pair in
// authorized_keys, a known_hosts file, the host key fingerprint and a
// writable root directory — runs `sshd -D -e -f <config>` on a free port,
// waits until it speaks SSH and stops it (and every connection it serves)
// in t.Cleanup. When sshd is not installed the test is skipped with a loud
// message, unless the CI environment variable is set, in which case it fails.
//
// The package owns only the test server. It must not know about sftpwatchd's
// own packages: tests dial it with whatever client they are testing.
package sshdtest
